//! `conti-cli`: the command-line client of contid.

mod client;
mod commands;
mod docker_config;
#[cfg(test)]
mod fake_contid;
mod output;
mod reference;
mod sig_proxy;
mod template;
mod terminal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::client::Client;
use crate::commands::container::ContainerCommand;
use crate::commands::image::ImageCommand;
use crate::commands::network::NetworkCommand;
use crate::commands::system::SystemCommand;
use crate::commands::volume::VolumeCommand;
use crate::commands::{
    CliError, attach, container, create, events, exec, image, info, inspect, kill, login, logout,
    logs, network, ps, rename, report, restart, rm, run, start, stats, stop, system, top, update,
    version, volume, wait,
};
use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "conti-cli",
    version,
    about = "Command-line client of the Conti container engine"
)]
struct Cli {
    /// Unix socket contid listens on.
    #[arg(
        long,
        global = true,
        env = "CONTI_SOCKET",
        default_value = "/var/run/conti.sock",
        value_name = "PATH"
    )]
    socket: PathBuf,
    /// Print JSON for scripts instead of text for people (ps, inspect, logs, exec, create, run -d,
    /// pull (one event per line), image ls, history, import, load and prune, version, info,
    /// events).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and start a container, show its output and exit with its exit code.
    Run(run::RunArgs),
    /// Create a container without starting it; prints its id.
    Create(create::CreateArgs),
    /// Start created or exited containers.
    Start(start::StartArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// Show containers in detail, as JSON.
    Inspect(inspect::InspectArgs),
    /// Show a container's output.
    Logs(logs::LogsArgs),
    /// Connect the terminal to a running container's stdio (detach with Ctrl-P Ctrl-Q).
    Attach(attach::AttachArgs),
    /// Show what happens to containers as it happens.
    Events(events::EventsArgs),
    /// Run a command in a running container.
    Exec(exec::ExecArgs),
    /// Stop running containers (SIGTERM, then SIGKILL).
    Stop(stop::StopArgs),
    /// Stop containers if they run, then start them again.
    Restart(stop::StopArgs),
    /// Send a signal to running containers.
    Kill(kill::KillArgs),
    /// Remove containers.
    Rm(rm::RmArgs),
    /// Give a container a new name.
    Rename(rename::RenameArgs),
    /// Wait until containers exit; prints their exit codes.
    Wait(wait::WaitArgs),
    /// Change the resource limits (running containers at once) or the restart policy of
    /// containers.
    Update(update::UpdateArgs),
    /// Show a live table of what running containers use.
    Stats(stats::StatsArgs),
    /// Show the processes of a running container.
    Top(top::TopArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Download an image from a registry (image pull).
    Pull(image::pull::PullArgs),
    /// List the images (image ls).
    Images(image::ls::LsArgs),
    /// Give an image another name (image tag).
    Tag(image::tag::TagArgs),
    /// Remove image names (image rm).
    Rmi(image::rm::RmArgs),
    /// Give contid credentials for a registry, for its pulls.
    Login(login::LoginArgs),
    /// Make contid forget its credentials for a registry.
    Logout(logout::LogoutArgs),
    /// Manage bridge networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage named volumes.
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Show the client's and the daemon's versions.
    Version,
    /// Show what the daemon runs with.
    Info,
    /// Manage containers as a whole.
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Disk usage and prunes of the whole daemon.
    #[command(subcommand)]
    System(SystemCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let result = runtime.block_on(dispatch(cli));
            // Do not wait for a read of stdin that nobody needs any more (`image import -`
            // refused early).
            runtime.shutdown_background();
            result
        }
        Err(error) => {
            eprintln!("conti-cli: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::from(error.exit_code())
        }
    }
}

async fn dispatch(cli: Cli) -> Result<u8, CliError> {
    let client = Client::new(cli.socket);
    let format = if cli.json {
        Format::Json
    } else {
        Format::Human
    };
    match cli.command {
        Command::Run(args) => run::run(&client, format, args).await,
        Command::Create(args) => create::create(&client, format, args).await,
        Command::Start(args) => start::start(&client, args).await,
        Command::Ps(args) => ps::ps(&client, format, args).await,
        Command::Inspect(args) => inspect::inspect(&client, args).await,
        Command::Logs(args) => logs::logs(&client, format, args).await,
        Command::Events(args) => events::events(&client, format, args).await,
        Command::Attach(args) => attach::attach(&client, args).await,
        Command::Exec(args) => exec::exec(&client, format, args).await,
        Command::Stop(args) => stop::stop(&client, args).await,
        Command::Restart(args) => restart::restart(&client, args).await,
        Command::Kill(args) => kill::kill(&client, args).await,
        Command::Rename(args) => rename::rename(&client, args).await,
        Command::Rm(args) => rm::rm(&client, args).await,
        Command::Wait(args) => wait::wait(&client, args).await,
        Command::Update(args) => update::update(&client, args).await,
        Command::Stats(args) => stats::stats(&client, format, args).await,
        Command::Top(args) => top::top(&client, format, args).await,
        Command::Image(command) => image::dispatch(&client, format, command).await,
        Command::Pull(args) => image::pull::pull(&client, format, args).await,
        Command::Images(args) => image::ls::ls(&client, format, args).await,
        Command::Tag(args) => image::tag::tag(&client, args).await,
        Command::Rmi(args) => image::rm::rm(&client, args).await,
        Command::Login(args) => login::login(&client, args).await,
        Command::Logout(args) => logout::logout(&client, args).await,
        Command::Network(NetworkCommand::Create(args)) => {
            network::create::create(&client, format, args).await
        }
        Command::Network(NetworkCommand::Ls) => network::ls::ls(&client, format).await,
        Command::Network(NetworkCommand::Inspect(args)) => {
            network::inspect::inspect(&client, args).await
        }
        Command::Network(NetworkCommand::Rm(args)) => network::rm::rm(&client, args).await,
        Command::Volume(command) => volume::dispatch(&client, format, command).await,
        Command::Version => version::version(&client, format).await,
        Command::Info => info::info(&client, format).await,
        Command::Container(ContainerCommand::Prune(args)) => {
            container::prune::prune(&client, format, args).await
        }
        Command::Network(NetworkCommand::Prune(args)) => {
            network::prune::prune(&client, format, args).await
        }
        Command::System(SystemCommand::Df(args)) => system::df::df(&client, format, args).await,
        Command::System(SystemCommand::Prune(args)) => {
            system::prune::prune(&client, format, args).await
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use conti_proto::NetworkMode;

    use super::*;
    use crate::commands::create::PullPolicy;

    fn parse(args: &str) -> Cli {
        let words = shell_words(args);
        Cli::try_parse_from(std::iter::once("conti-cli").chain(words.iter().map(String::as_str)))
            .unwrap_or_else(|e| panic!("{args}: {e}"))
    }

    /// Splits on spaces, except inside double quotes: enough for these tests.
    fn shell_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => {
                    words.extend((!word.is_empty()).then(|| std::mem::take(&mut word)))
                }
                c => word.push(c),
            }
        }
        words.extend((!word.is_empty()).then_some(word));
        words
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_builds_the_spec() {
        let Command::Run(args) = parse(r#"run --rm -e A=B busybox sh -c "echo hi""#).command else {
            panic!("not run");
        };
        assert!(!args.detach);
        let spec = args.container.to_spec();
        assert_eq!(spec.image, "busybox");
        assert_eq!(spec.cmd, strings(&["sh", "-c", "echo hi"]));
        assert_eq!(spec.env, strings(&["A=B"]));
        assert!(spec.auto_remove);
        assert_eq!(spec.network, NetworkMode::Bridge);
        assert!(spec.ports.is_empty());
        assert_eq!((spec.name, spec.hostname, spec.cwd), (None, None, None));
    }

    #[test]
    fn run_takes_every_option() {
        let line = "run -d --name web --hostname box --network host -e A=1 --env B=2 -w /srv \
                    busybox sleep 100";
        let Command::Run(args) = parse(line).command else {
            panic!("not run");
        };
        assert!(args.detach);
        let spec = args.container.to_spec();
        assert_eq!(spec.name.as_deref(), Some("web"));
        assert_eq!(spec.hostname.as_deref(), Some("box"));
        assert_eq!(spec.network, NetworkMode::Host);
        assert_eq!(spec.env, strings(&["A=1", "B=2"]));
        assert_eq!(spec.cwd.as_deref(), Some("/srv"));
        assert!(!spec.auto_remove);
        assert_eq!(spec.cmd, strings(&["sleep", "100"]));
    }

    #[test]
    fn run_takes_a_restart_policy_and_health_flags() {
        let line = "run -d --restart on-failure:3 --health-cmd \"test -f /ready\" \
                    --health-interval 1m30s --health-timeout 500ms --health-retries 2 \
                    --health-start-period 5s busybox sleep 100";
        let Command::Run(args) = parse(line).command else {
            panic!("not run");
        };
        let spec = args.container.to_spec();
        assert_eq!(spec.restart_policy.to_string(), "on-failure:3");
        let check = spec.healthcheck.expect("a health check");
        assert_eq!(check.test, strings(&["CMD-SHELL", "test -f /ready"]));
        let shown = |d: Option<conti_proto::HealthDuration>| d.unwrap().to_string();
        assert_eq!(
            [check.interval, check.timeout, check.start_period].map(shown),
            ["1m30s", "500ms", "5s"]
        );
        assert_eq!(check.retries, Some(2));

        let Command::Create(args) = parse("create --no-healthcheck busybox").command else {
            panic!("not create");
        };
        let spec = args.container.to_spec();
        assert_eq!(spec.healthcheck.unwrap().test, strings(&["NONE"]));
        assert!(spec.restart_policy.is_no());
        let Command::Create(args) = parse("create busybox").command else {
            panic!("not create");
        };
        assert_eq!(args.container.to_spec().healthcheck, None, "the image's");
        for bad in [
            "run --restart sometimes busybox",
            "run --restart on-failure:0 busybox",
            "run --health-interval 30 busybox",
            "run --no-healthcheck --health-cmd true busybox",
        ] {
            assert!(
                Cli::try_parse_from(
                    std::iter::once("conti-cli".to_string()).chain(shell_words(bad))
                )
                .is_err(),
                "{bad}"
            );
        }
        let Command::Restart(args) = parse("restart -t 0 a b").command else {
            panic!("not restart");
        };
        assert_eq!((args.timeout, args.containers.len()), (Some(0), 2));
        let Command::Update(args) = parse("update --restart unless-stopped a").command else {
            panic!("not update");
        };
        assert_eq!(args.restart.unwrap().to_string(), "unless-stopped");
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let cli = parse("run busybox -d --rm --json");
        assert!(!cli.json);
        let Command::Run(args) = cli.command else {
            panic!("not run");
        };
        assert!(!args.detach);
        let spec = args.container.to_spec();
        assert!(!spec.auto_remove);
        assert_eq!(spec.cmd, strings(&["-d", "--rm", "--json"]));

        let Command::Exec(args) = parse("exec web -e X=1").command else {
            panic!("not exec");
        };
        assert_eq!(args.container(), "web");
        assert!(args.env.is_empty());
        assert_eq!(args.to_spec().cmd, strings(&["-e", "X=1"]));
    }

    #[test]
    fn an_unknown_flag_before_the_image_is_an_error_not_an_image() {
        assert!(Cli::try_parse_from(["conti-cli", "run", "--rmm", "busybox", "sh"]).is_err());
    }

    #[test]
    fn run_and_create_take_the_image_command_when_none_is_given() {
        for line in ["run busybox", "create busybox"] {
            let container = match parse(line).command {
                Command::Run(args) => args.container,
                Command::Create(args) => args.container,
                _ => panic!("{line}"),
            };
            let spec = container.to_spec();
            assert_eq!(spec.image, "busybox");
            assert!(spec.cmd.is_empty(), "{line}");
            assert_eq!(spec.entrypoint, None);
            assert_eq!(container.pull, PullPolicy::Missing);
        }
        let Command::Run(args) = parse("run busybox echo hi").command else {
            panic!("not run");
        };
        assert_eq!(args.container.to_spec().cmd, strings(&["echo", "hi"]));
        assert!(Cli::try_parse_from(["conti-cli", "run"]).is_err());
        assert!(Cli::try_parse_from(["conti-cli", "create"]).is_err());
        assert!(
            Cli::try_parse_from(["conti-cli", "run", "--network", "container:", "b", "sh"])
                .is_err()
        );
    }

    #[test]
    fn run_takes_a_pull_policy_and_an_entrypoint() {
        let words = [
            "conti-cli",
            "run",
            "--pull",
            "never",
            "--entrypoint",
            "",
            "busybox",
        ];
        let Command::Run(args) = Cli::try_parse_from(words).unwrap().command else {
            panic!("not run");
        };
        assert_eq!(args.container.pull, PullPolicy::Never);
        assert_eq!(args.container.to_spec().entrypoint, Some(vec![]));
        let Command::Create(args) =
            parse("create --pull=always --entrypoint /bin/sh busybox -c true").command
        else {
            panic!("not create");
        };
        assert_eq!(args.container.pull, PullPolicy::Always);
        let spec = args.container.to_spec();
        assert_eq!(spec.entrypoint, Some(strings(&["/bin/sh"])));
        assert_eq!(spec.cmd, strings(&["-c", "true"]));
        // After the image, --pull is the command's.
        let Command::Run(args) = parse("run busybox --pull never").command else {
            panic!("not run");
        };
        assert_eq!(args.container.pull, PullPolicy::Missing);
        assert_eq!(args.container.to_spec().cmd, strings(&["--pull", "never"]));
        assert!(Cli::try_parse_from(["conti-cli", "run", "--pull", "sometimes", "b"]).is_err());
    }

    #[test]
    fn networks_and_published_ports_parse() {
        let line = "run --network container:web -p 8080:80 -p 0.0.0.0:53:5353/udp busybox true";
        let Command::Run(args) = parse(line).command else {
            panic!("not run");
        };
        let spec = args.container.to_spec();
        assert_eq!(spec.network, NetworkMode::Container("web".into()));
        let ports: Vec<_> = spec
            .ports
            .iter()
            .map(|p| {
                (
                    p.host_ip.as_str(),
                    p.host_port,
                    p.container_port,
                    p.protocol,
                )
            })
            .collect();
        assert_eq!(
            ports,
            [
                ("127.0.0.1", 8080, 80, conti_proto::PortProtocol::Tcp),
                ("0.0.0.0", 53, 5353, conti_proto::PortProtocol::Udp)
            ]
        );
        for bad in ["80", "0:80", "8080:70000", "8080:80/sctp", "a:b:c:d"] {
            assert!(
                Cli::try_parse_from(["conti-cli", "run", "-p", bad, "b", "sh"]).is_err(),
                "{bad}"
            );
        }
        let line = "run --network front busybox true";
        let Command::Run(args) = parse(line).command else {
            panic!("not run");
        };
        assert_eq!(
            args.container.to_spec().network,
            NetworkMode::Network("front".into())
        );
    }

    #[test]
    fn create_takes_the_flags_of_run_but_detach() {
        let Command::Create(args) = parse("create --rm --name job busybox true").command else {
            panic!("not create");
        };
        let spec = args.container.to_spec();
        assert_eq!(
            (spec.name.as_deref(), spec.auto_remove),
            (Some("job"), true)
        );
        assert!(Cli::try_parse_from(["conti-cli", "create", "-d", "busybox", "true"]).is_err());
    }

    #[test]
    fn exec_builds_the_spec() {
        let Command::Exec(args) = parse(r#"exec -e X=1 -w /tmp web sh -c "exit 3""#).command else {
            panic!("not exec");
        };
        assert_eq!(args.container(), "web");
        let spec = args.to_spec();
        assert_eq!(spec.cmd, strings(&["sh", "-c", "exit 3"]));
        assert_eq!(spec.env, strings(&["X=1"]));
        assert_eq!(spec.cwd.as_deref(), Some("/tmp"));
    }

    #[test]
    fn global_flags_go_anywhere_before_the_command() {
        let cli = parse("ps -aq --json --socket /tmp/c.sock");
        assert!(cli.json);
        assert_eq!(cli.socket, PathBuf::from("/tmp/c.sock"));
        let Command::Ps(args) = cli.command else {
            panic!("not ps");
        };
        assert!(args.all && args.quiet);
    }

    #[test]
    fn labels_filters_and_volumes_parse() {
        let Command::Ps(args) = parse("ps -a -f label=tier=web --filter name=db").command else {
            panic!("not ps");
        };
        assert!(args.all);
        assert_eq!(
            args.filters,
            [
                ("label".to_string(), "tier=web".to_string()),
                ("name".to_string(), "db".to_string())
            ]
        );
        assert!(Cli::try_parse_from(["conti-cli", "ps", "--filter", "colour=red"]).is_err());
        let Command::Network(NetworkCommand::Create(args)) =
            parse("network create --label team=a --label x front").command
        else {
            panic!("not network create");
        };
        assert_eq!((args.labels.len(), args.name.as_str()), (2, "front"));
        let Command::Volume(VolumeCommand::Create(args)) =
            parse("volume create -l a=1 --label b data").command
        else {
            panic!("not volume create");
        };
        assert_eq!((args.labels.len(), args.name.as_deref()), (2, Some("data")));
        let Command::Volume(VolumeCommand::Create(args)) = parse("volume create").command else {
            panic!("not volume create");
        };
        assert!(args.name.is_none());
        let Command::Volume(VolumeCommand::Ls(args)) = parse("volume ls -q").command else {
            panic!("not volume ls");
        };
        assert!(args.quiet);
        let Command::Volume(VolumeCommand::Prune(args)) = parse("volume prune -f").command else {
            panic!("not volume prune");
        };
        assert!(args.force);
        let Command::Volume(VolumeCommand::Rm(args)) = parse("volume rm a b").command else {
            panic!("not volume rm");
        };
        assert_eq!(args.names, strings(&["a", "b"]));
        assert!(matches!(
            parse("volume inspect a").command,
            Command::Volume(VolumeCommand::Inspect(_))
        ));
    }

    #[test]
    fn container_commands_take_several_containers() {
        let Command::Stop(args) = parse("stop -t 3 a b").command else {
            panic!("not stop");
        };
        assert_eq!(
            (args.timeout, args.containers),
            (Some(3), strings(&["a", "b"]))
        );
        let Command::Kill(args) = parse("kill -s term a").command else {
            panic!("not kill");
        };
        assert_eq!(args.signal.as_deref(), Some("SIGTERM"));
        let Command::Rm(args) = parse("rm -f a b c").command else {
            panic!("not rm");
        };
        assert!(args.force);
        assert_eq!(args.containers.len(), 3);
        assert!(Cli::try_parse_from(["conti-cli", "wait"]).is_err());
    }

    #[test]
    fn the_signal_proxy_is_on_unless_turned_off() {
        let run = |line| match parse(line).command {
            Command::Run(args) => args,
            _ => panic!("not run"),
        };
        assert!(run("run busybox true").sig_proxy.enabled);
        assert!(!run("run --sig-proxy=false busybox true").sig_proxy.enabled);
        let args = run("run --sig-proxy busybox true");
        assert!(args.sig_proxy.enabled);
        assert_eq!(args.container.to_spec().image, "busybox");
        let Command::Attach(args) = parse("attach --sig-proxy=false web").command else {
            panic!("not attach");
        };
        assert!(!args.sig_proxy.enabled);
    }

    #[test]
    fn start_attaches_with_a() {
        let Command::Start(args) = parse("start -ai job").command else {
            panic!("not start");
        };
        assert!(args.attach && args.interactive);
        assert!(Cli::try_parse_from(["conti-cli", "start", "-i", "job"]).is_err());
    }

    #[test]
    fn logs_and_images() {
        let Command::Logs(args) = parse("logs -f --tail 10 web").command else {
            panic!("not logs");
        };
        assert!(args.follow);
        assert_eq!((args.tail, args.container.as_str()), (Some(10), "web"));
        let Command::Logs(args) = parse("logs -t --since 10m --until 1777636800 web").command
        else {
            panic!("not logs");
        };
        assert!(args.timestamps && !args.follow);
        assert_eq!(
            (args.since.as_deref(), args.until.as_deref()),
            (Some("10m"), Some("1777636800"))
        );
        let Command::Events(args) = parse("--json events --since 2026-05-01T12:00:00Z").command
        else {
            panic!("not events");
        };
        assert_eq!(
            (args.since.as_deref(), args.until),
            (Some("2026-05-01T12:00:00Z"), None)
        );
        let Command::Image(ImageCommand::Import(args)) = parse("image import - alpine").command
        else {
            panic!("not image import");
        };
        assert_eq!((args.file.as_str(), args.name.as_str()), ("-", "alpine"));
        assert!(args.changes.is_empty());
        assert!(matches!(
            parse("image ls").command,
            Command::Image(ImageCommand::Ls(_))
        ));
    }

    #[test]
    fn pull_and_its_aliases() {
        let Command::Pull(args) = parse("pull --platform linux/arm64 -q alpine:3.20").command
        else {
            panic!("not pull");
        };
        assert_eq!(args.platform.as_deref(), Some("linux/arm64"));
        assert!(args.quiet);
        assert_eq!(args.reference, "alpine:3.20");
        let Command::Image(ImageCommand::Pull(args)) =
            parse("image pull 127.0.0.1:5000/team/app:1").command
        else {
            panic!("not image pull");
        };
        assert_eq!(args.reference, "127.0.0.1:5000/team/app:1");
        assert!(args.platform.is_none() && !args.quiet);
        assert!(Cli::try_parse_from(["conti-cli", "pull"]).is_err());
        assert!(Cli::try_parse_from(["conti-cli", "pull", "--platform", "linux", "a"]).is_err());

        let Command::Images(args) = parse("images -q busybox").command else {
            panic!("not images");
        };
        assert!(args.quiet);
        assert_eq!(args.repository.as_deref(), Some("busybox"));
        let Command::Tag(args) = parse("tag busybox team/box:1").command else {
            panic!("not tag");
        };
        assert_eq!(
            (args.source.as_str(), args.target.as_str()),
            ("busybox", "team/box:1")
        );
        let Command::Rmi(args) = parse("rmi a sha256:0123").command else {
            panic!("not rmi");
        };
        assert_eq!(args.names, strings(&["a", "sha256:0123"]));
        assert!(Cli::try_parse_from(["conti-cli", "rmi"]).is_err());
    }

    #[test]
    fn image_subcommands_take_dockers_flags() {
        let words = [
            "conti-cli",
            "image",
            "import",
            "-c",
            r#"CMD ["/bin/sh"]"#,
            "--change",
            "ENV A=b",
            "rootfs.tar",
            "app:1",
        ];
        let Command::Image(ImageCommand::Import(args)) =
            Cli::try_parse_from(words).unwrap().command
        else {
            panic!("not image import");
        };
        assert_eq!(args.changes, strings(&[r#"CMD ["/bin/sh"]"#, "ENV A=b"]));
        assert_eq!(
            (args.file.as_str(), args.name.as_str()),
            ("rootfs.tar", "app:1")
        );

        let Command::Image(ImageCommand::Load(args)) = parse("image load -i box.tar").command
        else {
            panic!("not image load");
        };
        assert_eq!(args.input, Some(PathBuf::from("box.tar")));
        let Command::Image(ImageCommand::Load(args)) = parse("image load").command else {
            panic!("not image load");
        };
        assert!(args.input.is_none());

        let Command::Image(ImageCommand::Save(args)) = parse("image save -o b.tar busybox").command
        else {
            panic!("not image save");
        };
        assert_eq!(
            (args.output, args.image.as_str()),
            (Some(PathBuf::from("b.tar")), "busybox")
        );

        let Command::Image(ImageCommand::Prune(args)) = parse("image prune -af").command else {
            panic!("not image prune");
        };
        assert!(args.all && args.force);
        let Command::Image(ImageCommand::History(args)) =
            parse("image history --no-trunc busybox").command
        else {
            panic!("not image history");
        };
        assert!(args.no_trunc);
        let Command::Image(ImageCommand::Inspect(args)) = parse("image inspect a b").command else {
            panic!("not image inspect");
        };
        assert_eq!(args.images, strings(&["a", "b"]));
        assert!(matches!(
            parse("image rm busybox").command,
            Command::Image(ImageCommand::Rm(_))
        ));
        assert!(matches!(
            parse("image tag a b").command,
            Command::Image(ImageCommand::Tag(_))
        ));
    }

    #[test]
    fn login_and_logout() {
        let Command::Login(args) = parse("login -u me --password-stdin 127.0.0.1:5000").command
        else {
            panic!("not login");
        };
        assert_eq!(args.username.as_deref(), Some("me"));
        assert!(args.password_stdin && args.password.is_none());
        assert_eq!(args.registry.as_deref(), Some("127.0.0.1:5000"));
        let Command::Login(args) = parse("login -u me -p secret").command else {
            panic!("not login");
        };
        assert_eq!(args.password.as_deref(), Some("secret"));
        assert!(args.registry.is_none());
        // --password-stdin needs a user name, and excludes -p.
        assert!(Cli::try_parse_from(["conti-cli", "login", "--password-stdin"]).is_err());
        assert!(
            Cli::try_parse_from([
                "conti-cli",
                "login",
                "-u",
                "a",
                "-p",
                "b",
                "--password-stdin"
            ])
            .is_err()
        );
        let Command::Logout(args) = parse("logout").command else {
            panic!("not logout");
        };
        assert!(args.registry.is_none());
    }
}

//! `GET /metrics`, read by a real Prometheus text parser (the Python `prometheus_client`'s),
//! and its values moving with what the daemon does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use conti_proto::{HealthDuration, HealthcheckSpec, Resources, RestartPolicy};
use conti_tests::kernel_features;
use conti_tests::{ContainerSpec, Daemon, NetworkMode};

const MIB: i64 = 1024 * 1024;

/// Prints every sample as `name{label="value",...} value`, labels sorted, one per line.
const PARSER: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{s.name}{{{labels}}} {s.value}")
"#;

/// The interpreter with `prometheus_client`: `$CONTI_PYTHON` (`.ci/run`'s venv), else `python3`
/// when it has it.
fn python() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CONTI_PYTHON") {
        return Some(PathBuf::from(path));
    }
    let has = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has {
        return Some(PathBuf::from("python3"));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "prometheus_client is missing (.ci/run installs it)"
    );
    eprintln!(
        "SKIPPED: the Python prometheus_client is not installed (pip install prometheus_client)"
    );
    None
}

/// Samples by `name{labels}`, as the parser read them.
fn scrape(d: &Daemon, python: &PathBuf) -> BTreeMap<String, f64> {
    let response = d.get("/metrics");
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        response.header("content-type")
    );
    let mut child = Command::new(python)
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&response.body)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the text: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        response.text()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let (key, value) = line.rsplit_once(' ').expect("name and value");
            (key.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

fn sleeper(name: &str) -> ContainerSpec {
    ContainerSpec {
        name: Some(name.to_string()),
        image: "busybox".into(),
        cmd: vec!["sleep".into(), "300".into()],
        network: NetworkMode::None,
        ..Default::default()
    }
}

#[test]
fn the_metrics_parse_and_move_with_what_the_daemon_does() {
    let d = Daemon::start_with_busybox();
    let Some(python) = python() else {
        return;
    };
    let before = scrape(&d, &python);
    assert_eq!(value(&before, r#"conti_containers{state="running"}"#), 0.0);
    assert_eq!(value(&before, "conti_images{}"), 1.0);

    let id = d.run_detached(&sleeper("watched"));
    d.exec(&id, &["true"]);
    let after = scrape(&d, &python);
    assert_eq!(value(&after, r#"conti_containers{state="running"}"#), 1.0);
    for verb in ["create", "start"] {
        let count =
            format!(r#"conti_operation_duration_seconds_count{{result="ok",verb="{verb}"}}"#);
        assert_eq!(value(&after, &count), 1.0, "{verb}: {after:#?}");
        let fast = format!(
            r#"conti_operation_duration_seconds_bucket{{le="10",result="ok",verb="{verb}"}}"#
        );
        assert_eq!(value(&after, &fast), 1.0, "{verb} took under 10 s");
    }
    assert_eq!(value(&after, "conti_execs_total{}"), 1.0);
    assert_eq!(value(&after, r#"conti_events_total{type="start"}"#), 1.0);
    let created = r#"conti_api_requests_total{method="POST",route="/v1/containers",status="201"}"#;
    assert_eq!(value(&after, created), 1.0, "{after:#?}");
    let labels = format!(r#"id="{id}",name="watched""#);
    assert!(value(&after, &format!("conti_container_pids{{{labels}}}")) >= 1.0);
    assert!(value(&after, &format!("conti_container_memory_bytes{{{labels}}}")) > 0.0);
    assert!(after.contains_key(&format!("conti_container_cpu_seconds_total{{{labels}}}")));

    // A failed operation counts as an error; an OOM kill counts too.
    let missing = d.post("/v1/containers/no-such-container/start", b"");
    assert_eq!(missing.status, 404);
    let hog = ContainerSpec {
        cmd: vec![
            "sh".into(),
            "-c".into(),
            "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived".into(),
        ],
        resources: Resources {
            memory: Some(32 * MIB),
            memory_swap: kernel_features::host_swaps().then_some(32 * MIB),
            ..Default::default()
        },
        ..sleeper("hog")
    };
    let (_, code, _) = d.run(&hog);
    assert_eq!(code, 137);
    d.stop(&id, 1);
    let last = scrape(&d, &python);
    assert_eq!(
        value(
            &last,
            r#"conti_operation_duration_seconds_count{result="error",verb="start"}"#
        ),
        1.0,
        "{last:#?}"
    );
    assert_eq!(value(&last, "conti_oom_kills_total{}"), 1.0, "{last:#?}");
    assert_eq!(value(&last, r#"conti_containers{state="running"}"#), 0.0);
    assert!(
        !last.keys().any(|k| k.starts_with("conti_container_pids")),
        "stopped containers have no usage series"
    );
    let stop_count = r#"conti_operation_duration_seconds_count{result="ok",verb="stop"}"#;
    assert_eq!(value(&last, stop_count), 1.0);

    // Restarts by policy and failed health checks are counted too.
    let flaky = ContainerSpec {
        cmd: vec!["sh".into(), "-c".into(), "exit 1".into()],
        restart_policy: RestartPolicy::OnFailure {
            max_retries: Some(2),
        },
        ..sleeper("flaky")
    };
    d.run_detached(&flaky);
    let sick = ContainerSpec {
        healthcheck: Some(HealthcheckSpec {
            test: vec!["CMD".into(), "false".into()],
            interval: Some(HealthDuration::parse("100ms").unwrap()),
            ..Default::default()
        }),
        ..sleeper("sick")
    };
    d.run_detached(&sick);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = scrape(&d, &python);
        if value(&now, "conti_restarts_total{}") == 2.0
            && value(&now, "conti_health_check_failures_total{}") >= 1.0
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{now:#?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

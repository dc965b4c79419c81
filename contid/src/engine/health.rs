//! Health checks, Docker's: the check a container gets (its create's over its image's, defaults
//! filled in), and the checks themselves, run by the daemon as execs in the container while it
//! runs. They are the daemon's, not the monitor's: nothing checks while contid is down, and after
//! contid starts again a running container's health starts over at `starting`.

use std::time::{Duration, SystemTime};

use conti_proto::{
    EventType, ExecSpec, Health, HealthDuration, HealthStatus, HealthcheckResult, HealthcheckSpec,
    ImageHealthcheck,
};
use tokio::io::AsyncRead;

use super::exec::read_capped;
use super::{ContainerStatus, Engine, EngineError, EngineResult, EventDetails, blocking};
use crate::runtime::ExecStatus;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u32 = 3;
/// Checks kept in `Health.log`.
const LOG_ENTRIES: usize = 5;
/// Bytes of a check's output kept.
const OUTPUT_LIMIT: usize = 4096;
/// How long past its timeout a check's output may take to end (something it started that left
/// its process group may hold the pipes); then it is given up.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);
/// The exit code of a check killed at its timeout (Docker's).
const TIMED_OUT: i32 = -1;

/// The allowed forms of `test`, for error messages.
const TEST_FORMS: &str = r#"["CMD", arg...], ["CMD-SHELL", command] or ["NONE"]"#;

/// The check a container gets: `spec` (the create's) over `image`'s, defaults filled in;
/// `None` when there is none, or `["NONE"]` turns it off.
pub(super) fn resolve(
    spec: Option<&HealthcheckSpec>,
    image: Option<&ImageHealthcheck>,
) -> EngineResult<Option<HealthcheckSpec>> {
    let invalid =
        |message: String| Err(EngineError::InvalidSpec(format!("healthcheck: {message}")));
    let from_image = |nanos: u64| (nanos > 0).then(|| HealthDuration(Duration::from_nanos(nanos)));
    let test = match spec {
        Some(spec) if !spec.test.is_empty() => spec.test.clone(),
        _ => match image {
            Some(image) if !image.test.is_empty() => image.test.clone(),
            // A create that sets only the timing, for an image without a check.
            _ if spec.is_some() => {
                return invalid(format!(
                    "test is required (the image has no health check): {TEST_FORMS}"
                ));
            }
            _ => return Ok(None),
        },
    };
    let has_nul = |arg: &String| arg.contains('\0');
    match test.first().map(String::as_str) {
        Some("NONE") if test.len() == 1 => return Ok(None),
        Some("CMD") if test.len() >= 2 && !test[1].is_empty() && !test.iter().any(has_nul) => {}
        Some("CMD-SHELL") if test.len() == 2 && !test[1].is_empty() && !has_nul(&test[1]) => {}
        _ => return invalid(format!("test {test:?} is not one of {TEST_FORMS}")),
    }
    let spec = spec.cloned().unwrap_or_default();
    for (name, value) in [("interval", spec.interval), ("timeout", spec.timeout)] {
        if value.is_some_and(|d| d.0 < Duration::from_millis(1)) {
            return invalid(format!("{name} must be at least 1ms"));
        }
    }
    if spec.retries == Some(0) {
        return invalid("retries must be at least 1".into());
    }
    let image = image.cloned().unwrap_or_default();
    Ok(Some(HealthcheckSpec {
        test,
        interval: spec
            .interval
            .or(from_image(image.interval))
            .or(Some(HealthDuration(DEFAULT_INTERVAL))),
        timeout: spec
            .timeout
            .or(from_image(image.timeout))
            .or(Some(HealthDuration(DEFAULT_TIMEOUT))),
        start_period: spec
            .start_period
            .or(from_image(image.start_period))
            .or(Some(HealthDuration(Duration::ZERO))),
        retries: spec
            .retries
            .or(u32::try_from(image.retries).ok().filter(|r| *r > 0))
            .or(Some(DEFAULT_RETRIES)),
    }))
}

/// A resolved check, ready to run.
#[derive(Debug, Clone)]
struct Check {
    argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    retries: u32,
}

impl Check {
    fn new(spec: &HealthcheckSpec) -> Check {
        let argv = match spec.test.first().map(String::as_str) {
            Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), spec.test[1].clone()],
            _ => spec.test[1..].to_vec(),
        };
        let duration = |d: Option<HealthDuration>| d.unwrap_or_default().0;
        Check {
            argv,
            interval: duration(spec.interval),
            timeout: duration(spec.timeout),
            start_period: duration(spec.start_period),
            retries: spec.retries.unwrap_or(DEFAULT_RETRIES),
        }
    }
}

/// The run a check belongs to: its init, by pid and start time.
type Run = (i32, u64);

impl Engine {
    /// Starts the checks of a container that runs and has a health check: its status begins at
    /// `starting`. Those of a previous run stop.
    pub(super) fn start_health_checks(&self, id: &str) {
        let mut table = self.table();
        let Ok(entry) = table.entry_mut(id) else {
            return;
        };
        let ContainerStatus::Running {
            init_pid,
            init_start_time,
            started,
            ..
        } = &entry.container.status
        else {
            return;
        };
        let Some(spec) = &entry.container.config.healthcheck else {
            return;
        };
        let check = Check::new(spec);
        let run = (*init_pid, *init_start_time);
        let run_started =
            humantime::parse_rfc3339_weak(started).unwrap_or_else(|_| SystemTime::now());
        if let Some(previous) = entry.health_checks.take() {
            previous.abort();
        }
        entry.health = Some(Health {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: Vec::new(),
        });
        let engine = self.clone();
        let id = id.to_string();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(check.interval).await;
                let Some(result) = engine.run_check(&id, run, &check).await else {
                    return;
                };
                let in_start_period = SystemTime::now()
                    .duration_since(run_started)
                    .is_ok_and(|since| since < check.start_period);
                if !engine.record_check(&id, run, result, in_start_period, check.retries) {
                    return;
                }
            }
        });
        entry.health_checks = Some(task.abort_handle());
    }

    /// Runs the check once in the container; `None` when the run it belongs to is over.
    async fn run_check(&self, id: &str, run: Run, check: &Check) -> Option<HealthcheckResult> {
        let spec = ExecSpec {
            cmd: check.argv.clone(),
            ..ExecSpec::default()
        };
        let mut launch = self.exec_launch(id, &spec).ok()?;
        if (launch.init_pid, self.init_start_time(id)?) != run {
            return None;
        }
        launch.timeout = Some(check.timeout);
        let start = super::now_rfc3339();
        let helper = self.inner.helper.clone();
        let spawned = blocking(move || Ok(helper.spawn_exec(&launch)?)).await;
        let outcome = match spawned {
            Ok(handle) => {
                let pipe = |fd| tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok();
                let (stdout, stderr, status) = (
                    pipe(handle.stdout)?,
                    pipe(handle.stderr)?,
                    pipe(handle.status)?,
                );
                let finished = tokio::time::timeout(check.timeout + OUTPUT_GRACE, async {
                    tokio::join!(capped(stdout), capped(stderr), capped(status))
                })
                .await;
                match finished {
                    Ok((stdout, stderr, status)) => {
                        let status = ExecStatus::parse(&status).map_err(EngineError::from);
                        status.map(|status| (status, [stdout, stderr].concat()))
                    }
                    Err(_) => Err(EngineError::Internal(
                        "the check's output did not end after its timeout".into(),
                    )),
                }
            }
            Err(err) => Err(err),
        };
        let (exit_code, output) = match outcome {
            Ok((status, _)) if status.timed_out => (
                TIMED_OUT,
                format!(
                    "the check ran longer than its timeout of {} and was killed",
                    HealthDuration(check.timeout)
                ),
            ),
            Ok((status, output)) => {
                let mut output = String::from_utf8_lossy(&output).into_owned();
                if let Some(failure) = &status.failure {
                    output.push_str(&format!("conti: {failure}\n"));
                }
                (status.exit_code, output)
            }
            Err(err) => (TIMED_OUT, format!("conti: the check could not run: {err}")),
        };
        // A check that met the end of the run (its namespaces going, it killed with them) says
        // nothing of the container's health.
        if exit_code != 0 && self.exited_under_exec(id).await {
            return None;
        }
        Some(HealthcheckResult {
            start,
            end: super::now_rfc3339(),
            exit_code,
            output: truncate(output),
        })
    }

    fn init_start_time(&self, id: &str) -> Option<u64> {
        match self.table().entry(id).ok()?.container.status {
            ContainerStatus::Running {
                init_start_time, ..
            } => Some(init_start_time),
            _ => None,
        }
    }

    /// Adds a check's result to the container's health, as Docker: a pass makes it healthy, a
    /// failure counts (unless it is still starting within its start period), and `retries`
    /// in a row make it unhealthy. `false` when the run is over.
    fn record_check(
        &self,
        id: &str,
        run: Run,
        result: HealthcheckResult,
        in_start_period: bool,
        retries: u32,
    ) -> bool {
        let mut table = self.table();
        let Ok(entry) = table.entry_mut(id) else {
            return false;
        };
        let same_run = matches!(
            entry.container.status,
            ContainerStatus::Running { init_pid, init_start_time, .. } if (init_pid, init_start_time) == run
        );
        let Some(health) = entry.health.as_mut().filter(|_| same_run) else {
            return false;
        };
        let before = health.status;
        if result.exit_code != 0 {
            self.inner.metrics.count_health_failure();
        }
        if result.exit_code == 0 {
            health.failing_streak = 0;
            health.status = HealthStatus::Healthy;
        } else if !(before == HealthStatus::Starting && in_start_period) {
            health.failing_streak += 1;
            if health.failing_streak >= retries {
                health.status = HealthStatus::Unhealthy;
            }
        }
        tracing::debug!(container = %id, exit_code = result.exit_code, status = health.status.as_str(), "health check");
        health.log.push(result);
        if health.log.len() > LOG_ENTRIES {
            health.log.remove(0);
        }
        let after = health.status;
        if after != before {
            tracing::info!(container = %id, status = after.as_str(), "health");
            let name = entry.container.config.name.clone();
            self.emit_named(
                EventType::HealthStatus,
                id,
                &name,
                EventDetails::health(after),
            );
        }
        true
    }
}

/// A pipe read to its end, its first [`OUTPUT_LIMIT`] bytes kept; what cannot be read is
/// nothing.
async fn capped(pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    read_capped(pipe, OUTPUT_LIMIT as u64)
        .await
        .unwrap_or_default()
}

/// At most [`OUTPUT_LIMIT`] bytes, cut at a character's boundary.
fn truncate(mut output: String) -> String {
    if output.len() > OUTPUT_LIMIT {
        let mut end = OUTPUT_LIMIT;
        while !output.is_char_boundary(end) {
            end -= 1;
        }
        output.truncate(end);
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(text: &str) -> Option<HealthDuration> {
        Some(HealthDuration::parse(text).unwrap())
    }

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn the_creates_check_goes_over_the_images_and_defaults_fill_the_rest() {
        let image = ImageHealthcheck {
            test: strings(&["CMD", "true"]),
            interval: 5_000_000_000,
            timeout: 0,
            start_period: 0,
            retries: 2,
        };
        let from_image = resolve(None, Some(&image)).unwrap().unwrap();
        assert_eq!(from_image.test, ["CMD", "true"]);
        assert_eq!(from_image.interval, duration("5s"));
        assert_eq!(from_image.timeout, duration("30s"));
        assert_eq!(from_image.start_period, duration("0s"));
        assert_eq!(from_image.retries, Some(2));

        let timing_only = HealthcheckSpec {
            interval: duration("1s"),
            ..HealthcheckSpec::default()
        };
        let merged = resolve(Some(&timing_only), Some(&image)).unwrap().unwrap();
        assert_eq!(
            (merged.test[1].as_str(), merged.interval),
            ("true", duration("1s"))
        );

        let shell = HealthcheckSpec {
            test: strings(&["CMD-SHELL", "test -f /ready"]),
            ..HealthcheckSpec::default()
        };
        let own = resolve(Some(&shell), Some(&image)).unwrap().unwrap();
        assert_eq!(Check::new(&own).argv, ["/bin/sh", "-c", "test -f /ready"]);
        assert_eq!(own.retries, Some(2), "the image's retries");

        assert_eq!(
            resolve(Some(&HealthcheckSpec::disabled()), Some(&image)).unwrap(),
            None
        );
        assert_eq!(resolve(None, None).unwrap(), None);
    }

    #[test]
    fn a_check_that_cannot_run_is_refused_with_the_forms_allowed() {
        let cases = [
            (strings(&["true"]), "CMD-SHELL"),
            (strings(&["CMD"]), "CMD-SHELL"),
            (strings(&["CMD", ""]), "CMD-SHELL"),
            (strings(&["CMD-SHELL", "a", "b"]), "CMD-SHELL"),
            (strings(&["NONE", "x"]), "CMD-SHELL"),
        ];
        for (test, says) in cases {
            let spec = HealthcheckSpec {
                test: test.clone(),
                ..HealthcheckSpec::default()
            };
            let err = resolve(Some(&spec), None).unwrap_err();
            assert!(
                matches!(&err, EngineError::InvalidSpec(m) if m.contains(says)),
                "{test:?}: {err}"
            );
        }
        let no_test = HealthcheckSpec {
            retries: Some(2),
            ..HealthcheckSpec::default()
        };
        assert!(resolve(Some(&no_test), None).is_err());
        let bad = [
            HealthcheckSpec {
                interval: duration("0s"),
                ..HealthcheckSpec::disabled()
            },
            HealthcheckSpec {
                timeout: duration("500us"),
                ..HealthcheckSpec::disabled()
            },
            HealthcheckSpec {
                retries: Some(0),
                ..HealthcheckSpec::disabled()
            },
        ];
        for spec in bad {
            let spec = HealthcheckSpec {
                test: strings(&["CMD", "true"]),
                ..spec
            };
            assert!(resolve(Some(&spec), None).is_err(), "{spec:?}");
        }
    }

    #[test]
    fn output_is_cut_at_a_character() {
        let long = "é".repeat(OUTPUT_LIMIT);
        let cut = truncate(long);
        assert!(cut.len() <= OUTPUT_LIMIT && cut.len() >= OUTPUT_LIMIT - 1);
        assert_eq!(truncate("ok\n".into()), "ok\n");
    }
}

//! Health checks, from the outside: healthy and unhealthy with their log and events, a check
//! killed at its timeout, the start period, the image's check (and `--no-healthcheck`), `ps`,
//! a contid restart, and bad settings.

use std::time::Duration;

use conti_proto::{EventType, HealthDuration, HealthStatus, HealthcheckSpec, RestartPolicy};
use conti_tests::{
    ContainerInfo, ContainerSpec, ContainerState, Daemon, NetworkMode, cli, sh, spec, wait_until,
};

/// A shell check every `interval` (`retries` in a row to be unhealthy).
fn check(command: &str, interval: &str, retries: u32) -> HealthcheckSpec {
    HealthcheckSpec {
        test: vec!["CMD-SHELL".into(), command.into()],
        interval: Some(HealthDuration::parse(interval).unwrap()),
        retries: Some(retries),
        ..HealthcheckSpec::default()
    }
}

fn checked(script: &str, healthcheck: HealthcheckSpec) -> ContainerSpec {
    ContainerSpec {
        network: NetworkMode::None,
        healthcheck: Some(healthcheck),
        ..sh(script)
    }
}

#[track_caller]
fn wait_for_health(d: &Daemon, id: &str, status: HealthStatus, timeout: Duration) -> ContainerInfo {
    wait_until(timeout, &format!("{id} to be {}", status.as_str()), || {
        d.inspect(id).health.is_some_and(|h| h.status == status)
    });
    d.inspect(id)
}

fn health_events(d: &Daemon, id: &str) -> Vec<HealthStatus> {
    d.events_of(id)
        .iter()
        .filter(|e| e.kind == EventType::HealthStatus)
        .filter_map(|e| e.health_status)
        .collect()
}

#[test]
fn a_container_turns_healthy_then_unhealthy_then_healthy_again() {
    let mut d = Daemon::start_with_busybox();
    let id = d.run_detached(&checked(
        "sleep 0.5; touch /tmp/ready; exec sleep 1000",
        HealthcheckSpec {
            // Its failures before the file is there do not count.
            start_period: Some(HealthDuration::parse("5s").unwrap()),
            ..check("test -f /tmp/ready && echo fine", "200ms", 2)
        },
    ));
    let info = d.inspect(&id);
    let health = info.health.expect("a health");
    assert_eq!(
        (health.status, health.log.len()),
        (HealthStatus::Starting, 0)
    );
    let spec = info.healthcheck.expect("the check in force");
    assert_eq!(spec.timeout.unwrap().to_string(), "30s", "the default");

    let info = wait_for_health(&d, &id, HealthStatus::Healthy, Duration::from_secs(10));
    let last = info.health.unwrap().log.pop().unwrap();
    assert_eq!((last.exit_code, last.output.as_str()), (0, "fine\n"));
    assert!(last.start <= last.end);
    let ps = cli(&d, &["ps"]);
    assert!(String::from_utf8_lossy(&ps.stdout).contains("(healthy)"));

    d.exec(&id, &["rm", "/tmp/ready"]);
    let info = wait_for_health(&d, &id, HealthStatus::Unhealthy, Duration::from_secs(10));
    let health = info.health.unwrap();
    assert!(health.failing_streak >= 2);
    assert!(health.log.len() <= 5);
    assert_eq!(health.log.last().unwrap().exit_code, 1);
    assert!(String::from_utf8_lossy(&cli(&d, &["ps"]).stdout).contains("(unhealthy)"));

    d.exec(&id, &["touch", "/tmp/ready"]);
    wait_for_health(&d, &id, HealthStatus::Healthy, Duration::from_secs(10));
    assert_eq!(
        health_events(&d, &id),
        [
            HealthStatus::Healthy,
            HealthStatus::Unhealthy,
            HealthStatus::Healthy
        ]
    );

    // Checks are contid's: after a restart of contid they start over.
    d.terminate();
    d.launch();
    assert_ne!(
        d.inspect(&id).health.unwrap().status,
        HealthStatus::Unhealthy
    );
    wait_for_health(&d, &id, HealthStatus::Healthy, Duration::from_secs(10));
    d.stop(&id, 0);
    // The last run's health stays to be seen.
    assert_eq!(d.inspect(&id).state, ContainerState::Exited);
    assert!(d.inspect(&id).health.is_some());
}

#[test]
fn a_check_that_hangs_is_killed_at_its_timeout() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&checked(
        "exec sleep 1000",
        HealthcheckSpec {
            timeout: Some(HealthDuration::parse("300ms").unwrap()),
            ..check("echo started; sleep 30", "100ms", 1)
        },
    ));
    let info = wait_for_health(&d, &id, HealthStatus::Unhealthy, Duration::from_secs(10));
    let last = info.health.unwrap().log.pop().unwrap();
    assert_eq!(last.exit_code, -1);
    assert!(last.output.contains("timeout of 300ms"), "{}", last.output);
    // Killed with what it started: no check's sleep is left in the container.
    wait_until(
        Duration::from_secs(5),
        "the checks' processes to be gone",
        || {
            let ps = d.exec(&id, &["ps", "-o", "args"]).stdout;
            !ps.contains("sleep 30")
        },
    );
    d.remove(&id);
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&checked(
        "exec sleep 1000",
        HealthcheckSpec {
            start_period: Some(HealthDuration::parse("3s").unwrap()),
            ..check("exit 1", "200ms", 1)
        },
    ));
    std::thread::sleep(Duration::from_millis(1500));
    let health = d.inspect(&id).health.unwrap();
    assert_eq!(
        (health.status, health.failing_streak),
        (HealthStatus::Starting, 0)
    );
    assert!(!health.log.is_empty(), "the checks ran");
    wait_for_health(&d, &id, HealthStatus::Unhealthy, Duration::from_secs(10));
    d.remove(&id);
}

#[test]
fn the_images_check_applies_unless_turned_off() {
    let d = Daemon::start_with_busybox();
    let tar = conti_tests::busybox_tar().display().to_string();
    let out = cli(
        &d,
        &[
            "image",
            "import",
            "-c",
            "HEALTHCHECK --interval=200ms --retries=1 CMD test -d /etc",
            &tar,
            "checked",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_image = ContainerSpec {
        image: "checked".into(),
        network: NetworkMode::None,
        ..spec(&["sleep", "1000"])
    };
    let id = d.run_detached(&from_image);
    let info = d.inspect(&id);
    let spec = info.healthcheck.unwrap();
    assert_eq!(spec.test, ["CMD-SHELL", "test -d /etc"]);
    assert_eq!(spec.interval.unwrap().to_string(), "200ms");
    wait_for_health(&d, &id, HealthStatus::Healthy, Duration::from_secs(10));

    // Only the timing given: the image's test with it.
    let slower = d.create(&ContainerSpec {
        healthcheck: Some(HealthcheckSpec {
            interval: Some(HealthDuration::parse("1m").unwrap()),
            ..HealthcheckSpec::default()
        }),
        ..from_image.clone()
    });
    let spec = d.inspect(&slower).healthcheck.unwrap();
    assert_eq!(
        (
            spec.test[1].as_str(),
            spec.interval.unwrap().to_string().as_str()
        ),
        ("test -d /etc", "1m")
    );

    let out = cli(
        &d,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--no-healthcheck",
            "checked",
            "sleep",
            "1000",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unchecked = String::from_utf8_lossy(&out.stdout).trim().to_string();
    std::thread::sleep(Duration::from_millis(500));
    let info = d.inspect(&unchecked);
    assert_eq!((info.healthcheck, info.health), (None, None));
    for id in [&id, &unchecked] {
        d.remove(id);
    }
}

#[test]
fn a_restart_by_policy_starts_the_health_over() {
    let d = Daemon::start_with_busybox();
    let id = d.run_detached(&ContainerSpec {
        restart_policy: RestartPolicy::Always,
        ..checked(
            "[ -f /ran ] && exec sleep 1000; touch /ran; sleep 1.5; exit 1",
            check("true", "200ms", 1),
        )
    });
    wait_for_health(&d, &id, HealthStatus::Healthy, Duration::from_secs(10));
    wait_until(Duration::from_secs(10), "a restart", || {
        d.inspect(&id).restart_count == 1
    });
    wait_for_health(&d, &id, HealthStatus::Healthy, Duration::from_secs(10));
    let events = health_events(&d, &id);
    assert_eq!(
        events,
        [HealthStatus::Healthy, HealthStatus::Healthy],
        "once per run"
    );
    d.remove(&id);
}

#[test]
fn bad_health_settings_are_refused_with_the_forms_allowed() {
    let d = Daemon::start_with_busybox();
    let create = |healthcheck: serde_json::Value| {
        let body =
            serde_json::json!({"image": "busybox", "cmd": ["true"], "healthcheck": healthcheck});
        d.post("/v1/containers", body.to_string().as_bytes())
    };
    for duration in ["30", "1x", "-1s", "soon"] {
        let error = create(serde_json::json!({"test": ["CMD", "true"], "interval": duration}))
            .expect_error(400, "invalid_json");
        assert!(
            error.message.contains("1m30s"),
            "{duration}: {}",
            error.message
        );
    }
    for (healthcheck, says) in [
        (
            serde_json::json!({"test": ["CMD", "true"], "interval": "0s"}),
            "at least 1ms",
        ),
        (
            serde_json::json!({"test": ["CMD", "true"], "retries": 0}),
            "at least 1",
        ),
        (serde_json::json!({"test": ["true"]}), "CMD-SHELL"),
        (serde_json::json!({"test": ["CMD-SHELL"]}), "CMD-SHELL"),
        (serde_json::json!({"interval": "1s"}), "test is required"),
    ] {
        let error = create(healthcheck.clone()).expect_error(400, "invalid_spec");
        assert!(
            error.message.contains(says),
            "{healthcheck}: {}",
            error.message
        );
    }
    create(serde_json::json!({"test": ["CMD", "true"], "colour": "red"}))
        .expect_error(400, "invalid_json");
    // The CLI refuses a bad duration before asking.
    let out = cli(
        &d,
        &[
            "create",
            "--health-cmd",
            "true",
            "--health-interval",
            "30",
            "busybox",
        ],
    );
    assert!(!out.status.success());
    let created = d.create(&spec(&["true"]));
    assert!(d.inspect(&created).healthcheck.is_none());
}

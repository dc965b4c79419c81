//! Hundreds of lifecycles, failed ones included, leave nothing behind.

use std::fs;

use conti_tests::{Daemon, host, sh, spec};

/// One lifecycle; every tenth fails to create, every tenth fails to start, every tenth is
/// killed while running after an exec; the others run with memory, CPU and pids limits.
fn cycle(d: &Daemon, i: usize) {
    match i % 10 {
        3 => {
            let mut s = spec(&["true"]);
            s.image = "no-such-image".to_string();
            d.post_json("/v1/containers", &s)
                .expect_error(404, "image_not_found");
        }
        5 => {
            let id = d.run_detached(&spec(&["sleep", "1000"]));
            assert_eq!(d.exec(&id, &["true"]).exit_code, 0);
            d.post(&format!("/v1/containers/{id}/kill?signal=KILL"), b"")
                .expect_status(204);
            assert_eq!(d.wait(&id), 137);
            d.delete(&format!("/v1/containers/{id}")).expect_status(204);
        }
        7 => {
            let id = d.create(&spec(&["/no/such/command"]));
            d.post(&format!("/v1/containers/{id}/start"), b"")
                .expect_error(400, "command_not_found");
            d.delete(&format!("/v1/containers/{id}")).expect_status(204);
        }
        9 => {
            d.post("/v1/containers", br#"{"image": "busybox", "cmd": []}"#)
                .expect_error(400, "invalid_spec");
        }
        _ => {
            // With limits in every hierarchy they touch: memory, cpu, pids (issue 4).
            let mut s = sh(&format!("echo cycle {i}"));
            s.resources = conti_proto::Resources {
                memory: Some(64 << 20),
                cpus: Some(0.5),
                pids_limit: Some(100),
                ..Default::default()
            };
            let (id, code, logs) = d.run(&s);
            assert_eq!((code, logs), (0, format!("cycle {i}\n")));
            d.delete(&format!("/v1/containers/{id}")).expect_status(204);
        }
    }
}

#[test]
fn two_hundred_lifecycles_leave_no_mount_process_cgroup_file_or_fd() {
    let d = Daemon::start_with_busybox();
    // Warm-up: whatever the daemon opens once (the helper channel, lazily opened files) is open.
    for i in 0..10 {
        cycle(&d, i);
    }
    let fds_before = host::fd_count(d.pid());
    for i in 0..200 {
        cycle(&d, i);
    }
    let fds_after = host::fd_count(d.pid());
    assert!(
        fds_after <= fds_before + 4,
        "contid's open fds grew from {fds_before} to {fds_after}"
    );

    assert!(d.list_all().is_empty());
    let left: Vec<_> = fs::read_dir(d.root().join("containers"))
        .expect("<root>/containers")
        .collect();
    assert!(left.is_empty(), "left in <root>/containers: {left:?}");

    let root = d.root().display().to_string();
    for (who, pid) in [
        ("the host", "self".to_string()),
        ("contid", d.pid().to_string()),
    ] {
        let mounts: Vec<String> = host::mountinfo(&pid)
            .into_iter()
            .filter(|l| l.contains(&root))
            .collect();
        assert!(
            mounts.is_empty(),
            "mounts under the root seen by {who}: {mounts:#?}"
        );
    }

    let parents = d.cgroup_parent_dirs();
    for parent in &parents {
        let children = host::cgroup_children(parent);
        assert!(
            children.is_empty(),
            "cgroups left under {}: {children:?}",
            parent.display()
        );
        let pids = host::pids_in_cgroup_tree(parent);
        assert!(
            pids.is_empty(),
            "processes left in {}: {pids:?}",
            parent.display()
        );
    }

    // Only contid and its helper remain; no zombie children either.
    let daemon = d.pid();
    let strays: Vec<i32> = d
        .processes()
        .into_iter()
        .filter(|&p| p != daemon && host::parent_pid(p) != Some(daemon))
        .collect();
    assert!(
        strays.is_empty(),
        "processes of deleted containers remain: {strays:?}"
    );
    let zombies: Vec<i32> = host::all_pids()
        .into_iter()
        .filter(|&p| matches!(host::stat(p), Some((ppid, 'Z')) if ppid == daemon || host::parent_pid(ppid) == Some(daemon)))
        .collect();
    assert!(
        zombies.is_empty(),
        "unreaped children of contid or its helper: {zombies:?}"
    );
}

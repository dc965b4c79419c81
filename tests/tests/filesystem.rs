//! The container's root filesystem: an overlay on a shared read-only image, and the special
//! filesystems and files a container needs.

use conti_proto::ContainerState;
use conti_tests::{Daemon, sh};

#[test]
fn writes_stay_in_the_container_and_go_with_it() {
    let d = Daemon::start_with_busybox();
    let (a, code, logs) = d.run(&sh(
        "echo written > /etc/conti-a && cat /etc/conti-a && rm /bin/ls && echo removed",
    ));
    assert_eq!((code, logs.as_str()), (0, "written\nremoved\n"));
    let (_, code, logs) = d.run(&sh(
        "cat /etc/conti-a 2>/dev/null || echo absent; test -e /bin/ls && echo ls-present",
    ));
    assert_eq!(
        (code, logs.as_str()),
        (0, "absent\nls-present\n"),
        "a second container sees the first one's changes"
    );
    let image = d.image_layer_dir("busybox").join("fs");
    assert!(
        image.join("bin/busybox").exists(),
        "image not where the contract puts it: {}",
        image.display()
    );
    assert!(
        !image.join("etc/conti-a").exists(),
        "the container wrote into the shared image"
    );
    assert!(
        image.join("bin/ls").symlink_metadata().is_ok(),
        "the container removed a file of the shared image"
    );

    assert!(d.container_dir(&a).exists());
    d.remove(&a);
    assert!(
        !d.container_dir(&a).exists(),
        "the container's folder (upper layer) outlived it"
    );
}

#[test]
fn dev_proc_sys_and_etc_files_are_set_up() {
    let d = Daemon::start_with_busybox();
    let script = r#"
        for f in null zero full random urandom tty ptmx; do test -c /dev/$f && echo "char $f"; done
        for f in pts shm mqueue; do test -d /dev/$f && echo "dir $f"; done
        echo x > /dev/null && echo "null writable"
        head -c 16 /dev/urandom | wc -c
        test -r /proc/self/status && echo proc
        awk '$5 == "/sys" { print "sys " $6 }' /proc/self/mountinfo
        test -s /etc/resolv.conf && echo resolv.conf
        grep -q "$(hostname)" /etc/hosts && echo hosts
    "#;
    let (_, code, logs) = d.run(&sh(script));
    assert_eq!(code, 0, "output: {logs}");
    let lines: Vec<&str> = logs.lines().map(str::trim).collect();
    for expected in [
        "char null",
        "char zero",
        "char full",
        "char random",
        "char urandom",
        "char tty",
        "char ptmx",
        "dir pts",
        "dir shm",
        "dir mqueue",
        "null writable",
        "16",
        "proc",
        "resolv.conf",
        "hosts",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in the container's view:\n{logs}"
        );
    }
    let sys = lines
        .iter()
        .find(|l| l.starts_with("sys "))
        .unwrap_or_else(|| panic!("/sys is not mounted:\n{logs}"));
    assert!(
        sys[4..].split(',').any(|o| o == "ro"),
        "/sys is not read-only: {sys}"
    );
}

#[test]
fn a_container_that_made_its_etc_a_symlink_is_refused_at_its_next_start() {
    let d = Daemon::start_with_busybox();
    // Only a privileged container can: the files Conti mounts in /etc pin it otherwise.
    let mut spec = sh("umount /etc/hosts /etc/hostname /etc/resolv.conf \
         && rm -r /etc && ln -s /tmp /etc && echo replaced");
    spec.security.privileged = true;
    let (broken, code, logs) = d.run(&spec);
    assert_eq!((code, logs.as_str()), (0, "replaced\n"));
    let error = d
        .post(&format!("/v1/containers/{broken}/start"), b"")
        .expect_error(409, "broken_rootfs");
    assert!(
        error
            .message
            .contains("/etc in the container's filesystem is a symlink")
            && error.message.contains("recreate"),
        "{}",
        error.message
    );
    assert_eq!(d.inspect(&broken).state, ContainerState::Exited);
    d.remove(&broken);
    assert!(!d.container_dir(&broken).exists());

    // A folder where Conti mounts /etc/hosts.
    let mut spec = sh("umount /etc/hosts && rm /etc/hosts && mkdir /etc/hosts && echo folder");
    spec.security.privileged = true;
    let (broken, code, logs) = d.run(&spec);
    assert_eq!((code, logs.as_str()), (0, "folder\n"));
    let error = d
        .post(&format!("/v1/containers/{broken}/start"), b"")
        .expect_error(409, "broken_rootfs");
    assert!(
        error
            .message
            .contains("/etc/hosts in the container's filesystem is a folder"),
        "{}",
        error.message
    );
    d.remove(&broken);
}

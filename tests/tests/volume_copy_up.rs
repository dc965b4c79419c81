//! Volumes filled from the image and anonymous volumes, inside real containers: a new volume
//! gets what the image has at its mount point (owners, modes, symlinks kept), a volume that
//! already holds files does not; the image's `Volumes`, `-v /path` and a volume spec without a
//! source make anonymous volumes, which `rm -v` (CLI, `/v1` `?volumes=true`, Docker's `?v=1`)
//! and `--rm` remove, and named ones never.

use std::fs;
use std::os::unix::fs::MetadataExt;

use conti_tests::{ContainerSpec, Daemon, VolumeInfo, VolumeSpec, busybox_tar, cli, unique_name};

/// The busybox image plus `/data` (owned 1000:1001, mode 750) holding `conf` (1000:1001, 640,
/// "from-image"), `sub/` (mode 700) and `link -> conf`, with `VOLUME /data` in its config.
fn import_image_with_data(d: &Daemon) -> String {
    let base = fs::read(busybox_tar()).expect("the busybox tar");
    let mut builder = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(base.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        builder.append(&header, &mut entry).unwrap();
    }
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, contents: &[u8], link: &str| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(1000);
        header.set_gid(1001);
        header.set_size(contents.len() as u64);
        header.set_mtime(1_700_000_000);
        if !link.is_empty() {
            header.set_link_name(link).unwrap();
        }
        builder.append_data(&mut header, path, contents).unwrap();
    };
    add("data/", tar::EntryType::Directory, 0o750, b"", "");
    add(
        "data/conf",
        tar::EntryType::Regular,
        0o640,
        b"from-image\n",
        "",
    );
    add("data/sub/", tar::EntryType::Directory, 0o700, b"", "");
    add("data/link", tar::EntryType::Symlink, 0o777, b"", "conf");
    let tar = builder.into_inner().unwrap();
    let name = unique_name("with-data");
    d.client()
        .post_bytes(
            &format!(
                "/v1/images/import?name={name}&change={}",
                conti_tests::util::query_value("VOLUME /data")
            ),
            "application/x-tar",
            &tar,
        )
        .expect_status(201);
    name
}

fn volumes(d: &Daemon) -> Vec<VolumeInfo> {
    d.get("/v1/volumes").json()
}

fn volume(source: &str, target: &str) -> VolumeSpec {
    VolumeSpec {
        source: source.into(),
        target: target.into(),
        read_only: false,
    }
}

/// What the container shows of `/data`: owner, mode and name of each entry.
const LIST_DATA: &str = "cd /data && stat -c '%u:%g %a %n' . conf sub && readlink link && cat conf";

#[test]
fn a_new_volume_gets_the_images_files_with_their_owners_and_an_old_one_does_not() {
    let d = Daemon::start_with_busybox();
    let image = import_image_with_data(&d);
    let name = unique_name("data");
    let (_, code, logs) = d.run(&ContainerSpec {
        image: image.clone(),
        cmd: vec!["sh".into(), "-c".into(), LIST_DATA.into()],
        volumes: vec![volume(&name, "/data")],
        ..Default::default()
    });
    assert_eq!(code, 0, "{logs}");
    assert_eq!(
        logs,
        "1000:1001 750 .\n1000:1001 640 conf\n1000:1001 700 sub\nconf\nfrom-image\n"
    );
    // On the host: the volume's folder holds the copy, owners and modes as in the image.
    let folder = d.root().join("volumes").join(&name);
    let conf = fs::metadata(folder.join("conf")).unwrap();
    assert_eq!(
        (conf.uid(), conf.gid(), conf.mode() & 0o7777),
        (1000, 1001, 0o640)
    );
    assert_eq!(conf.mtime(), 1_700_000_000);
    assert_eq!(fs::metadata(&folder).unwrap().mode() & 0o7777, 0o750);

    // A volume that holds a file already is left as it is.
    let used = unique_name("used");
    d.run(&ContainerSpec {
        volumes: vec![volume(&used, "/v")],
        ..conti_tests::sh("echo mine > /v/own")
    });
    let (_, code, logs) = d.run(&ContainerSpec {
        image: image.clone(),
        cmd: vec!["ls".into(), "/data".into()],
        volumes: vec![volume(&used, "/data")],
        ..Default::default()
    });
    assert_eq!((code, logs.as_str()), (0, "own\n"));
    // Nor is a host folder ever filled.
    let host = d.dir().join("bind");
    fs::create_dir_all(&host).unwrap();
    let (_, code, logs) = d.run(&ContainerSpec {
        image,
        cmd: vec!["ls".into(), "/data".into()],
        volumes: vec![volume(host.to_str().unwrap(), "/data")],
        ..Default::default()
    });
    assert_eq!((code, logs.as_str()), (0, ""));
    assert!(fs::read_dir(&host).unwrap().next().is_none());
}

#[test]
fn anonymous_volumes_are_made_and_go_with_rm_v_but_named_ones_stay() {
    let d = Daemon::start_with_busybox();
    let image = import_image_with_data(&d);
    let named = unique_name("named");
    // The image's /data and -v /scratch: anonymous; -v NAME:/keep: named.
    let out = cli(
        &d,
        &[
            "create",
            "--name",
            "anon",
            "-v",
            "/scratch",
            "-v",
            &format!("{named}:/keep"),
            &image,
            "cat",
            "/data/conf",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let info = d.inspect("anon");
    assert_eq!(info.volumes.len(), 3, "{:?}", info.volumes);
    let anonymous: Vec<String> = volumes(&d)
        .into_iter()
        .filter(|v| v.anonymous)
        .map(|v| v.name)
        .collect();
    assert_eq!(anonymous.len(), 2, "{:?}", volumes(&d));
    assert!(anonymous.iter().all(|name| name.len() == 64));
    assert!(volumes(&d).iter().any(|v| v.name == named && !v.anonymous));
    d.start_container("anon");
    assert_eq!(d.wait("anon"), 0);
    assert_eq!(
        d.logs("anon"),
        "from-image\n",
        "the image's Volumes is filled"
    );

    // rm without -v keeps them; rm -v removes the anonymous ones only.
    let out = cli(
        &d,
        &[
            "create", "--name", "keeper", "-v", "/scratch", "busybox", "true",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let kept: Vec<String> = d
        .inspect("keeper")
        .volumes
        .iter()
        .map(|v| v.source.clone())
        .collect();
    assert!(cli(&d, &["rm", "keeper"]).status.success());
    assert!(
        volumes(&d).iter().any(|v| v.name == kept[0]),
        "kept without -v"
    );
    assert!(cli(&d, &["rm", "-v", "anon"]).status.success());
    let left: Vec<String> = volumes(&d).into_iter().map(|v| v.name).collect();
    assert!(left.contains(&named), "{left:?}");
    assert!(anonymous.iter().all(|a| !left.contains(a)), "{left:?}");
    assert!(
        anonymous
            .iter()
            .all(|a| !d.root().join("volumes").join(a).exists())
    );

    // /v1 ?volumes=true, and an anonymous volume another container still uses stays.
    let first = d.create(&ContainerSpec {
        volumes: vec![volume("", "/a")],
        ..conti_tests::spec(&["true"])
    });
    let shared = d.inspect(&first).volumes[0].source.clone();
    let second = d.create(&ContainerSpec {
        volumes: vec![volume(&shared, "/a")],
        ..conti_tests::spec(&["true"])
    });
    d.delete(&format!("/v1/containers/{first}?volumes=true"))
        .expect_status(204);
    assert!(volumes(&d).iter().any(|v| v.name == shared), "still used");
    d.delete(&format!("/v1/containers/{second}?volumes=true"))
        .expect_status(204);
    assert!(!volumes(&d).iter().any(|v| v.name == shared));

    // --rm takes its anonymous volumes with it, as Docker's.
    let before = volumes(&d).len();
    let out = cli(&d, &["run", "--rm", "-v", "/tmp/x", "busybox", "true"]);
    assert!(out.status.success(), "{out:?}");
    conti_tests::wait_until(
        std::time::Duration::from_secs(10),
        "the --rm container's anonymous volume to go",
        || volumes(&d).len() == before,
    );

    // Docker's DELETE /containers/{id}?v=1.
    let docker = d.create(&ContainerSpec {
        volumes: vec![volume("", "/d")],
        ..conti_tests::spec(&["true"])
    });
    assert_eq!(volumes(&d).len(), before + 1);
    d.delete(&format!("/containers/{docker}?v=1"))
        .expect_status(204);
    assert_eq!(volumes(&d).len(), before);
    // The named volume is still there after all this.
    assert!(d.root().join("volumes").join(&named).is_dir());
}

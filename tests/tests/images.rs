//! `POST /v1/images/import` against hostile and unusual archives, built here entry by entry: what
//! the image keeps, what is refused (with the entry named), and that a refused import leaves
//! nothing in the state folder.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use conti_tests::{Daemon, ImageInfo, Response, busybox_tar, unique_name};
use tar::{EntryType, Header};

/// The busybox root filesystem's entries, re-packed so that more can follow them.
fn busybox_builder() -> tar::Builder<Vec<u8>> {
    busybox_builder_without(|_| false)
}

/// The same without the entries `skip` names (paths without a leading `./`).
fn busybox_builder_without(skip: impl Fn(&str) -> bool) -> tar::Builder<Vec<u8>> {
    let bytes = fs::read(busybox_tar()).expect("reading the busybox tar");
    let mut builder = tar::Builder::new(Vec::new());
    let mut archive = tar::Archive::new(&bytes[..]);
    for entry in archive.entries().expect("busybox tar") {
        let mut entry = entry.expect("busybox tar entry");
        let path = entry.path().expect("busybox tar path").into_owned();
        if skip(path.to_string_lossy().trim_start_matches("./")) {
            continue;
        }
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("busybox tar data");
        builder.append(&header, &data[..]).expect("append");
    }
    builder
}

/// A header whose name (and link name) are written as given: the builder refuses `..`.
fn raw_header(kind: EntryType, name: &str, link: &str, size: u64) -> Header {
    let mut header = Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_600_000_000);
    header.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    header.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
    header.set_cksum();
    header
}

fn append_raw(builder: &mut tar::Builder<Vec<u8>>, kind: EntryType, name: &str, link: &str) {
    builder
        .append(&raw_header(kind, name, link, 0), &b""[..])
        .expect("append");
}

/// A PAX record for the next entry.
fn append_pax(builder: &mut tar::Builder<Vec<u8>>, key: &str, value: &[u8]) {
    let body = [format!(" {key}=").as_bytes(), value, b"\n"].concat();
    // The record's length counts its own digits.
    let mut length = body.len() + 1;
    while length.to_string().len() + body.len() != length {
        length += 1;
    }
    let record = [length.to_string().as_bytes(), &body].concat();
    let header = raw_header(EntryType::XHeader, "PaxHeader", "", record.len() as u64);
    builder.append(&header, &record[..]).expect("append");
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn import(d: &Daemon, name: &str, archive: &[u8]) -> Response {
    d.client().post_bytes(
        &format!("/v1/images/import?name={name}"),
        "application/x-tar",
        archive,
    )
}

/// Imports `archive` expecting `status`/`code`; checks that no image and no half-unpacked
/// folder is left; returns the message.
#[track_caller]
fn refused(d: &Daemon, archive: &[u8], status: u16, code: &str) -> String {
    let name = unique_name("refused");
    let message = import(d, &name, archive).expect_error(status, code).message;
    assert!(
        d.get("/v1/images")
            .json::<Vec<ImageInfo>>()
            .iter()
            .all(|i| !i.repo_tags.contains(&format!("{name}:latest"))),
        "a refused import left an image"
    );
    for folder in ["tmp", "layers"] {
        let left: Vec<_> = fs::read_dir(d.root().join("images").join(folder))
            .expect("image store folder")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert!(
            left.is_empty(),
            "a refused import left {left:?} in {folder}"
        );
    }
    message
}

/// The unpacked tree of the imported image `image` (its one layer).
fn rootfs(d: &Daemon, image: &str) -> PathBuf {
    d.image_layer_dir(image).join("fs")
}

#[test]
fn an_archive_cut_short_is_refused() {
    let d = Daemon::start();
    let whole = fs::read(busybox_tar()).expect("reading the busybox tar");
    // Cut where the 100th entry's header starts: a tar reader sees a clean end there.
    let cut = tar::Archive::new(&whole[..])
        .entries()
        .expect("entries")
        .nth(100)
        .expect("a 100th entry")
        .expect("entry")
        .raw_header_position() as usize;
    let message = refused(&d, &whole[..cut], 400, "invalid_archive");
    assert!(message.contains("cut short"), "{message}");
    let gz = gzip(&whole);
    let message = refused(&d, &gz[..gz.len() / 2], 400, "invalid_archive");
    assert!(message.contains("cut short"), "{message}");
    import(&d, "whole", &gz).expect_status(201);
}

#[test]
fn unsafe_entries_are_refused_naming_them() {
    let d = Daemon::start();
    let outside = d.dir().join("outside");
    fs::create_dir_all(&outside).expect("mkdir");

    let cases = [
        (EntryType::Regular, "../../escaped", "", "`..` component"),
        (
            EntryType::Link,
            "shadow",
            "../../../etc/shadow",
            "its target a `..`",
        ),
        (
            EntryType::Link,
            "passwd-link",
            "/etc/nonexistent",
            "not an entry written before it",
        ),
    ];
    for (kind, name, link, reason) in cases {
        let mut builder = busybox_builder();
        append_raw(&mut builder, kind, name, link);
        let archive = builder.into_inner().expect("tar");
        let message = refused(&d, &archive, 400, "invalid_archive");
        assert!(
            message.contains(&format!("entry {name:?}")) && message.contains(reason),
            "{message}"
        );
    }

    // Absolute names and entries under a symlink to a host folder land inside the image.
    let outside_name = outside.to_str().expect("utf-8");
    let mut builder = busybox_builder();
    append_raw(
        &mut builder,
        EntryType::Directory,
        &format!("{outside_name}/"),
        "",
    );
    append_raw(&mut builder, EntryType::Symlink, "evil", outside_name);
    let mut header = raw_header(EntryType::Regular, "evil/planted", "", 5);
    header.set_cksum();
    builder.append(&header, &b"owned"[..]).expect("append");
    append_raw(&mut builder, EntryType::Regular, "/absolute", "");
    import(&d, "resolved", &builder.into_inner().expect("tar")).expect_status(201);
    assert_eq!(
        fs::read_dir(&outside).expect("outside").count(),
        0,
        "wrote outside"
    );
    let inside = rootfs(&d, "resolved").join(outside_name.trim_start_matches('/'));
    assert_eq!(fs::read(inside.join("planted")).expect("planted"), b"owned");
    assert!(rootfs(&d, "resolved").join("absolute").is_file());
}

#[test]
fn the_image_keeps_owners_modes_nodes_and_capabilities() {
    let d = Daemon::start();
    // CAP_NET_RAW permitted and effective (a v2 security.capability).
    let capability: &[u8] = &[
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut builder = busybox_builder();
    let mut node = |kind, name: &str, mode, (major, minor)| {
        let mut header = raw_header(kind, name, "", 0);
        header.set_mode(mode);
        header.set_device_major(major).expect("major");
        header.set_device_minor(minor).expect("minor");
        header.set_cksum();
        builder.append(&header, &b""[..]).expect("append");
    };
    node(EntryType::Char, "opt/null", 0o666, (1, 3));
    node(EntryType::Block, "opt/loop9", 0o660, (7, 9));
    node(EntryType::Fifo, "opt/fifo", 0o620, (0, 0));
    let mut file = |name: &str, mode, owner: u64| {
        let mut header = raw_header(EntryType::Regular, name, "", 3);
        header.set_mode(mode);
        header.set_uid(owner);
        header.set_gid(owner);
        header.set_cksum();
        builder.append(&header, &b"hi\n"[..]).expect("append");
    };
    file("opt/setuid", 0o4755, 0);
    file("opt/owned", 0o640, 1000);
    let mut header = raw_header(EntryType::Regular, "opt/capable", "", 3);
    header.set_mode(0o755);
    header.set_cksum();
    append_pax(&mut builder, "SCHILY.xattr.security.capability", capability);
    builder.append(&header, &b"hi\n"[..]).expect("append");
    import(&d, "kept", &builder.into_inner().expect("tar")).expect_status(201);

    let root = rootfs(&d, "kept");
    let meta = |name: &str| fs::symlink_metadata(root.join(name)).expect(name);
    assert!(meta("opt/null").file_type().is_char_device());
    assert_eq!(meta("opt/null").rdev(), nix::sys::stat::makedev(1, 3));
    assert!(meta("opt/loop9").file_type().is_block_device());
    assert!(meta("opt/fifo").file_type().is_fifo());
    assert_eq!(meta("opt/fifo").mode() & 0o7777, 0o620);
    assert_eq!(meta("opt/setuid").mode() & 0o7777, 0o4755);
    let owned = meta("opt/owned");
    assert_eq!(
        (owned.uid(), owned.gid(), owned.mode() & 0o777),
        (1000, 1000, 0o640)
    );
    let out = conti_tests::run_command(
        std::process::Command::new("getcap").arg(root.join("opt/capable")),
        std::time::Duration::from_secs(10),
    );
    let caps = String::from_utf8_lossy(&out.stdout);
    assert!(caps.contains("cap_net_raw=ep"), "getcap: {caps}");

    // A container sees them as the image says: the null device works, the owner is kept.
    let mut spec = conti_tests::sh(
        "echo gone > /opt/null && stat -c '%F %u %a' /opt/null /opt/fifo /opt/owned /opt/setuid",
    );
    spec.image = "kept".to_string();
    let (_, code, output) = d.run(&spec);
    assert_eq!(
        (code, output.as_str()),
        (
            0,
            "character special file 0 666\nfifo 0 620\nregular file 1000 640\nregular file 0 4755\n"
        )
    );
}

/// A tmpfs mounted over the daemon's images folder, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> SmallDisk {
        nix::mount::mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .expect("mount tmpfs");
        SmallDisk(path.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_gzip_bomb_is_refused_with_no_space_and_leaves_nothing() {
    let mut d = Daemon::start();
    // The whole store on a small disk: the daemon opens it again there.
    let images = d.root().join("images");
    let disk = SmallDisk::mount(&images, "64m");
    d.restart();
    let used = |images: &std::path::Path| {
        let stat = nix::sys::statvfs::statvfs(images).expect("statvfs");
        stat.blocks() - stat.blocks_free()
    };
    let empty_store = used(&images);
    // 256 MiB of zeros: a quarter of a MiB compressed.
    let zeros = vec![0u8; 1 << 20];
    let mut builder = tar::Builder::new(Vec::new());
    for i in 0..256 {
        let mut header = raw_header(
            EntryType::Regular,
            &format!("zeros/{i}"),
            "",
            zeros.len() as u64,
        );
        header.set_cksum();
        builder.append(&header, &zeros[..]).expect("append");
    }
    let bomb = gzip(&builder.into_inner().expect("tar"));
    assert!(bomb.len() < 1 << 20, "the bomb weighs {}", bomb.len());
    let message = refused(&d, &bomb, 507, "no_space");
    assert!(
        message.contains("no space left on the state disk"),
        "{message}"
    );
    assert_eq!(
        used(&images),
        empty_store,
        "the refused import left data on the disk"
    );
    // The disk is usable again: a real image fits.
    d.import_busybox_as("after-the-bomb");
    drop(disk);
}

#[test]
fn an_image_whose_etc_is_a_symlink_is_refused_at_import() {
    let d = Daemon::start();
    let mut builder = busybox_builder_without(|path| path == "etc" || path.starts_with("etc/"));
    append_raw(&mut builder, EntryType::Directory, "usr/etc/", "");
    append_raw(&mut builder, EntryType::Symlink, "etc", "usr/etc");
    let message = refused(
        &d,
        &builder.into_inner().expect("tar"),
        400,
        "invalid_archive",
    );
    assert!(
        message.contains("/etc is a symlink (to usr/etc)"),
        "{message}"
    );
}

/// systemd images make `/etc/resolv.conf` a symlink to the resolver's file: the container gets
/// Conti's file there (in its own layer), and nothing is written through the symlink.
#[test]
fn an_image_whose_etc_files_are_symlinks_runs_with_contis_files() {
    let d = Daemon::start();
    let mut builder = busybox_builder_without(|path| {
        ["etc/resolv.conf", "etc/hosts", "etc/hostname"].contains(&path)
    });
    append_raw(
        &mut builder,
        EntryType::Symlink,
        "etc/resolv.conf",
        "../run/systemd/resolve/stub-resolv.conf",
    );
    append_raw(&mut builder, EntryType::Symlink, "etc/hosts", "/etc/passwd");
    append_raw(&mut builder, EntryType::Symlink, "etc/hostname", "hosts");
    import(&d, "linked-etc", &builder.into_inner().expect("tar")).expect_status(201);
    let mut spec = conti_tests::sh(
        "for f in resolv.conf hosts hostname; do [ -L /etc/$f ] || echo $f; done; \
         grep -q nameserver /etc/resolv.conf && echo nameserver; \
         grep -q localhost /etc/hosts && echo localhost; \
         [ \"$(cat /etc/hostname)\" = \"$(hostname)\" ] && echo hostname-matches",
    );
    spec.image = "linked-etc".to_string();
    let (_, code, output) = d.run(&spec);
    assert_eq!(
        (code, output.as_str()),
        (
            0,
            "resolv.conf\nhosts\nhostname\nnameserver\nlocalhost\nhostname-matches\n"
        )
    );
    let image = rootfs(&d, "linked-etc");
    assert!(
        fs::symlink_metadata(image.join("etc/resolv.conf"))
            .expect("the image's resolv.conf")
            .file_type()
            .is_symlink(),
        "the image itself was changed"
    );
    assert!(
        !image.join("run/systemd").exists(),
        "a file was created through the image's symlink"
    );
    assert!(
        fs::metadata(image.join("etc/passwd"))
            .expect("passwd")
            .len()
            > 0,
        "the image's /etc/passwd was written through its hosts symlink"
    );
}

#[test]
fn image_archives_are_refused_with_a_pointer_to_image_load() {
    let d = Daemon::start();
    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let layer = fs::read(busybox_tar()).expect("reading the busybox tar");
    let with_files = |files: &[(&str, &[u8])]| {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut header = raw_header(EntryType::Regular, name, "", data.len() as u64);
            header.set_cksum();
            builder.append(&header, *data).expect("append");
        }
        builder.into_inner().expect("tar")
    };
    let docker_save = with_files(&[
        (&format!("{ID}/VERSION"), b"1.0"),
        (&format!("{ID}/json"), b"{}"),
        (&format!("{ID}/layer.tar"), &layer),
        (&format!("{ID}.json"), b"{}"),
        (
            "manifest.json",
            format!(r#"[{{"Config":"{ID}.json","Layers":["{ID}/layer.tar"]}}]"#).as_bytes(),
        ),
    ]);
    let message = refused(&d, &docker_save, 400, "invalid_archive");
    assert!(
        message.contains("docker save") && message.contains("image load"),
        "{message}"
    );

    let oci = with_files(&[
        (&format!("blobs/sha256/{ID}"), &layer),
        ("index.json", br#"{"schemaVersion":2,"manifests":[]}"#),
        ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#),
    ]);
    let message = refused(&d, &gzip(&oci), 400, "invalid_archive");
    assert!(
        message.contains("OCI image layout") && message.contains("image load"),
        "{message}"
    );
}

#[test]
fn a_half_unpacked_import_left_by_a_crash_is_removed_at_start() {
    let mut d = Daemon::start();
    let stale = d.root().join("images/tmp/layer-stale");
    fs::create_dir_all(stale.join("fs/bin")).expect("mkdir");
    fs::write(stale.join("fs/bin/half"), b"half").expect("write");
    d.restart();
    assert!(!stale.exists(), "the half-unpacked import is still there");
    assert!(d.get("/v1/images").json::<Vec<ImageInfo>>().is_empty());
}

/// `change=` instructions, repeated, make the imported image's config, in order; a second
/// `name` is refused.
#[test]
fn import_changes_repeat_and_make_the_images_config() {
    let d = Daemon::start();
    let tar = fs::read(busybox_tar()).expect("the busybox tar");
    let name = unique_name("changed");
    let changes = [
        r#"CMD ["sh", "-c", "echo $GREETING from $(pwd)"]"#,
        "ENV GREETING=hello",
        "WORKDIR /tmp",
        "STOPSIGNAL SIGUSR1",
    ];
    let query: String = changes
        .iter()
        .map(|c| format!("&change={}", conti_tests::util::query_value(c)))
        .collect();
    let resp = d.client().post_bytes(
        &format!("/v1/images/import?name={name}{query}"),
        "application/x-tar",
        &tar,
    );
    resp.expect_status(201);
    let image: ImageInfo = resp.json();
    assert_eq!(image.config.stop_signal.as_deref(), Some("SIGUSR1"));
    let spec = conti_tests::ContainerSpec {
        image: name.clone(),
        network: conti_tests::NetworkMode::None,
        ..Default::default()
    };
    let (_, code, logs) = d.run(&spec);
    assert_eq!((code, logs.as_str()), (0, "hello from /tmp\n"));

    let twice = d.client().post_bytes(
        &format!("/v1/images/import?name={name}-a&name={name}-b"),
        "application/x-tar",
        &tar,
    );
    twice.expect_error(400, "invalid_argument");
}

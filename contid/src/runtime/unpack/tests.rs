//! The unpacker on a real filesystem, with archives written block by block (the `tar` crate's
//! builder refuses the malicious names these need). Needs root (owners, devices, `trusted.*`).

use std::io::{Cursor, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::*;

/// A tar written entry by entry.
#[derive(Default)]
struct Archive {
    bytes: Vec<u8>,
}

impl Archive {
    fn entry(&mut self, kind: EntryType, name: &[u8], data: &[u8], set: impl FnOnce(&mut Header)) {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_600_000_000);
        header.as_mut_bytes()[..name.len()].copy_from_slice(name);
        set(&mut header);
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(data);
        self.bytes.resize(self.bytes.len().next_multiple_of(512), 0);
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(EntryType::Regular, name.as_bytes(), data, |_| {});
        self
    }

    fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.entry(EntryType::Directory, name.as_bytes(), b"", |h| {
            h.set_mode(mode)
        });
        self
    }

    /// A symlink or a hard link; the target goes into the header's link name as is.
    fn link(&mut self, kind: EntryType, name: &str, target: &str) -> &mut Self {
        self.entry(kind, name.as_bytes(), b"", |h| {
            h.as_mut_bytes()[157..157 + target.len()].copy_from_slice(target.as_bytes());
        });
        self
    }

    /// PAX records for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            let body = [format!(" {key}=").as_bytes(), value, b"\n"].concat();
            // The length counts itself.
            let mut length = body.len() + 1;
            while format!("{length}").len() + body.len() != length {
                length += 1;
            }
            data.extend_from_slice(format!("{length}").as_bytes());
            data.extend_from_slice(&body);
        }
        self.entry(EntryType::XHeader, b"PaxHeader", &data, |_| {});
        self
    }

    fn finished(&self) -> Vec<u8> {
        [&self.bytes[..], &[0; 1024]].concat()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

const IMPORT: UnpackOptions = UnpackOptions {
    overlay_whiteouts: false,
    refuse_image_archives: true,
    allow_empty: false,
};
const LAYER: UnpackOptions = UnpackOptions {
    overlay_whiteouts: true,
    refuse_image_archives: false,
    allow_empty: false,
};

/// A folder for one test; the unpack goes to `<it>/rootfs`.
fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("rootfs");
    (dir, target)
}

fn unpack_bytes(
    bytes: Vec<u8>,
    target: &Path,
    options: UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    unpack(Cursor::new(bytes), target, options)
}

#[test]
fn keeps_owners_modes_times_links_nodes_and_xattrs() {
    let (_dir, target) = workspace();
    // v2 file capability: CAP_NET_RAW (13) permitted and effective.
    let capability: &[u8] = &[
        1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut archive = Archive::default();
    archive
        .dir("./", 0o755)
        .dir("opt/", 0o555)
        .file("opt/setuid", b"#!/bin/sh\n");
    archive.entry(EntryType::Regular, b"opt/owned", b"data", |h| {
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_mode(0o640);
        h.set_mtime(1_000_000);
    });
    archive.entry(EntryType::Regular, b"opt/setuid", b"#!/bin/sh\n", |h| {
        h.set_mode(0o4755)
    });
    archive.dir("tmp/", 0o1777).dir("shared/", 0o2775);
    archive
        .link(EntryType::Link, "opt/hardlink", "opt/owned")
        .link(EntryType::Symlink, "bin", "/usr/bin");
    archive.entry(EntryType::Char, b"dev-null", b"", |h| {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_mode(0o666);
    });
    archive.entry(EntryType::Block, b"loop0", b"", |h| {
        h.set_device_major(7).unwrap();
        h.set_device_minor(0).unwrap();
        h.set_mode(0o660);
        h.set_gid(6);
    });
    archive.entry(EntryType::Fifo, b"fifo", b"", |h| h.set_mode(0o600));
    archive.pax(&[
        ("SCHILY.xattr.security.capability", capability),
        ("SCHILY.xattr.user.comment", b"kept"),
        ("mtime", b"1500000000.25"),
    ]);
    archive.file("ping", b"\x7fELF");
    // Written after its contents, the folder's mtime must still be the archive's.
    archive.entry(EntryType::Directory, b"opt/", b"", |h| {
        h.set_mode(0o555);
        h.set_mtime(2_000_000);
    });

    let unpacked = unpack_bytes(archive.finished(), &target, IMPORT).unwrap();
    assert_eq!(unpacked.size, 4 + 10 + 10 + 4);

    let meta = |path: &str| std::fs::symlink_metadata(target.join(path)).unwrap();
    let owned = meta("opt/owned");
    assert_eq!(
        (owned.uid(), owned.gid(), owned.mode() & 0o7777),
        (1234, 5678, 0o640)
    );
    assert_eq!(owned.mtime(), 1_000_000);
    assert_eq!(meta("opt/setuid").mode() & 0o7777, 0o4755);
    assert_eq!((meta("opt/setuid").uid(), meta("opt/setuid").gid()), (0, 0));
    assert_eq!(meta("tmp").mode() & 0o7777, 0o1777);
    assert_eq!(meta("shared").mode() & 0o7777, 0o2775);
    let opt = meta("opt");
    assert_eq!((opt.mode() & 0o7777, opt.mtime()), (0o555, 2_000_000));
    assert_eq!(meta("opt/hardlink").ino(), owned.ino());
    assert_eq!(owned.nlink(), 2);
    assert_eq!(
        std::fs::read_link(target.join("bin")).unwrap(),
        Path::new("/usr/bin")
    );
    let null = meta("dev-null");
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (rustix::fs::makedev(1, 3), 0o666)
    );
    let loop0 = meta("loop0");
    assert!(loop0.file_type().is_block_device());
    assert_eq!((loop0.rdev(), loop0.gid()), (rustix::fs::makedev(7, 0), 6));
    assert!(meta("fifo").file_type().is_fifo());
    let ping = meta("ping");
    assert_eq!(
        (ping.mtime(), ping.mtime_nsec()),
        (1_500_000_000, 250_000_000)
    );
    let mut value = vec![0u8; 64];
    let n = rustix::fs::getxattr(target.join("ping"), "security.capability", &mut value).unwrap();
    assert_eq!(&value[..n], capability);
    let n = rustix::fs::getxattr(target.join("ping"), "user.comment", &mut value).unwrap();
    assert_eq!(&value[..n], b"kept");
}

#[test]
fn dot_dot_entries_are_refused_and_name_the_entry() {
    for (name, archive) in [
        (
            "../escape",
            Archive::default().file("../escape", b"x").finished(),
        ),
        (
            "a/../../escape",
            Archive::default().file("a/../../escape", b"x").finished(),
        ),
        (
            "link",
            Archive::default()
                .file("file", b"x")
                .link(EntryType::Link, "link", "../../etc/passwd")
                .finished(),
        ),
        (
            ".wh...",
            Archive::default()
                .dir("d/", 0o755)
                .file("d/.wh...", b"")
                .finished(),
        ),
    ] {
        let (dir, target) = workspace();
        let options = if name.contains(".wh.") { LAYER } else { IMPORT };
        let err = unpack_bytes(archive, &target, options).unwrap_err();
        assert!(
            matches!(&err, UnpackError::Refused { entry, .. } if entry.ends_with(name)),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(".."), "{err}");
        assert!(!target.exists(), "a refused archive left its target");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[test]
fn absolute_names_and_symlinked_parents_resolve_inside_the_target() {
    let (dir, target) = workspace();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let outside_name = outside.to_str().unwrap();
    let mut archive = Archive::default();
    archive
        .file("/abs", b"absolute")
        .dir(&format!("{outside_name}/"), 0o755)
        .link(EntryType::Symlink, "evil", outside_name)
        .file("evil/through-absolute", b"x")
        .link(EntryType::Symlink, "up", "../../../..")
        .file("up/through-relative", b"y")
        .link(EntryType::Link, "evil/hardlink", "up/abs");
    unpack_bytes(archive.finished(), &target, IMPORT).unwrap();
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "wrote outside"
    );
    assert_eq!(std::fs::read(target.join("abs")).unwrap(), b"absolute");
    let inside = target.join(outside_name.trim_start_matches('/'));
    assert_eq!(
        std::fs::read(inside.join("through-absolute")).unwrap(),
        b"x"
    );
    assert_eq!(
        std::fs::read(target.join("through-relative")).unwrap(),
        b"y"
    );
    assert_eq!(
        std::fs::metadata(inside.join("hardlink")).unwrap().ino(),
        std::fs::metadata(target.join("abs")).unwrap().ino()
    );

    // A symlink that leads nowhere inside the target is no parent.
    let (_dir, target) = workspace();
    let mut archive = Archive::default();
    archive
        .link(EntryType::Symlink, "dangling", outside_name)
        .file("dangling/file", b"x");
    let err = unpack_bytes(archive.finished(), &target, IMPORT).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"dangling/file\": a parent of it is a symlink that leads nowhere"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "wrote outside"
    );
}

#[test]
fn hard_links_must_point_at_files_written_before() {
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "missing",
            Archive::default()
                .link(EntryType::Link, "link", "/etc/shadow")
                .finished(),
            "is not an entry written before it",
        ),
        (
            "folder",
            Archive::default()
                .dir("d/", 0o755)
                .link(EntryType::Link, "link", "d")
                .finished(),
            "a hard link to the folder",
        ),
        (
            "root",
            Archive::default()
                .link(EntryType::Link, "link", "./")
                .finished(),
            "a hard link to the root",
        ),
    ];
    for (case, archive, reason) in cases {
        let (_dir, target) = workspace();
        let err = unpack_bytes(archive, &target, IMPORT).unwrap_err();
        assert!(
            matches!(&err, UnpackError::Refused { entry, .. } if entry == "link"),
            "{case}: {err}"
        );
        assert!(err.to_string().contains(reason), "{case}: {err}");
        assert!(!target.exists());
    }
}

#[test]
fn later_entries_replace_earlier_ones_but_not_full_folders() {
    let (_dir, target) = workspace();
    let mut archive = Archive::default();
    archive
        .file("a", b"first")
        .file("a", b"second")
        .link(EntryType::Symlink, "b", "a")
        .dir("b/", 0o700)
        .file("b/inside", b"x")
        .dir("b/", 0o750);
    unpack_bytes(archive.finished(), &target, IMPORT).unwrap();
    assert_eq!(std::fs::read(target.join("a")).unwrap(), b"second");
    let b = std::fs::symlink_metadata(target.join("b")).unwrap();
    assert!(b.is_dir());
    assert_eq!(b.mode() & 0o7777, 0o750);

    let (_dir, target) = workspace();
    let mut archive = Archive::default();
    archive.file("d/file", b"x").file("d", b"not a folder");
    let err = unpack_bytes(archive.finished(), &target, IMPORT).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn archives_cut_short_are_refused() {
    let mut archive = Archive::default();
    archive.file("one", b"1").file("two", &[2; 2000]);
    let whole = archive.finished();
    let header_end = 512 * 2;
    let in_data = 512 * 3 + 100;
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "at a header",
            whole[..header_end].to_vec(),
            "without the two zero blocks",
        ),
        (
            "in the data",
            whole[..in_data].to_vec(),
            "cut short in the data of entry \"two\"",
        ),
        (
            "in a header",
            whole[..header_end + 100].to_vec(),
            "failed to read entire block",
        ),
        (
            "between the end blocks",
            whole[..whole.len() - 512].to_vec(),
            "one zero block of the two",
        ),
        (
            "gzip",
            gzip(&whole)[..gzip(&whole).len() - 12].to_vec(),
            "cut short",
        ),
        ("empty", Vec::new(), "holds no files"),
    ];
    for (case, bytes, message) in cases {
        let (dir, target) = workspace();
        let err = unpack_bytes(bytes, &target, IMPORT).unwrap_err();
        assert!(
            matches!(err, UnpackError::Invalid(_)) && err.to_string().contains(message),
            "{case}: {err}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{case}");
    }

    // A second archive after the end of the first is not silently dropped.
    let (_dir, target) = workspace();
    let mut second = Archive::default();
    second.file("three", b"3");
    let concatenated = [&archive.bytes[..], &[0; 512], &second.finished()[..]].concat();
    let err = unpack_bytes(concatenated, &target, IMPORT).unwrap_err();
    assert!(err.to_string().contains("lone zero block"), "{err}");

    // Whole archives pass, gzip or not, with the padding tar writers add.
    let (_dir, target) = workspace();
    let padded = [&whole[..], &[0; 8192]].concat();
    assert_eq!(
        unpack_bytes(gzip(&padded), &target, IMPORT)
            .unwrap()
            .entries,
        2
    );
}

/// A tmpfs of `size` mounted for one test, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size}").as_str()),
        )
        .unwrap();
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(self.0.path(), nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_gzip_bomb_stops_at_the_reserve_and_leaves_nothing() {
    let tmpfs = Tmpfs::mount("16m");
    // 64 MiB of zeros in 64 files: a few hundred KiB once compressed.
    let mut archive = Archive::default();
    let zeros = vec![0u8; 1 << 20];
    for i in 0..64 {
        archive.file(&format!("zeros-{i}"), &zeros);
    }
    let bomb = gzip(&archive.finished());
    assert!(bomb.len() < 1 << 20);
    let target = tmpfs.0.path().join("rootfs");
    let err = unpack_bytes(bomb, &target, IMPORT).unwrap_err();
    let UnpackError::NoSpace {
        entry,
        room: Some(room),
    } = &err
    else {
        panic!("{err}");
    };
    assert!(entry.starts_with("zeros-"), "{err}");
    assert_eq!(room.reserve, (16 << 20) / 20);
    assert_eq!(std::fs::read_dir(tmpfs.0.path()).unwrap().count(), 0);
    let stat = rustix::fs::statvfs(tmpfs.0.path()).unwrap();
    assert_eq!(stat.f_bfree, stat.f_blocks, "the tmpfs was not emptied");

    // One entry declaring more than there is is refused before a byte is written.
    let mut huge = Archive::default();
    huge.entry(EntryType::Regular, b"huge", b"", |h| h.set_size(1 << 40));
    let err = unpack_bytes(huge.bytes.clone(), &target, IMPORT).unwrap_err();
    assert!(err.to_string().contains("\"huge\""), "{err}");
}

#[test]
fn whiteouts_hide_the_lower_layers_files_in_an_overlay() {
    let dir = tempfile::tempdir().unwrap();
    let lower = dir.path().join("lower");
    let upper = dir.path().join("upper");
    let mut base = Archive::default();
    base.file("a/keep", b"kept")
        .file("a/gone", b"deleted above")
        .file("dir/old", b"hidden by the opaque folder");
    unpack_bytes(base.finished(), &lower, LAYER).unwrap();
    let mut top = Archive::default();
    top.file("a/.wh.gone", b"")
        .dir("dir/", 0o755)
        .file("dir/.wh..wh..opq", b"")
        .file("dir/new", b"new")
        .file("a/.wh..wh.plnk", b"");
    unpack_bytes(top.finished(), &upper, LAYER).unwrap();

    let whiteout = std::fs::symlink_metadata(upper.join("a/gone")).unwrap();
    assert!(whiteout.file_type().is_char_device());
    assert_eq!((whiteout.rdev(), whiteout.uid(), whiteout.gid()), (0, 0, 0));
    let mut value = [0u8; 4];
    let n = rustix::fs::getxattr(upper.join("dir"), tree::OPAQUE_XATTR, &mut value).unwrap();
    assert_eq!(&value[..n], b"y");
    assert!(!upper.join("a/.wh..wh.plnk").exists());

    let merged = dir.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    nix::mount::mount(
        Some("overlay"),
        &merged,
        Some("overlay"),
        nix::mount::MsFlags::MS_RDONLY,
        Some(format!("lowerdir={}:{}", upper.display(), lower.display()).as_str()),
    )
    .unwrap();
    let seen = |path: &str| std::fs::read(merged.join(path)).ok();
    let names = |path: &str| {
        let mut names: Vec<_> = std::fs::read_dir(merged.join(path))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let (keep, gone, a, d) = (seen("a/keep"), seen("a/gone"), names("a"), names("dir"));
    nix::mount::umount2(&merged, nix::mount::MntFlags::MNT_DETACH).unwrap();
    assert_eq!(keep.as_deref(), Some(&b"kept"[..]));
    assert_eq!(gone, None);
    assert_eq!(a, ["keep"]);
    assert_eq!(d, ["new"]);

    // Without the option, whiteouts are files like any other.
    let (_dir, target) = workspace();
    unpack_bytes(top.finished(), &target, IMPORT).unwrap();
    assert!(target.join("a/.wh.gone").is_file());
}

#[test]
fn image_archives_are_refused_as_soon_as_recognised() {
    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut docker_save = Archive::default();
    docker_save
        .dir(&format!("{ID}/"), 0o755)
        .file(&format!("{ID}/layer.tar"), b"")
        .file("manifest.json", b"[]")
        .file("repositories", b"{}");
    let mut oci = Archive::default();
    oci.file("blobs/sha256/0123", b"{}")
        .file("index.json", b"{}")
        .file("oci-layout", b"{\"imageLayoutVersion\":\"1.0.0\"}");
    for (archive, kind) in [
        (docker_save, ImageArchive::DockerSave),
        (oci, ImageArchive::OciLayout),
    ] {
        let (_dir, target) = workspace();
        let err = unpack_bytes(archive.finished(), &target, IMPORT).unwrap_err();
        assert!(
            matches!(err, UnpackError::ImageArchive(k) if k == kind),
            "{err}"
        );
        assert!(err.to_string().contains("image load"), "{err}");
        assert!(!target.exists());
        // A layer is not an import: it takes such names as files.
        let (_dir, target) = workspace();
        unpack_bytes(archive.finished(), &target, LAYER).unwrap();
    }
}

#[test]
fn unknown_entry_types_and_compressions_are_named() {
    let (_dir, target) = workspace();
    let mut archive = Archive::default();
    archive.entry(EntryType::new(b'V'), b"volume-label", b"", |_| {});
    let err = unpack_bytes(archive.finished(), &target, IMPORT).unwrap_err();
    assert!(err.to_string().contains("volume-label"), "{err}");

    let (_dir, target) = workspace();
    let xz = vec![0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0];
    let err = unpack_bytes(xz, &target, IMPORT).unwrap_err();
    assert!(err.to_string().contains("xz"), "{err}");
}

#[test]
fn zstd_layers_unpack_and_their_diff_id_is_the_tars_sha256() {
    use sha2::Digest;
    let (_dir, target) = workspace();
    let mut archive = Archive::default();
    archive.entry(EntryType::Regular, b"hello", b"hi\n", |_| {});
    let tar = archive.finished();
    let compressed = zstd::stream::encode_all(tar.as_slice(), 3).unwrap();
    let unpacked = unpack_bytes(compressed, &target, LAYER).unwrap();
    assert_eq!(std::fs::read(target.join("hello")).unwrap(), b"hi\n");
    let expected: [u8; 32] = sha2::Sha256::digest(&tar).into();
    assert_eq!(unpacked.tar_sha256, expected);
}

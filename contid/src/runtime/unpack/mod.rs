//! The one unpacker of tar archives: `image import` of a root filesystem, and each layer of an
//! OCI image. It streams (nothing of the archive is kept but the entry being written) and keeps
//! what the archive says: owners (numeric, never looked up by name), modes with setuid, setgid
//! and sticky, mtimes, hard links, symlinks, character and block devices, fifos, extended
//! attributes (PAX `SCHILY.xattr.*`, `security.capability` included); folders get their mode and
//! mtime after their contents.
//!
//! It refuses what is broken or unsafe, naming the entry:
//! - a `..` component (in a name or a hard link's target) is refused; an absolute name is
//!   resolved inside the target (as GNU tar strips the leading `/`);
//! - parents are resolved inside the target (`openat2(RESOLVE_IN_ROOT)`, see `tree`): an entry
//!   under a symlink the archive made (`evil -> /etc`, then `evil/passwd`) lands inside the
//!   target (`<target>/etc/passwd`), as it would be seen inside a container;
//! - a hard link's target is resolved the same way and must be an entry written before it, and
//!   not a folder;
//! - an archive cut short (no end-of-archive blocks, a gzip or zstd stream without its end) or
//!   corrupt,
//!   an entry type it does not know;
//! - more data than the filesystem has room for, keeping a reserve (see `space`);
//! - with [`UnpackOptions::refuse_image_archives`], a `docker save` archive or an OCI layout.
//!
//! With [`UnpackOptions::overlay_whiteouts`] (layers), `.wh.NAME` becomes an overlayfs whiteout
//! (a 0:0 character device) and `.wh..wh..opq` marks its folder opaque
//! (`trusted.overlay.opaque=y`); without, they are ordinary files.
//!
//! The target is a new folder; on any error it is removed with everything written, so the
//! caller renames a complete tree into place or has nothing.

mod archive_stream;
mod entry_name;
mod image_layout;
mod root_folders;
mod space;
mod tree;

#[cfg(test)]
mod tests;

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::io::Errno;
use tar::EntryType;

pub use image_layout::ImageArchive;
pub use root_folders::check_root_folders;
pub use space::NoRoom;

use entry_name::Whiteout;
use image_layout::LayoutDetector;
use space::{SpaceBudget, SpaceError};
use tree::{HardLinkError, Metadata, Node, Tree, WriteError};

#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackOptions {
    /// `.wh.*` entries are overlayfs whiteouts (image layers), not files.
    pub overlay_whiteouts: bool,
    /// Stop at the first sign of a `docker save` archive or an OCI image layout (`image
    /// import` takes root filesystems only).
    pub refuse_image_archives: bool,
    /// An archive with no entry is fine (an image layer may change nothing).
    pub allow_empty: bool,
}

/// What was unpacked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// Bytes of regular files.
    pub size: u64,
    /// Entries written (links and folders included).
    pub entries: u64,
    /// sha256 of the tar, uncompressed: an image layer's diff id.
    pub tar_sha256: [u8; 32],
    /// Bytes of the tar, uncompressed.
    pub tar_size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The archive is no tar, is cut short or corrupt.
    #[error("{0}")]
    Invalid(String),
    /// An entry the unpacker refuses.
    #[error("entry {entry:?}: {reason}")]
    Refused { entry: String, reason: String },
    #[error("{} is an image archive, not a root filesystem: `image load` reads such archives, \
             `image import` takes a tar of a root filesystem", .0.description())]
    ImageArchive(ImageArchive),
    /// The filesystem has no room for the entry: the free space seen beyond the reserve, or
    /// `None` when the kernel said so (`ENOSPC`, `EDQUOT`).
    #[error("no space left on the state disk for entry {entry:?}{}", room_left(.room))]
    NoSpace { entry: String, room: Option<NoRoom> },
    /// A fault of the host, not of the archive.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn room_left(room: &Option<NoRoom>) -> String {
    room.map(|room| {
        format!(
            ": it needs {} bytes, {} are free beyond the {} kept in reserve",
            room.needed, room.available, room.reserve
        )
    })
    .unwrap_or_default()
}

/// Unpacks `archive` (tar, or tar compressed with gzip or zstd) into `target`, a folder this creates
/// (its parent must exist). On error nothing of `target` is left.
pub fn unpack(
    archive: impl Read + 'static,
    target: &Path,
    options: UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    std::fs::create_dir(target).map_err(|source| UnpackError::Io {
        context: format!("create {}", target.display()),
        source,
    })?;
    let result = unpack_into(archive, target, options);
    if result.is_err() {
        // Folders may have been made read-only by the archive: root removes them all the same.
        if let Err(e) = std::fs::remove_dir_all(target) {
            tracing::warn!(target = %target.display(), error = %e, "removing a failed unpack");
        }
    }
    result
}

fn unpack_into(
    archive: impl Read + 'static,
    target: &Path,
    options: UnpackOptions,
) -> Result<Unpacked, UnpackError> {
    let stream = archive_stream::open(archive).map_err(UnpackError::Invalid)?;
    let mut tree =
        Tree::open(target).map_err(|e| host_error(format!("open {}", target.display()), e))?;
    let mut unpacker = Unpacker {
        tree: &mut tree,
        space: SpaceBudget::new(),
        layout: LayoutDetector::default(),
        options,
        unpacked: Unpacked::default(),
    };
    let mut tar = tar::Archive::new(stream);
    let mut last = None::<String>;
    let entries = tar
        .entries()
        .map_err(|e| UnpackError::Invalid(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| {
            let after = last
                .as_ref()
                .map(|name| format!(" after entry {name:?}"))
                .unwrap_or_default();
            UnpackError::Invalid(format!("{}{after}", archive_stream::read_failure(&e)))
        })?;
        last = Some(unpacker.entry(entry)?);
    }
    let mut unpacked = unpacker.unpacked;
    let stream = tar.into_inner();
    if last.is_none() && !options.allow_empty {
        return Err(UnpackError::Invalid("the archive holds no files".into()));
    }
    (unpacked.tar_sha256, unpacked.tar_size) = stream.finish().map_err(UnpackError::Invalid)?;
    tree.finish()
        .map_err(|e| host_error("set the folders' modes and times".into(), e))?;
    Ok(unpacked)
}

struct Unpacker<'a> {
    tree: &'a mut Tree,
    space: SpaceBudget,
    layout: LayoutDetector,
    options: UnpackOptions,
    unpacked: Unpacked,
}

impl Unpacker<'_> {
    /// Writes one entry; returns its name.
    fn entry(&mut self, mut entry: tar::Entry<'_, impl Read>) -> Result<String, UnpackError> {
        let raw_name = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw_name).into_owned();
        let refused = |reason: &str| UnpackError::Refused {
            entry: display.clone(),
            reason: reason.to_string(),
        };
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            return Ok(display);
        }
        let components = entry_name::components(&raw_name).map_err(|e| refused(e.reason()))?;
        let is_file = matches!(
            kind,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
        );
        if self.options.refuse_image_archives
            && let Some(layout) = self.layout.observe(&components, is_file)
        {
            return Err(UnpackError::ImageArchive(layout));
        }
        let metadata = metadata(&mut entry).map_err(|e| refused(&e))?;
        let Some((name, parent_path)) = components.split_last() else {
            if kind == EntryType::Directory {
                self.tree
                    .make_dir(&[], None, &metadata)
                    .map_err(|e| entry_error(&display, e))?;
                return Ok(display);
            }
            return Err(refused("only a folder can name the root"));
        };
        if self.options.overlay_whiteouts
            && let Some(whiteout) = entry_name::whiteout(name).map_err(|e| refused(e.reason()))?
        {
            self.whiteout(parent_path, whiteout)
                .map_err(|e| entry_error(&display, e))?;
            return Ok(display);
        }
        self.take_space(&display, if is_file { entry.size() } else { 0 })?;
        match kind {
            _ if is_file => self.file(&mut entry, parent_path, name, &metadata, &display)?,
            EntryType::Directory => self
                .tree
                .make_dir(parent_path, Some(name), &metadata)
                .map_err(|e| entry_error(&display, e))?,
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refused("a symlink without a target"))?
                    .into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(refused(
                        "a symlink with an empty target or a NUL byte in it",
                    ));
                }
                let parent = self.parent(parent_path, &display)?;
                self.tree
                    .make_symlink(parent.as_fd(), name, &target, &metadata)
                    .map_err(|e| entry_error(&display, e))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| refused("a hard link without a target"))?
                    .into_owned();
                let target_components = entry_name::components(&target)
                    .map_err(|e| refused(&format!("its target {}", e.reason())))?;
                let parent = self.parent(parent_path, &display)?;
                self.tree
                    .make_hard_link(parent.as_fd(), name, &target_components)
                    .map_err(|e| hard_link_error(&display, &target, e))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let node = node(&entry, kind).map_err(|e| refused(&e))?;
                let parent = self.parent(parent_path, &display)?;
                self.tree
                    .make_node(parent.as_fd(), name, node, &metadata)
                    .map_err(|e| entry_error(&display, e))?;
            }
            other => {
                return Err(refused(&format!(
                    "entry type {:?} ({:?}) is not unpacked",
                    other,
                    other.as_byte() as char
                )));
            }
        }
        self.unpacked.entries += 1;
        Ok(display)
    }

    fn file(
        &mut self,
        entry: &mut tar::Entry<'_, impl Read>,
        parent_path: &[&[u8]],
        name: &[u8],
        metadata: &Metadata,
        display: &str,
    ) -> Result<(), UnpackError> {
        let size = entry.size();
        let parent = self.parent(parent_path, display)?;
        let written = self
            .tree
            .write_file(parent.as_fd(), name, entry, size, metadata)
            .map_err(|e| match e {
                WriteError::Read(e) => UnpackError::Invalid(format!(
                    "{}, in the data of entry {display:?}",
                    archive_stream::read_failure(&e)
                )),
                WriteError::Write(errno) => entry_error(display, errno),
            })?;
        if written < size {
            return Err(UnpackError::Invalid(format!(
                "the archive is cut short in the data of entry {display:?} ({written} of its \
                 {size} bytes)"
            )));
        }
        self.unpacked.size += size;
        Ok(())
    }

    fn whiteout(&mut self, parent_path: &[&[u8]], whiteout: Whiteout<'_>) -> Result<(), Errno> {
        match whiteout {
            Whiteout::AufsMetadata => Ok(()),
            Whiteout::Opaque => Tree::make_opaque(self.tree.parent(parent_path)?.as_fd()),
            Whiteout::Hide(hidden) => {
                let parent = self.tree.parent(parent_path)?;
                self.tree.make_whiteout(parent.as_fd(), hidden)
            }
        }
    }

    fn parent(
        &mut self,
        parent_path: &[&[u8]],
        display: &str,
    ) -> Result<std::rc::Rc<std::os::fd::OwnedFd>, UnpackError> {
        self.tree
            .parent(parent_path)
            .map_err(|e| entry_error(display, e))
    }

    fn take_space(&mut self, display: &str, size: u64) -> Result<(), UnpackError> {
        self.space
            .take(self.tree.root(), size)
            .map_err(|e| match e {
                SpaceError::NoRoom(room) => UnpackError::NoSpace {
                    entry: display.to_string(),
                    room: Some(room),
                },
                SpaceError::Stat(errno) => host_error("statvfs of the target".into(), errno),
            })
    }
}

/// Owner, mode, mtime and extended attributes of an entry, PAX records included.
fn metadata(entry: &mut tar::Entry<'_, impl Read>) -> Result<Metadata, String> {
    let header = entry.header();
    let field = |what: &str, e: std::io::Error| format!("unreadable {what} in its header: {e}");
    let uid = header.uid().map_err(|e| field("uid", e))?;
    let gid = header.gid().map_err(|e| field("gid", e))?;
    let mode = header.mode().map_err(|e| field("mode", e))? & 0o7777;
    let mut mtime = rustix::fs::Timespec {
        tv_sec: header.mtime().map_err(|e| field("mtime", e))? as i64,
        tv_nsec: 0,
    };
    let (uid, gid) = (
        u32::try_from(uid).map_err(|_| format!("uid {uid} is out of range"))?,
        u32::try_from(gid).map_err(|_| format!("gid {gid} is out of range"))?,
    );
    let mut xattrs = Vec::new();
    if let Some(extensions) = entry
        .pax_extensions()
        .map_err(|e| format!("unreadable PAX records: {e}"))?
    {
        for extension in extensions {
            let extension = extension.map_err(|e| format!("unreadable PAX record: {e}"))?;
            let key = extension.key_bytes();
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                xattrs.push((name.to_vec(), extension.value_bytes().to_vec()));
            } else if key == b"mtime" {
                mtime = pax_time(extension.value_bytes()).unwrap_or(mtime);
            }
        }
    }
    Ok(Metadata {
        uid,
        gid,
        mode,
        mtime,
        xattrs,
    })
}

/// A PAX time, `SECONDS[.FRACTION]`.
fn pax_time(value: &[u8]) -> Option<rustix::fs::Timespec> {
    let value = std::str::from_utf8(value).ok()?;
    let (seconds, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits: String = fraction.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(rustix::fs::Timespec {
        tv_sec: seconds.parse().ok()?,
        tv_nsec: format!("{digits:0<9}").parse().ok()?,
    })
}

fn node(entry: &tar::Entry<'_, impl Read>, kind: EntryType) -> Result<Node, String> {
    if kind == EntryType::Fifo {
        return Ok(Node::Fifo);
    }
    let header = entry.header();
    let number = |n: std::io::Result<Option<u32>>| {
        n.map_err(|e| format!("unreadable device number: {e}"))
            .map(Option::unwrap_or_default)
    };
    let (major, minor) = (
        number(header.device_major())?,
        number(header.device_minor())?,
    );
    Ok(if kind == EntryType::Char {
        Node::CharDevice { major, minor }
    } else {
        Node::BlockDevice { major, minor }
    })
}

/// A failed syscall while writing an entry: the archive's fault when what it asks cannot be
/// (a file as a parent, a symlink loop, a non-empty folder replaced), else the host's.
fn entry_error(entry: &str, errno: Errno) -> UnpackError {
    let reason = match errno {
        Errno::NOSPC | Errno::DQUOT => {
            return UnpackError::NoSpace {
                entry: entry.to_string(),
                room: None,
            };
        }
        Errno::NOTDIR => "a parent of it is not a folder",
        Errno::LOOP => "its path goes through a symlink loop",
        Errno::NOTEMPTY => "it would replace a folder that is not empty",
        Errno::EXIST => "a parent of it is a symlink that leads nowhere",
        Errno::NAMETOOLONG => "its name is too long",
        Errno::INVAL => "the kernel refuses this name or node",
        _ => return host_error(format!("write entry {entry:?}"), errno),
    };
    UnpackError::Refused {
        entry: entry.to_string(),
        reason: reason.to_string(),
    }
}

fn hard_link_error(entry: &str, target: &[u8], error: HardLinkError) -> UnpackError {
    let target = String::from_utf8_lossy(target);
    let reason = match error {
        HardLinkError::ToRoot => format!("a hard link to the root ({target:?})"),
        HardLinkError::ToDirectory => format!("a hard link to the folder {target:?}"),
        HardLinkError::Target(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {
            format!("its hard link target {target:?} is not an entry written before it")
        }
        HardLinkError::Target(errno) | HardLinkError::Link(errno) => {
            return entry_error(entry, errno);
        }
    };
    UnpackError::Refused {
        entry: entry.to_string(),
        reason,
    }
}

fn host_error(context: String, errno: Errno) -> UnpackError {
    UnpackError::Io {
        context,
        source: errno.into(),
    }
}

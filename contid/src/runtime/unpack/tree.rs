//! The target folder, written through file descriptors only. Parent folders are resolved with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the target's root, so a symlink the
//! archive made earlier (`evil -> /etc`) resolves as it would inside a container, never outside
//! the target; the last component is created relative to its parent's fd and never followed
//! (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, or calls that do not follow: `mkdirat`, `symlinkat`,
//! `mknodat`, `linkat` without `AT_SYMLINK_FOLLOW`).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timestamps, Uid, XattrFlags};
use rustix::io::Errno;

use super::entry_name::join;

const IN_ROOT: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);
/// How often an `openat2` that met a concurrent rename or mount elsewhere (`EAGAIN`: the kernel
/// cannot vouch for a `..` of a symlink then) is tried again.
const RESOLVE_ATTEMPTS: usize = 128;
/// A folder, opened; a symlink as the last component is not followed.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
/// Folders the archive does not list but its entries need.
const IMPLICIT_DIR_MODE: u32 = 0o755;

/// Owner, mode, times and extended attributes, as an entry gives them.
#[derive(Debug, Clone, Default)]
pub(super) struct Metadata {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub mtime: rustix::fs::Timespec,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A node that is neither a file, a folder nor a link.
#[derive(Debug, Clone, Copy)]
pub(super) enum Node {
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
    Fifo,
}

/// A folder's mode and times, applied once everything inside it is written: a read-only folder
/// stays writable meanwhile, and its mtime is not moved by its own contents.
struct DirectoryFinish {
    path: Vec<u8>,
    mode: u32,
    mtime: rustix::fs::Timespec,
}

pub(super) struct Tree {
    root: Rc<OwnedFd>,
    /// The last parent folder resolved, by its path: consecutive entries mostly share one.
    parent: Option<(Vec<u8>, Rc<OwnedFd>)>,
    directories: Vec<DirectoryFinish>,
    buffer: Vec<u8>,
}

impl Tree {
    pub(super) fn open(root: &Path) -> Result<Tree, Errno> {
        Ok(Tree {
            root: Rc::new(rustix::fs::open(root, DIR_FLAGS, Mode::empty())?),
            parent: None,
            directories: Vec::new(),
            buffer: vec![0; 256 * 1024],
        })
    }

    pub(super) fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// The folder `components` names, resolved inside the root; missing folders are created.
    pub(super) fn parent(&mut self, components: &[&[u8]]) -> Result<Rc<OwnedFd>, Errno> {
        if components.is_empty() {
            return Ok(Rc::clone(&self.root));
        }
        let path = join(components);
        if let Some((cached, fd)) = &self.parent
            && *cached == path
        {
            return Ok(Rc::clone(fd));
        }
        let fd = Rc::new(self.resolve_or_create(components, &path)?);
        self.parent = Some((path, Rc::clone(&fd)));
        Ok(fd)
    }

    fn resolve_or_create(&self, components: &[&[u8]], path: &[u8]) -> Result<OwnedFd, Errno> {
        match self.resolve(path) {
            Err(Errno::NOENT) => {}
            other => return other,
        }
        // Some folder is missing: find the first, and create it and the ones below.
        let mut current = self.resolve(b".")?;
        let mut created = false;
        for (i, component) in components.iter().enumerate() {
            if !created {
                match self.resolve(&join(&components[..=i])) {
                    Ok(fd) => {
                        current = fd;
                        continue;
                    }
                    Err(Errno::NOENT) => created = true,
                    Err(e) => return Err(e),
                }
            }
            rustix::fs::mkdirat(&current, *component, Mode::from_raw_mode(IMPLICIT_DIR_MODE))?;
            rustix::fs::chmodat(
                &current,
                *component,
                Mode::from_raw_mode(IMPLICIT_DIR_MODE),
                AtFlags::empty(),
            )?;
            current = rustix::fs::openat(&current, *component, DIR_FLAGS, Mode::empty())?;
        }
        Ok(current)
    }

    /// A folder of the tree, opened; every symlink on the way, the last component's too,
    /// resolves inside the root.
    fn resolve(&self, path: &[u8]) -> Result<OwnedFd, Errno> {
        self.open_in_root(path, DIR_FLAGS.difference(OFlags::NOFOLLOW))
    }

    fn open_in_root(&self, path: &[u8], flags: OFlags) -> Result<OwnedFd, Errno> {
        let path = if path.is_empty() { b"." } else { path };
        let mut attempts = 1;
        loop {
            match rustix::fs::openat2(&*self.root, path, flags, Mode::empty(), IN_ROOT) {
                Err(Errno::AGAIN) if attempts < RESOLVE_ATTEMPTS => attempts += 1,
                result => return result,
            }
        }
    }

    /// Whatever is at `name` goes, unless it is a folder and a folder is wanted (a folder is
    /// only removed when empty). Returns whether a folder was kept.
    fn make_room(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        for_dir: bool,
    ) -> Result<bool, Errno> {
        let existing = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)?;
        let is_dir = FileType::from_raw_mode(existing.st_mode) == FileType::Directory;
        if is_dir && for_dir {
            return Ok(true);
        }
        let flags = if is_dir {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rustix::fs::unlinkat(parent, name, flags)?;
        // The removed node may have been on the cached parent's path (a symlink, say).
        self.parent = None;
        Ok(false)
    }

    /// Runs `create`; when the name is taken, makes room and runs it again.
    fn create_replacing(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        mut create: impl FnMut() -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        match create() {
            Err(Errno::EXIST) => {
                self.make_room(parent, name, false)?;
                create()
            }
            other => other,
        }
    }

    /// A regular file with `size` bytes read from `data`. Returns the bytes `data` held, fewer
    /// than `size` when it ended early.
    pub(super) fn write_file(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        data: &mut impl Read,
        size: u64,
        metadata: &Metadata,
    ) -> Result<u64, WriteError> {
        let open = || {
            rustix::fs::openat(
                parent,
                name,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        };
        let fd = match open() {
            Err(Errno::EXIST) => {
                self.make_room(parent, name, false)?;
                open()?
            }
            other => other?,
        };
        let mut file = std::fs::File::from(fd);
        let mut written = 0u64;
        while written < size {
            let want = (size - written).min(self.buffer.len() as u64) as usize;
            let n = data
                .read(&mut self.buffer[..want])
                .map_err(WriteError::Read)?;
            if n == 0 {
                return Ok(written);
            }
            file.write_all(&self.buffer[..n])
                .map_err(|e| WriteError::Write(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
            written += n as u64;
        }
        apply_to_fd(file.as_fd(), metadata, true)?;
        Ok(written)
    }

    /// A folder (or the root, with no name). Its mode and mtime wait for [`Tree::finish`].
    pub(super) fn make_dir(
        &mut self,
        parent_path: &[&[u8]],
        name: Option<&[u8]>,
        metadata: &Metadata,
    ) -> Result<(), Errno> {
        let dir = match name {
            None => self.resolve(b".")?,
            Some(name) => {
                let parent = self.parent(parent_path)?;
                let mkdir = || rustix::fs::mkdirat(&*parent, name, Mode::from_raw_mode(0o700));
                match mkdir() {
                    Err(Errno::EXIST) => {
                        if !self.make_room(parent.as_fd(), name, true)? {
                            mkdir()?;
                        }
                    }
                    other => other?,
                }
                rustix::fs::openat(&*parent, name, DIR_FLAGS, Mode::empty())?
            }
        };
        apply_to_fd(dir.as_fd(), metadata, false)?;
        let mut path = join(parent_path);
        if let Some(name) = name {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
        } else {
            path.push(b'.');
        }
        self.directories.push(DirectoryFinish {
            path,
            mode: metadata.mode,
            mtime: metadata.mtime,
        });
        Ok(())
    }

    pub(super) fn make_symlink(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        target: &[u8],
        metadata: &Metadata,
    ) -> Result<(), Errno> {
        self.create_replacing(parent, name, || rustix::fs::symlinkat(target, parent, name))?;
        apply_at(parent, name, metadata, false)
    }

    pub(super) fn make_node(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        node: Node,
        metadata: &Metadata,
    ) -> Result<(), Errno> {
        let (file_type, device) = match node {
            Node::CharDevice { major, minor } => {
                (FileType::CharacterDevice, rustix::fs::makedev(major, minor))
            }
            Node::BlockDevice { major, minor } => {
                (FileType::BlockDevice, rustix::fs::makedev(major, minor))
            }
            Node::Fifo => (FileType::Fifo, 0),
        };
        self.create_replacing(parent, name, || {
            rustix::fs::mknodat(parent, name, file_type, Mode::from_raw_mode(0o600), device)
        })?;
        apply_at(parent, name, metadata, true)
    }

    /// A hard link to `target` (components from the root), an entry written before. Its
    /// parent is resolved inside the root like any other; the last component is not followed,
    /// so a link to a symlink links the symlink.
    pub(super) fn make_hard_link(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
        target: &[&[u8]],
    ) -> Result<(), HardLinkError> {
        let (target_name, target_parent) = target.split_last().ok_or(HardLinkError::ToRoot)?;
        let target_dir = self
            .resolve(&join(target_parent))
            .map_err(HardLinkError::Target)?;
        match rustix::fs::statat(&target_dir, *target_name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Directory => {
                return Err(HardLinkError::ToDirectory);
            }
            Ok(_) => {}
            Err(e) => return Err(HardLinkError::Target(e)),
        }
        self.create_replacing(parent, name, || {
            rustix::fs::linkat(&target_dir, *target_name, parent, name, AtFlags::empty())
        })
        .map_err(HardLinkError::Link)
    }

    /// `.wh.NAME`: a whiteout as overlayfs reads it, a 0:0 character device owned by root.
    pub(super) fn make_whiteout(
        &mut self,
        parent: BorrowedFd<'_>,
        name: &[u8],
    ) -> Result<(), Errno> {
        self.create_replacing(parent, name, || {
            rustix::fs::mknodat(parent, name, FileType::CharacterDevice, Mode::empty(), 0)
        })?;
        rustix::fs::chownat(
            parent,
            name,
            Some(Uid::ROOT),
            Some(Gid::ROOT),
            AtFlags::SYMLINK_NOFOLLOW,
        )
    }

    /// `.wh..wh..opq`: the folder hides the layers below (`trusted.overlay.opaque=y`).
    pub(super) fn make_opaque(parent: BorrowedFd<'_>) -> Result<(), Errno> {
        rustix::fs::fsetxattr(parent, OPAQUE_XATTR, b"y", XattrFlags::empty())
    }

    /// Gives every folder its mode and times. A folder a later entry replaced by something else
    /// is skipped.
    pub(super) fn finish(self) -> Result<(), Errno> {
        for dir in &self.directories {
            // Not followed: a folder a later entry replaced with a symlink is skipped.
            let fd = match self.open_in_root(&dir.path, DIR_FLAGS) {
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => continue,
                other => other?,
            };
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(dir.mode))?;
            rustix::fs::futimens(&fd, &times(dir.mtime))?;
        }
        Ok(())
    }
}

pub(super) const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
/// Extended attributes overlayfs keeps for itself (opaque folders, redirects, metacopy): an
/// archive does not get to set them, only its whiteout entries do.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

#[derive(Debug)]
pub(super) enum WriteError {
    /// Reading the archive failed.
    Read(std::io::Error),
    Write(Errno),
}

impl From<Errno> for WriteError {
    fn from(errno: Errno) -> Self {
        WriteError::Write(errno)
    }
}

#[derive(Debug)]
pub(super) enum HardLinkError {
    ToRoot,
    ToDirectory,
    /// The target is not there (or its path is not a folder).
    Target(Errno),
    Link(Errno),
}

fn times(mtime: rustix::fs::Timespec) -> Timestamps {
    Timestamps {
        last_access: mtime,
        last_modification: mtime,
    }
}

/// Owner, then mode (`chown` clears setuid and setgid), then extended attributes (`chown`
/// clears `security.capability`), then times. Folders get their mode and times at the end.
fn apply_to_fd(fd: BorrowedFd<'_>, metadata: &Metadata, mode_and_times: bool) -> Result<(), Errno> {
    rustix::fs::fchown(
        fd,
        Some(Uid::from_raw(metadata.uid)),
        Some(Gid::from_raw(metadata.gid)),
    )?;
    if mode_and_times {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(metadata.mode))?;
    }
    for (name, value) in settable(&metadata.xattrs) {
        ignore_unsupported(rustix::fs::fsetxattr(fd, name, value, XattrFlags::empty()))?;
    }
    if mode_and_times {
        rustix::fs::futimens(fd, &times(metadata.mtime))?;
    }
    Ok(())
}

/// The same for a node that cannot be opened for writing (a symlink, a device, a fifo).
fn apply_at(
    parent: BorrowedFd<'_>,
    name: &[u8],
    metadata: &Metadata,
    has_mode: bool,
) -> Result<(), Errno> {
    rustix::fs::chownat(
        parent,
        name,
        Some(Uid::from_raw(metadata.uid)),
        Some(Gid::from_raw(metadata.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    if has_mode {
        // Not a symlink (mknodat made it): nothing to follow.
        rustix::fs::chmodat(
            parent,
            name,
            Mode::from_raw_mode(metadata.mode),
            AtFlags::empty(),
        )?;
    }
    if !metadata.xattrs.is_empty() {
        // lsetxattr has no *at form: the parent is reached through its fd's magic link, and the
        // last component is not followed.
        let mut path = format!("/proc/self/fd/{}/", parent.as_raw_fd()).into_bytes();
        path.extend_from_slice(name);
        let path = Path::new(OsStr::from_bytes(&path));
        for (name, value) in settable(&metadata.xattrs) {
            ignore_unsupported(rustix::fs::lsetxattr(
                path,
                name,
                value,
                XattrFlags::empty(),
            ))?;
        }
    }
    rustix::fs::utimensat(
        parent,
        name,
        &times(metadata.mtime),
        AtFlags::SYMLINK_NOFOLLOW,
    )
}

fn settable(xattrs: &[(Vec<u8>, Vec<u8>)]) -> impl Iterator<Item = (&[u8], &[u8])> {
    xattrs
        .iter()
        .filter(|(name, _)| !name.starts_with(OVERLAY_XATTR_PREFIX))
        .map(|(name, value)| (name.as_slice(), value.as_slice()))
}

/// An attribute the target filesystem does not support (`security.selinux` without SELinux, a
/// `user.*` on a symlink) is left out, as GNU tar does; anything else is an error.
fn ignore_unsupported(result: Result<(), Errno>) -> Result<(), Errno> {
    match result {
        Err(Errno::OPNOTSUPP) => {
            tracing::debug!("extended attribute not supported by the target filesystem: left out");
            Ok(())
        }
        other => other,
    }
}

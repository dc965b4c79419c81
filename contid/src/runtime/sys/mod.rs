//! Small wrappers around the operating system that know nothing of containers: files replaced
//! atomically, folders watched for such replacements (inotify), the daemon's lock file, the
//! datagram channel that carries JSON and fds between processes, `clone3` used like `fork`,
//! processes named by pidfd, a Unix socket's peer credentials, a listening socket handed over at
//! start (socket activation), and the open-file limit (raised for the daemon, given back to
//! containers).
//!
//! The bottom room: it imports nothing of the layer but `RuntimeError`; every other room may use
//! it.

pub mod atomic_file;
pub(super) mod channel;
pub(super) mod clone;
pub mod dir_watch;
pub mod inherited_socket;
pub mod lockfile;
pub mod open_files_limit;
pub mod peer_credentials;
pub mod process;

//! What runs inside a container, from the clone to `execve`: the init and the tiny init, the steps
//! every forked child shares (`child`), namespaces (user namespaces included), the root
//! filesystem (overlay, idmapped or shifted image, volumes, the files of `/etc`) and terminals.
//!
//! It may import `confinement` (applied just before `execve`), `cgroup`, `network` (the
//! container's side of it), `sys` and the layer's shared types; never `process`, which drives
//! it from the daemon's side.

pub(super) mod child;
mod copy_up;
pub mod etc_files;
pub(super) mod init;
pub(super) mod namespaces;
pub(super) mod pty;
pub(super) mod rootfs;
pub(super) mod shifted_rootfs;
mod tiny_init;
pub mod tmpfs;
pub mod userns;
pub mod volumes;

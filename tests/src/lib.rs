//! End-to-end test harness for Conti: a real `contid` on a temporary socket, root and cgroup
//! parent, a busybox root filesystem, a small HTTP client over the Unix socket, and helpers that
//! look at the host (processes, mounts, cgroups) to check that containers are isolated and that
//! nothing is left behind.
//!
//! For the image tests: real registries on `127.0.0.1` ([`TestRegistry`]: plain HTTP or TLS,
//! anonymous, basic or token authentication), real images built by buildah and pushed or saved
//! by skopeo ([`oci_images`]), and OCI layouts written byte for byte ([`oci_layout`]).
//!
//! Every test needs root: they create namespaces, mounts and cgroups for real.
//!
//! Nothing here can block forever: HTTP reads have a timeout, child commands are killed after
//! theirs, and every polling loop has a deadline. A [`Daemon`] cleans up after itself when dropped,
//! also when the test panicked.

pub mod as_nobody;
pub mod cli;
pub mod daemon;
pub mod dns;
pub mod host;
pub mod http;
pub mod image_tools;
pub mod kernel_features;
pub mod network;
pub mod oci_images;
pub mod oci_layout;
pub mod probe;
pub mod registry;
pub mod rootfs;
pub mod token_server;
pub mod util;
pub mod vm;

pub use cli::{cli, cli_with_socket};
pub use daemon::{Daemon, DaemonOptions, bin_path};
pub use http::{Client, Connection, LogStream, Response, demux};
pub use oci_images::{
    LayerCompression, LayeredImage, ManifestFormat, PushedImage, TestImage, TestIndex,
    layered_test_image, shared_base_image, two_platform_index,
};
pub use oci_layout::{HostileEntry, OciLayout, hostile_image};
pub use registry::{Credentials, RegistryAuth, RegistryOptions, TestRegistry};
pub use rootfs::busybox_tar;
pub use util::{TempDir, run_command, unique_name, wait_until};

pub use conti_proto::{
    ContainerInfo, ContainerSpec, ContainerState, CreatedContainer, DaemonInfo, ErrorBody,
    ExecResult, ExecSpec, ImageInfo, LogLimits, LogLine, NetworkInfo, NetworkMode, NetworkSpec,
    PortBinding, Seccomp, SeccompProfile, SecurityOptions, VersionInfo, VolumeCreateSpec,
    VolumeInfo, VolumePruneReport, VolumeSpec, WaitResult,
};

/// Name under which [`Daemon::import_busybox`] imports the busybox root filesystem.
pub const BUSYBOX_IMAGE: &str = "busybox";

/// A create spec for the busybox image running `cmd`.
pub fn spec(cmd: &[&str]) -> ContainerSpec {
    ContainerSpec {
        image: BUSYBOX_IMAGE.to_string(),
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        ..ContainerSpec::default()
    }
}

/// A create spec running `sh -c script` in the busybox image.
pub fn sh(script: &str) -> ContainerSpec {
    spec(&["sh", "-c", script])
}

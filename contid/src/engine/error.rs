//! The engine's errors: each names what went wrong in the caller's terms, so the API can choose
//! its HTTP status on purpose.

use crate::runtime::RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request is well-formed JSON but asks for something invalid.
    #[error("{0}")]
    InvalidSpec(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("invalid signal {0:?}")]
    InvalidSignal(String),
    #[error("no such container: {0}")]
    ContainerNotFound(String),
    #[error("no such image: {0}")]
    ImageNotFound(String),
    #[error("{reference:?} matches several containers; give more of the id")]
    AmbiguousReference { reference: String },
    #[error("the name {0:?} is already in use")]
    NameInUse(String),
    #[error("image {0:?} already exists")]
    ImageExists(String),
    #[error("image {image:?} is used by container {container}")]
    ImageInUse { image: String, container: String },
    #[error("container {0} is running")]
    ContainerRunning(String),
    #[error("container {0} is not running")]
    ContainerNotRunning(String),
    #[error("no such exec: {0}")]
    ExecNotFound(String),
    #[error("exec {0} has already been started")]
    ExecAlreadyStarted(String),
    #[error("exec {0} is not running")]
    ExecNotRunning(String),
    #[error("{0}")]
    CommandNotFound(String),
    #[error("{0}")]
    CommandNotExecutable(String),
    #[error("{0}")]
    InvalidCwd(String),
    /// `--user` names a user or group the container's account files do not have.
    #[error("{0}")]
    UnknownUser(String),
    /// A volume's target leads where no volume may go (seen at start, inside the container).
    #[error("{0}")]
    InvalidVolume(String),
    /// The container's own filesystem lost a folder or file every container needs (its `/etc`
    /// became a symlink…): it cannot start again until it is recreated.
    #[error("{0}; the container cannot start with it (recreate it from its image)")]
    BrokenRootfs(String),
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
    /// Not an image reference (`name[:tag]`, `name@sha256:…`), or one that matches several ids.
    #[error("{0}")]
    InvalidReference(String),
    /// Content that is not what its digest says (a load's blob, a pulled layer).
    #[error("{0}")]
    DigestMismatch(String),
    /// A registry refused or failed a pull or a login.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// The host cannot enforce a limit the container asks for (no controller, no file).
    #[error("{0}")]
    UnsupportedLimit(String),
    /// The kernel refused a new limit for a running container (e.g. memory below its usage).
    #[error("{0}")]
    LimitRejected(String),
    #[error("no such network: {0}")]
    NetworkNotFound(String),
    #[error("network {0:?} already exists")]
    NetworkExists(String),
    #[error("{0}")]
    NetworkInUse(String),
    /// A subnet that overlaps another network's.
    #[error("{0}")]
    SubnetInUse(String),
    /// The network's subnet has no address left.
    #[error("network {0:?} has no free address left")]
    NetworkFull(String),
    #[error("no such volume: {0}")]
    VolumeNotFound(String),
    /// A create of a volume that exists with other labels.
    #[error("{0}")]
    VolumeExists(String),
    /// A delete of a volume a container refers to.
    #[error("{0}")]
    VolumeInUse(String),
    /// A published port is taken on the host.
    #[error("{0}")]
    PortInUse(String),
    /// The state disk has no room for what the request needs (beyond a reserve kept free).
    #[error("{0}")]
    NoSpace(String),
    /// A fault of the daemon or the host, not of the caller.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::images::StoreError> for EngineError {
    fn from(err: crate::images::StoreError) -> Self {
        use crate::images::StoreError as S;
        match err {
            S::NotFound(name) => EngineError::ImageNotFound(name),
            S::InvalidReference(m) => EngineError::InvalidReference(m),
            S::Exists(name) => EngineError::ImageExists(name),
            S::InvalidArchive(m) => EngineError::InvalidArchive(m),
            S::DigestMismatch(m) => EngineError::DigestMismatch(m),
            S::InUse { image, container } => EngineError::ImageInUse { image, container },
            S::NoSpace(m) => EngineError::NoSpace(m),
            S::Internal(m) => EngineError::Internal(m),
        }
    }
}

impl EngineError {
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        EngineError::Internal(format!("{context}: {err}"))
    }

    /// A file operation that failed: [`EngineError::NoSpace`] when the disk (or a quota) is
    /// full, a fault of the daemon or the host otherwise.
    pub fn io(context: &str, err: &std::io::Error) -> Self {
        match err.raw_os_error() {
            Some(errno) if is_no_space(errno) => EngineError::no_space(context, err),
            _ => EngineError::internal(context, err),
        }
    }

    pub fn no_space(context: &str, err: impl std::fmt::Display) -> Self {
        EngineError::NoSpace(format!("no space left on the state disk: {context}: {err}"))
    }
}

fn is_no_space(errno: i32) -> bool {
    matches!(errno, nix::libc::ENOSPC | nix::libc::EDQUOT)
}

impl From<RuntimeError> for EngineError {
    fn from(err: RuntimeError) -> Self {
        let errno = match &err {
            RuntimeError::Io { source, .. } => source.raw_os_error(),
            RuntimeError::Sys { source, .. } => Some(*source as i32),
            _ => None,
        };
        match errno {
            Some(errno) if is_no_space(errno) => EngineError::no_space("the helper", &err),
            _ => EngineError::Internal(err.to_string()),
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_named() {
        let full = std::io::Error::from_raw_os_error(nix::libc::ENOSPC);
        let err = EngineError::io("store container", &full);
        assert!(matches!(&err, EngineError::NoSpace(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("no space left on the state disk: store container")
        );
        let quota = std::io::Error::from_raw_os_error(nix::libc::EDQUOT);
        assert!(matches!(
            EngineError::io("x", &quota),
            EngineError::NoSpace(_)
        ));
        let other = std::io::Error::from_raw_os_error(nix::libc::EIO);
        assert!(matches!(
            EngineError::io("x", &other),
            EngineError::Internal(_)
        ));
        let helper = RuntimeError::io("helper: mkdir upper", full);
        assert!(matches!(EngineError::from(helper), EngineError::NoSpace(_)));
    }
}

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
    #[error("{0}")]
    InvalidName(String),
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
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
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

impl EngineError {
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        EngineError::Internal(format!("{context}: {err}"))
    }
}

impl From<RuntimeError> for EngineError {
    fn from(err: RuntimeError) -> Self {
        EngineError::Internal(err.to_string())
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

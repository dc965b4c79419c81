//! Registry credentials and the daemon's credentials file (Docker's config.json `auths` shape,
//! so a Docker file can be copied in): read at each resolve, rewritten atomically by login and
//! logout.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::error::RegistryError;

/// A user name and password (or access token) for a registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The key Docker stores Docker Hub's credentials under.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";
/// The registry a reference without one names.
pub const DOCKER_HUB: &str = "docker.io";

/// A registry as the user may write it (`docker.io`, `https://index.docker.io/v1/`,
/// `myreg:5000`, `https://myreg:5000/`) → `host[:port]`, lower case; Docker Hub's names →
/// `docker.io`; empty → `docker.io`.
pub fn normalize_registry(registry: &str) -> String {
    let registry = registry.trim();
    let registry = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(registry);
    let host = registry
        .split('/')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    match host.as_str() {
        ""
        | "docker.io"
        | "index.docker.io"
        | "registry-1.docker.io"
        | "registry.hub.docker.com" => DOCKER_HUB.to_string(),
        _ => host,
    }
}

/// The key a registry's credentials are written under.
fn storage_key(registry: &str) -> String {
    match normalize_registry(registry).as_str() {
        DOCKER_HUB => DOCKER_HUB_KEY.to_string(),
        host => host.to_string(),
    }
}

/// The daemon's credentials file. Its writes are serialised in this process (each one reads,
/// changes one registry, and replaces the file).
pub struct CredentialsFile {
    path: PathBuf,
    write_lock: Mutex<()>,
}

impl CredentialsFile {
    pub fn new(path: PathBuf) -> CredentialsFile {
        CredentialsFile {
            path,
            write_lock: Mutex::new(()),
        }
    }

    /// The credentials stored for `registry`, if any. A missing file has none.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credentials>, RegistryError> {
        let wanted = normalize_registry(registry);
        let Some(document) = self.read()? else {
            return Ok(None);
        };
        let auths = self.auths(&document)?;
        // The canonical key first, so a file with several spellings of one registry reads the
        // one login writes.
        let canonical = storage_key(registry);
        let mut keys: Vec<&String> = auths
            .keys()
            .filter(|key| normalize_registry(key) == wanted)
            .collect();
        keys.sort_by_key(|key| **key != canonical);
        for key in keys {
            if let Some(credentials) = self.decode_entry(key, &auths[key.as_str()])? {
                return Ok(Some(credentials));
            }
        }
        Ok(None)
    }

    /// Stores `credentials` for `registry`, replacing what the file had for it (under any of
    /// its spellings).
    pub fn store(&self, registry: &str, credentials: &Credentials) -> Result<(), RegistryError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut document = self.read()?.unwrap_or_else(|| Value::Object(Map::new()));
        let auths = self.auths_mut(&mut document)?;
        let wanted = normalize_registry(registry);
        auths.retain(|key, _| normalize_registry(key) != wanted);
        let auth = BASE64.encode(format!("{}:{}", credentials.username, credentials.password));
        let mut entry = Map::new();
        entry.insert("auth".to_string(), Value::String(auth));
        auths.insert(storage_key(registry), Value::Object(entry));
        self.write(&document)
    }

    /// Forgets the credentials of `registry`; whether there were any.
    pub fn remove(&self, registry: &str) -> Result<bool, RegistryError> {
        let _guard = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut document) = self.read()? else {
            return Ok(false);
        };
        let auths = self.auths_mut(&mut document)?;
        let wanted = normalize_registry(registry);
        let before = auths.len();
        auths.retain(|key, _| normalize_registry(key) != wanted);
        if auths.len() == before {
            return Ok(false);
        }
        self.write(&document)?;
        Ok(true)
    }

    fn read(&self) -> Result<Option<Value>, RegistryError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(self.error(format!("cannot read it: {err}"))),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let document: Value = serde_json::from_slice(&bytes)
            .map_err(|err| self.error(format!("not valid JSON: {err}")))?;
        if !document.is_object() {
            return Err(self.error("not a JSON object".to_string()));
        }
        Ok(Some(document))
    }

    fn auths<'a>(&self, document: &'a Value) -> Result<&'a Map<String, Value>, RegistryError> {
        match document.get("auths") {
            None => {
                static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
                Ok(EMPTY.get_or_init(Map::new))
            }
            Some(Value::Object(auths)) => Ok(auths),
            Some(_) => Err(self.error("\"auths\" is not an object".to_string())),
        }
    }

    fn auths_mut<'a>(
        &self,
        document: &'a mut Value,
    ) -> Result<&'a mut Map<String, Value>, RegistryError> {
        let object = document
            .as_object_mut()
            .ok_or_else(|| self.error("not a JSON object".to_string()))?;
        match object
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()))
        {
            Value::Object(auths) => Ok(auths),
            _ => Err(self.error("\"auths\" is not an object".to_string())),
        }
    }

    /// One `auths` entry: `{"auth": base64("user:password")}`, or `username` and `password`
    /// fields. An entry with neither (Docker's, when a credential helper holds the secret) has
    /// no credentials.
    fn decode_entry(&self, key: &str, entry: &Value) -> Result<Option<Credentials>, RegistryError> {
        let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or_default();
        let auth = field("auth");
        if !auth.is_empty() {
            let decoded = BASE64
                .decode(auth.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| self.error(format!("the \"auth\" of {key:?} is not base64")))?;
            let (username, password) = decoded.split_once(':').ok_or_else(|| {
                self.error(format!("the \"auth\" of {key:?} is not user:password"))
            })?;
            return Ok(Some(Credentials {
                username: username.to_string(),
                password: password.to_string(),
            }));
        }
        let (username, password) = (field("username"), field("password"));
        if username.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credentials {
            username: username.to_string(),
            password: password.to_string(),
        }))
    }

    fn write(&self, document: &Value) -> Result<(), RegistryError> {
        let mut bytes = serde_json::to_vec_pretty(document)
            .map_err(|err| self.error(format!("cannot encode it: {err}")))?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes)
            .map_err(|err| self.error(format!("cannot write it: {err}")))
    }

    fn error(&self, message: String) -> RegistryError {
        RegistryError::Credentials {
            message: format!("credentials file {}: {message}", self.path.display()),
        }
    }
}

/// Replaces `path` with `bytes` in one step: a temporary file beside it (0600), fsynced, renamed
/// over it, the folder fsynced. A missing folder is created 0700.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn alice() -> Credentials {
        Credentials {
            username: "alice".to_string(),
            password: "s3:cr3t".to_string(),
        }
    }

    #[test]
    fn debug_does_not_print_the_password() {
        let text = format!("{:?}", alice());
        assert!(text.contains("alice"));
        assert!(!text.contains("s3:cr3t"), "{text}");
    }

    #[test]
    fn registries_are_normalised_with_docker_hub_aliases() {
        for hub in [
            "",
            "docker.io",
            "index.docker.io",
            "https://index.docker.io/v1/",
            "registry-1.docker.io",
            "Docker.IO",
        ] {
            assert_eq!(normalize_registry(hub), "docker.io", "{hub:?}");
        }
        assert_eq!(normalize_registry("https://MyReg:5000/v2/"), "myreg:5000");
        assert_eq!(normalize_registry("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(storage_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(storage_key("http://myreg:5000"), "myreg:5000");
    }

    #[test]
    fn a_round_trip_writes_a_root_only_file_in_a_0700_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("conti").join("credentials.json");
        let file = CredentialsFile::new(path.clone());
        assert_eq!(file.lookup("myreg:5000").unwrap(), None);
        assert!(!file.remove("myreg:5000").unwrap());

        file.store("myreg:5000", &alice()).unwrap();
        assert_eq!(file.lookup("myreg:5000").unwrap(), Some(alice()));
        assert_eq!(file.lookup("https://myreg:5000/").unwrap(), Some(alice()));
        assert_eq!(file.lookup("myreg:5001").unwrap(), None);

        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        let document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            document["auths"]["myreg:5000"]["auth"],
            BASE64.encode("alice:s3:cr3t")
        );
        // No temporary file is left beside it.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );

        let bob = Credentials {
            username: "bob".to_string(),
            password: "pw".to_string(),
        };
        file.store("myreg:5000", &bob).unwrap();
        assert_eq!(file.lookup("myreg:5000").unwrap(), Some(bob));
        assert!(file.remove("myreg:5000").unwrap());
        assert_eq!(file.lookup("myreg:5000").unwrap(), None);
        assert!(!file.remove("myreg:5000").unwrap());
    }

    #[test]
    fn docker_hub_is_found_under_docker_s_key_and_stored_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"{DOCKER_HUB_KEY}": {{"auth": "{}"}}, "ghcr.io": {{}}}},
                   "credsStore": "desktop"}}"#,
                BASE64.encode("alice:s3:cr3t")
            ),
        )
        .unwrap();
        let file = CredentialsFile::new(path.clone());
        assert_eq!(file.lookup("docker.io").unwrap(), Some(alice()));
        assert_eq!(file.lookup("index.docker.io").unwrap(), Some(alice()));
        // An entry without a secret (a credential helper's) is no credentials.
        assert_eq!(file.lookup("ghcr.io").unwrap(), None);

        let bob = Credentials {
            username: "bob".to_string(),
            password: "pw".to_string(),
        };
        file.store("registry-1.docker.io", &bob).unwrap();
        let document: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let auths = document["auths"].as_object().unwrap();
        assert_eq!(auths.len(), 2, "{auths:?}");
        assert!(auths.contains_key(DOCKER_HUB_KEY));
        // What the file had besides is kept.
        assert_eq!(document["credsStore"], "desktop");
        assert_eq!(file.lookup("docker.io").unwrap(), Some(bob));
    }

    #[test]
    fn username_and_password_fields_are_read_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths": {"https://myreg:5000": {"username": "alice", "password": "s3:cr3t"}}}"#,
        )
        .unwrap();
        let file = CredentialsFile::new(path);
        assert_eq!(file.lookup("myreg:5000").unwrap(), Some(alice()));
    }

    #[test]
    fn a_broken_file_is_a_credentials_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, "{not json").unwrap();
        let file = CredentialsFile::new(path.clone());
        let err = file.lookup("myreg:5000").unwrap_err();
        assert!(
            matches!(&err, RegistryError::Credentials { message }
                if message.contains(path.to_str().unwrap()) && message.contains("not valid JSON")),
            "{err:?}"
        );
        std::fs::write(&path, r#"{"auths": {"myreg:5000": {"auth": "!!"}}}"#).unwrap();
        assert!(matches!(
            file.lookup("myreg:5000"),
            Err(RegistryError::Credentials { .. })
        ));
        // An unwritable place is an error too, not a panic.
        let blocked = CredentialsFile::new(path.join("below-a-file.json"));
        assert!(matches!(
            blocked.store("myreg:5000", &alice()),
            Err(RegistryError::Credentials { .. })
        ));
    }
}

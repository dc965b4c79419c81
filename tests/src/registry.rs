//! A real image registry (Distribution 2.8, Debian's `docker-registry`) on `127.0.0.1` and a free
//! port, its storage, configuration, certificates and log in a folder of the test's own, in one
//! of these modes: plain HTTP or TLS (a CA made here with `openssl`, a server certificate for
//! `127.0.0.1` and `localhost`), each without authentication, with basic authentication
//! (`htpasswd -B`) or with bearer tokens from a [`TokenServer`] the test runs. Killed (by its pid)
//! and removed when dropped, also after a failed assertion.

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::image_tools::{CommandFailed, skopeo};
use crate::token_server::TokenServer;
use crate::util::{run_command, unique_name};

/// The `service` the registry and the token server agree on.
pub const TOKEN_SERVICE: &str = "conti-test-registry";
/// The `iss` of the tokens.
pub const TOKEN_ISSUER: &str = "conti-test-token-issuer";
/// How long the registry may take to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A user name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl Credentials {
    pub fn new(user: &str, password: &str) -> Credentials {
        Credentials {
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// `user:password`, as skopeo's `--creds` takes them.
    pub fn colon_joined(&self) -> String {
        format!("{}:{}", self.user, self.password)
    }
}

/// Who the registry lets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAuth {
    /// Everyone, for everything.
    Anonymous,
    /// Basic authentication against an `htpasswd` file (bcrypt) holding one user.
    Basic(Credentials),
    /// Docker's token flow: a [`TokenServer`] on `127.0.0.1` gives tokens to this user only.
    Token(Credentials),
}

/// How [`TestRegistry::start`] sets the registry up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    /// HTTPS with a certificate from a CA made for this registry alone.
    pub tls: bool,
    pub auth: RegistryAuth,
}

impl RegistryOptions {
    /// Plain HTTP, anonymous.
    pub fn plain() -> RegistryOptions {
        RegistryOptions {
            tls: false,
            auth: RegistryAuth::Anonymous,
        }
    }

    pub fn with_tls(mut self) -> RegistryOptions {
        self.tls = true;
        self
    }

    pub fn with_basic_auth(mut self, user: &str, password: &str) -> RegistryOptions {
        self.auth = RegistryAuth::Basic(Credentials::new(user, password));
        self
    }

    pub fn with_token_auth(mut self, user: &str, password: &str) -> RegistryOptions {
        self.auth = RegistryAuth::Token(Credentials::new(user, password));
        self
    }
}

/// A running registry; see the module's documentation.
pub struct TestRegistry {
    options: RegistryOptions,
    /// `/tmp/conti-registry-<unique>`: config, storage, certificates, log.
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// The CA that signed the server's certificate (PEM), with TLS.
    ca_cert: Option<PathBuf>,
    token_server: Option<TokenServer>,
}

impl TestRegistry {
    /// Starts a registry as `options` say and waits until `/v2/` answers (401 counts); panics
    /// with the end of its log when it does not.
    pub fn start(options: RegistryOptions) -> TestRegistry {
        let dir = std::env::temp_dir().join(unique_name("conti-registry"));
        fs::create_dir_all(dir.join("storage"))
            .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        // From here on, a panic drops the registry and so removes its folder.
        let mut registry = TestRegistry {
            options,
            dir,
            port: 0,
            child: None,
            ca_cert: None,
            token_server: None,
        };
        registry
            .prepare()
            .unwrap_or_else(|e| panic!("setting up a test registry: {e}"));
        registry.launch();
        registry
    }

    /// [`TestRegistry::start`] with plain HTTP and no authentication.
    pub fn plain() -> TestRegistry {
        TestRegistry::start(RegistryOptions::plain())
    }

    /// `127.0.0.1:PORT`.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT/<repo_and_tag>`, e.g. `reference("layered:v1")`.
    pub fn reference(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.host_port())
    }

    /// `docker://127.0.0.1:PORT/<repo_and_tag>`, skopeo's name for it.
    pub fn docker_reference(&self, repo_and_tag: &str) -> String {
        format!("docker://{}", self.reference(repo_and_tag))
    }

    /// `http://127.0.0.1:PORT` or `https://...`.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host_port())
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    pub fn tls(&self) -> bool {
        self.options.tls
    }

    /// The user and password it accepts, when it asks for any.
    pub fn credentials(&self) -> Option<&Credentials> {
        match &self.options.auth {
            RegistryAuth::Anonymous => None,
            RegistryAuth::Basic(c) | RegistryAuth::Token(c) => Some(c),
        }
    }

    /// The CA certificate (PEM) the server's certificate chains to, with TLS.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The token server, with token authentication (its requests, its realm).
    pub fn token_server(&self) -> Option<&TokenServer> {
        self.token_server.as_ref()
    }

    /// The registry's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Lays out the CA in Docker's `certs.d` form under `dir`: `<dir>/127.0.0.1:PORT/ca.crt`,
    /// which is what a per-registry CA folder holds. Returns that file. Panics without TLS.
    pub fn write_certs_d(&self, dir: &Path) -> PathBuf {
        let ca = self
            .ca_cert
            .as_ref()
            .unwrap_or_else(|| panic!("registry {} has no TLS, so no CA", self.host_port()));
        let host_dir = dir.join(self.host_port());
        fs::create_dir_all(&host_dir)
            .unwrap_or_else(|e| panic!("creating {}: {e}", host_dir.display()));
        let file = host_dir.join("ca.crt");
        fs::copy(ca, &file).unwrap_or_else(|e| panic!("copying the CA to {}: {e}", file.display()));
        file
    }

    /// Its log (stderr and stdout of the registry).
    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.log_path()).unwrap_or_default()).into_owned()
    }

    /// skopeo's flags to write to it: `--dest-tls-verify=false` (plain HTTP) or
    /// `--dest-cert-dir` (the CA), and `--dest-creds` when it has credentials.
    pub fn skopeo_dest_args(&self) -> Vec<String> {
        self.skopeo_args("--dest-", self.credentials())
    }

    /// skopeo's flags to read from it as a `copy` source (`--src-...`).
    pub fn skopeo_src_args(&self) -> Vec<String> {
        self.skopeo_args("--src-", self.credentials())
    }

    /// skopeo's flags for `inspect` with `credentials` (which may be wrong, or none).
    pub fn skopeo_inspect_args(&self, credentials: Option<&Credentials>) -> Vec<String> {
        self.skopeo_args("--", credentials)
    }

    fn skopeo_args(&self, prefix: &str, credentials: Option<&Credentials>) -> Vec<String> {
        let mut args = Vec::new();
        if self.options.tls {
            args.push(format!(
                "{prefix}cert-dir={}",
                self.client_cert_dir().display()
            ));
        } else {
            // Lets skopeo speak plain HTTP to it.
            args.push(format!("{prefix}tls-verify=false"));
        }
        if let Some(credentials) = credentials {
            args.push(format!("{prefix}creds={}", credentials.colon_joined()));
        }
        args
    }

    /// `skopeo inspect` of `repo_and_tag` with its own credentials: the summary (`Digest`,
    /// `Layers`, `Env`, `Labels`, `Architecture`...), or with `raw` the manifest itself.
    pub fn inspect(
        &self,
        repo_and_tag: &str,
        raw: bool,
    ) -> Result<serde_json::Value, CommandFailed> {
        let mut extra = Vec::new();
        if raw {
            extra.push("--raw");
        }
        self.inspect_with(repo_and_tag, self.credentials(), &extra)
    }

    /// The image configuration of `repo_and_tag` as stored (`skopeo inspect --config --raw`).
    pub fn inspect_config(&self, repo_and_tag: &str) -> Result<serde_json::Value, CommandFailed> {
        self.inspect_with(repo_and_tag, self.credentials(), &["--config", "--raw"])
    }

    /// `skopeo inspect <extra> docker://...` with `credentials` instead of its own.
    pub fn inspect_with(
        &self,
        repo_and_tag: &str,
        credentials: Option<&Credentials>,
        extra: &[&str],
    ) -> Result<serde_json::Value, CommandFailed> {
        let mut command = skopeo();
        command
            .arg("inspect")
            .args(self.skopeo_inspect_args(credentials))
            .args(extra)
            .arg(self.docker_reference(repo_and_tag));
        let out = CommandFailed::check(&mut command, Duration::from_secs(60))?;
        serde_json::from_slice(&out.stdout).map_err(|e| CommandFailed {
            command: format!("{command:?}"),
            status: None,
            stderr: format!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)),
        })
    }

    /// The blob `digest` of `repo` as the registry serves it (`GET /v2/<repo>/blobs/<digest>`
    /// with curl, its credentials, and with token authentication a pull token first).
    pub fn fetch_blob(&self, repo: &str, digest: &str) -> Result<Vec<u8>, String> {
        let mut curl = self.curl();
        if let RegistryAuth::Token(credentials) = &self.options.auth {
            let server = self.token_server.as_ref().expect("a token server");
            let token_url = format!(
                "{}?service={TOKEN_SERVICE}&scope=repository:{repo}:pull",
                server.realm()
            );
            let out = run_command(
                Command::new("curl")
                    .args(["-sS", "-f", "--max-time", "30", "-u"])
                    .arg(credentials.colon_joined())
                    .arg(&token_url),
                Duration::from_secs(60),
            );
            if !out.status.success() {
                return Err(format!(
                    "GET {token_url}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
                .map_err(|e| format!("the token server's answer is not JSON: {e}"))?;
            let token = answer["token"].as_str().ok_or("no token in the answer")?;
            curl.arg("-H").arg(format!("Authorization: Bearer {token}"));
        } else if let Some(credentials) = self.credentials() {
            curl.arg("-u").arg(credentials.colon_joined());
        }
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.url());
        let out = run_command(curl.arg(&url), Duration::from_secs(120));
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(format!(
                "GET {url}: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Uploads `bytes` as a blob of `repo` (`POST /v2/<repo>/blobs/uploads/`, then `PUT` of
    /// the whole blob with its digest), with curl and the registry's basic credentials if any
    /// (not with token authentication). Returns its digest. skopeo compresses every layer it
    /// pushes to a registry; this is how a test puts uncompressed ones there.
    pub fn upload_blob(&self, repo: &str, bytes: &[u8]) -> Result<String, String> {
        let digest = crate::oci_layout::sha256_digest(bytes);
        let file = self.dir.join(unique_name("upload"));
        fs::write(&file, bytes).map_err(|e| format!("writing {}: {e}", file.display()))?;
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.url());
        let out = self.curl_as_client(
            &["-X", "POST", "-o", "/dev/null", "-w", "%header{location}"],
            &start,
        );
        let location = match out {
            Ok(location) => location.trim().to_string(),
            Err(e) => {
                let _ = fs::remove_file(&file);
                return Err(e);
            }
        };
        let location = if location.starts_with('/') {
            format!("{}{location}", self.url())
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={digest}");
        let data = format!("@{}", file.display());
        let result = self.curl_as_client(
            &[
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
                "--data-binary",
                &data,
            ],
            &put,
        );
        let _ = fs::remove_file(&file);
        result.map(|_| digest)
    }

    /// Puts `bytes` as the manifest `reference` (a tag or a digest) of `repo`, as
    /// `media_type`; returns its digest. See [`TestRegistry::upload_blob`].
    pub fn upload_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, String> {
        let file = self.dir.join(unique_name("manifest"));
        fs::write(&file, bytes).map_err(|e| format!("writing {}: {e}", file.display()))?;
        let content_type = format!("Content-Type: {media_type}");
        let data = format!("@{}", file.display());
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.url());
        let result = self.curl_as_client(
            &["-X", "PUT", "-H", &content_type, "--data-binary", &data],
            &url,
        );
        let _ = fs::remove_file(&file);
        result.map(|_| crate::oci_layout::sha256_digest(bytes))
    }

    /// The requests its access log records, in order: method, path with query, status
    /// (`("GET", "/v2/layered/blobs/sha256:...", 200)`).
    pub fn requests(&self) -> Vec<(String, String, u16)> {
        self.log_text()
            .lines()
            .filter_map(access_log_entry)
            .collect()
    }

    /// curl as a client of the registry (its CA, its basic credentials) with `args`, to
    /// `url`; stdout, or what went wrong.
    fn curl_as_client(&self, args: &[&str], url: &str) -> Result<String, String> {
        let mut curl = self.curl();
        if let RegistryAuth::Basic(credentials) = &self.options.auth {
            curl.arg("-u").arg(credentials.colon_joined());
        }
        let out = run_command(curl.args(args).arg(url), Duration::from_secs(120));
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{} {url}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// curl with the CA, following redirects, failing on HTTP errors.
    fn curl(&self) -> Command {
        let mut curl = Command::new("curl");
        curl.args(["-sS", "-f", "-L", "--max-time", "60"]);
        if let Some(ca) = &self.ca_cert {
            curl.arg("--cacert").arg(ca);
        }
        curl
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("registry.log")
    }

    /// The folder skopeo's `--cert-dir` gets: only `ca.crt` (a `*.key` there would be taken
    /// for a client certificate).
    fn client_cert_dir(&self) -> PathBuf {
        self.dir.join("certs.d").join(self.host_port())
    }

    /// Certificates, credentials and the token server: everything but the port.
    fn prepare(&mut self) -> Result<(), String> {
        if self.options.tls {
            self.ca_cert = Some(make_server_certificate(&self.dir.join("tls"))?);
        }
        match self.options.auth.clone() {
            RegistryAuth::Anonymous => {}
            RegistryAuth::Basic(credentials) => {
                let out = run_command(
                    Command::new("htpasswd")
                        .args(["-B", "-b", "-n"])
                        .arg(&credentials.user)
                        .arg(&credentials.password),
                    Duration::from_secs(30),
                );
                if !out.status.success() {
                    return Err(format!(
                        "htpasswd -Bbn failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
                let path = self.dir.join("htpasswd");
                fs::write(&path, &out.stdout)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
            RegistryAuth::Token(credentials) => {
                let token_dir = self.dir.join("token");
                fs::create_dir_all(&token_dir)
                    .map_err(|e| format!("creating {}: {e}", token_dir.display()))?;
                self.token_server = Some(TokenServer::start(
                    &token_dir,
                    credentials,
                    TOKEN_SERVICE,
                    TOKEN_ISSUER,
                )?);
            }
        }
        Ok(())
    }

    /// Starts the registry on a free port, trying again on another port when the one picked
    /// was taken in the meantime.
    fn launch(&mut self) {
        for _ in 0..5 {
            self.port = free_port();
            if self.options.tls {
                let ca = self.ca_cert.clone().expect("a CA with TLS");
                let host_dir = self.client_cert_dir();
                fs::create_dir_all(&host_dir)
                    .unwrap_or_else(|e| panic!("creating {}: {e}", host_dir.display()));
                fs::copy(&ca, host_dir.join("ca.crt"))
                    .unwrap_or_else(|e| panic!("copying the CA into {}: {e}", host_dir.display()));
            }
            let config = self.dir.join("config.yml");
            fs::write(&config, self.config_yaml())
                .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
            let log = File::create(self.log_path())
                .unwrap_or_else(|e| panic!("creating {}: {e}", self.log_path().display()));
            let child = Command::new("/usr/bin/docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("cloning the log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("starting /usr/bin/docker-registry: {e}; install it with `apt-get install -y docker-registry`")
                });
            self.child = Some(child);
            match self.wait_ready() {
                Ok(()) => return,
                Err(exited) => {
                    self.kill();
                    if exited && self.log_text().contains("address already in use") {
                        let _ = fs::remove_dir_all(self.client_cert_dir());
                        continue;
                    }
                    panic!(
                        "the test registry did not answer GET {}/v2/ within {READY_TIMEOUT:?}; \
                         the end of its log:\n{}",
                        self.url(),
                        log_tail(&self.log_text(), 40)
                    );
                }
            }
        }
        panic!("no free port for the test registry after 5 tries");
    }

    /// Polls `GET /v2/` with curl (which checks the certificate against the CA) until it gets
    /// an HTTP answer. `Err(true)` when the registry exited, `Err(false)` on the deadline.
    fn wait_ready(&mut self) -> Result<(), bool> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                return Err(true);
            }
            let mut curl = Command::new("curl");
            curl.args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "2",
            ]);
            if let Some(ca) = &self.ca_cert {
                curl.arg("--cacert").arg(ca);
            }
            curl.arg(format!("{}/v2/", self.url()));
            let out = run_command(&mut curl, Duration::from_secs(10));
            let code = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if code == "200" || code == "401" {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(false);
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn config_yaml(&self) -> String {
        let dir = self.dir.display();
        let mut yaml = format!(
            "version: 0.1\n\
             log:\n  level: info\n  fields:\n    service: conti-test-registry\n\
             storage:\n  filesystem:\n    rootdirectory: {dir}/storage\n  delete:\n    enabled: true\n  \
             maintenance:\n    uploadpurging:\n      enabled: false\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: {secret}\n  \
             headers:\n    X-Content-Type-Options: [nosniff]\n",
            port = self.port,
            secret = unique_name("secret"),
        );
        if self.options.tls {
            yaml.push_str(&format!(
                "  tls:\n    certificate: {dir}/tls/server.crt\n    key: {dir}/tls/server.key\n"
            ));
        }
        match &self.options.auth {
            RegistryAuth::Anonymous => {}
            RegistryAuth::Basic(_) => yaml.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: conti-test-registry\n    path: {dir}/htpasswd\n"
            )),
            RegistryAuth::Token(_) => {
                let server = self.token_server.as_ref().expect("a token server");
                yaml.push_str(&format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {TOKEN_SERVICE}\n    \
                     issuer: {TOKEN_ISSUER}\n    rootcertbundle: {bundle}\n",
                    realm = server.realm(),
                    bundle = server.certificate().display(),
                ));
            }
        }
        yaml
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Our own child, by its pid.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "--- the end of test registry {}'s log ({}) ---\n{}",
                self.host_port(),
                self.log_path().display(),
                log_tail(&self.log_text(), 40)
            );
        }
        self.kill();
        self.token_server = None;
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The request of an access log line (combined format:
/// `127.0.0.1 - - [date] "GET /v2/ HTTP/1.1" 200 2 "" "curl/7.88.1"`).
fn access_log_entry(line: &str) -> Option<(String, String, u16)> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once('"')?;
    let mut words = request.split(' ');
    let (method, path, version) = (words.next()?, words.next()?, words.next()?);
    if !version.starts_with("HTTP/") {
        return None;
    }
    let status = rest.split_whitespace().next()?.parse().ok()?;
    Some((method.to_string(), path.to_string(), status))
}

/// The last `lines` lines of `text`.
fn log_tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A port nobody listens on right now (the kernel's pick for port 0).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// `openssl <args>` in `dir`.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = run_command(
        Command::new("openssl").current_dir(dir).args(args),
        Duration::from_secs(60),
    );
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Makes in `dir` a CA (`ca.crt`, `ca.key`) and a server certificate it signed for IP
/// `127.0.0.1` and DNS `localhost` (`server.crt`, `server.key`), RSA 2048, valid two days.
/// Returns the CA certificate's path.
pub fn make_server_certificate(dir: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=conti-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    )?;
    let extensions = dir.join("server.ext");
    fs::write(
        &extensions,
        "basicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .map_err(|e| format!("writing {}: {e}", extensions.display()))?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    )?;
    Ok(dir.join("ca.crt"))
}

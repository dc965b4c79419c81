//! The registry client's errors, each in the caller's terms (what to do about it), and the one
//! place where oci-client's and reqwest's errors are turned into them.

use oci_client::errors::{OciDistributionError, OciEnvelope, OciErrorCode};

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry does not have it: unknown manifest, tag, digest or repository.
    #[error("{reference}: not found in the registry (no such repository, tag or digest)")]
    NotFound { reference: String },
    /// 401/403 after trying the credentials we have (wrong ones, none, or no pull access).
    #[error("unauthorized by {registry}: {message}")]
    Unauthorized { registry: String, message: String },
    /// No answer: connection refused, DNS, TLS (an untrusted certificate says where its CA
    /// goes), a timeout, a connection lost mid-download, or the registry answering with server
    /// errors (5xx).
    #[error("cannot reach {registry}: {message}")]
    Unreachable { registry: String, message: String },
    /// The registry answered in plain HTTP and may only be spoken to over HTTPS.
    #[error(
        "{registry} answered plain HTTP to an HTTPS request; if it is trusted, add {registry} to \
         the daemon's insecure registries"
    )]
    InsecureRefused { registry: String },
    /// The index (manifest list) has no image for the platform asked for.
    #[error(
        "{reference} has no image for {platform} (it has: {})",
        if available.is_empty() { "none".to_string() } else { available.join(", ") }
    )]
    NoMatchingPlatform {
        reference: String,
        platform: String,
        available: Vec<String>,
    },
    /// A well-formed answer Conti cannot use: schema 1, an unknown media type, a foreign layer,
    /// not a container image…
    #[error("{reference}: {message}")]
    Unsupported { reference: String, message: String },
    /// The registry broke the protocol: a digest that does not match, a malformed manifest, an
    /// unexpected status…
    #[error("{message}")]
    Invalid { message: String },
    /// The registry's TLS settings cannot be used: a CA file in its certs.d folder is unreadable
    /// or not PEM.
    #[error("the CA certificates of {registry}: {message}")]
    Certificates { registry: String, message: String },
    /// The registry limits how many pulls it serves (Docker Hub's rate limit).
    #[error("{registry} refuses more requests for now (rate limit): {message}")]
    RateLimited { registry: String, message: String },
    /// The daemon's credentials file cannot be read or written.
    #[error("{message}")]
    Credentials { message: String },
}

/// Why a schema 1 manifest is refused.
pub(crate) const SCHEMA1: &str = "Docker image manifest schema 1 is not supported (deprecated \
                                  since 2017); push the image again with a current tool";

/// What an error is about: the names the messages use.
#[derive(Debug, Clone)]
pub(crate) struct ErrorContext {
    /// The registry as the user names it (`docker.io`, `127.0.0.1:5000`).
    pub registry: String,
    /// The normalised reference of the manifest or blob asked for.
    pub reference: String,
    /// Whether credentials were sent (changes what a 401 means).
    pub with_credentials: bool,
    /// The certs.d root, for the hint of an untrusted certificate.
    pub certs_dir: std::path::PathBuf,
    /// Whether plain HTTP is allowed for this registry (then an HTTP answer is no refusal).
    pub insecure: bool,
}

impl ErrorContext {
    /// Turns an oci-client error into ours.
    pub fn oci(&self, err: OciDistributionError) -> RegistryError {
        use OciDistributionError as E;
        match err {
            E::AuthenticationFailure(reason) => {
                self.unauthorized(Some(token_server_reason(&reason)))
            }
            E::UnauthorizedError { .. } => self.unauthorized(None),
            E::RegistryError { envelope, .. } => self.envelope(&envelope),
            E::ServerError { code, message, .. } => self.status(code, &message),
            E::RequestError(err) => self.request(&err),
            E::IoError(err) => self.io(&err),
            E::DigestError(err) => self.digest(&err),
            E::UnsupportedSchemaVersionError(1) => self.schema1(),
            E::UnsupportedSchemaVersionError(version) => RegistryError::Unsupported {
                reference: self.reference.clone(),
                message: format!("manifest schema version {version} is not supported"),
            },
            E::UnsupportedMediaTypeError(media_type)
            | E::IncompatibleLayerMediaTypeError(media_type) => RegistryError::Unsupported {
                reference: self.reference.clone(),
                message: format!("media type {media_type} is not supported"),
            },
            E::RegistryTokenDecodeError(reason) => RegistryError::Invalid {
                message: format!(
                    "{}: the token server's answer is not a token: {reason}",
                    self.registry
                ),
            },
            other => RegistryError::Invalid {
                message: format!("{}: {other}", self.reference),
            },
        }
    }

    /// An error envelope (`{"errors": [{"code": …}]}`) of a 4xx answer.
    fn envelope(&self, envelope: &OciEnvelope) -> RegistryError {
        let message = envelope_message(envelope);
        let Some(first) = envelope.errors.first() else {
            return RegistryError::Invalid {
                message: format!("{}: the registry answered an empty error", self.reference),
            };
        };
        match &first.code {
            OciErrorCode::ManifestUnknown
            | OciErrorCode::NameUnknown
            | OciErrorCode::NotFound
            | OciErrorCode::BlobUnknown
            | OciErrorCode::ManifestBlobUnknown => RegistryError::NotFound {
                reference: self.reference.clone(),
            },
            OciErrorCode::Unauthorized | OciErrorCode::Denied => self.unauthorized(Some(message)),
            OciErrorCode::Toomanyrequests => RegistryError::RateLimited {
                registry: self.registry.clone(),
                message,
            },
            OciErrorCode::Unsupported => RegistryError::Unsupported {
                reference: self.reference.clone(),
                message,
            },
            _ => RegistryError::Invalid {
                message: format!(
                    "{}: the registry refused the request: {message}",
                    self.reference
                ),
            },
        }
    }

    /// A non-2xx answer without an error envelope.
    pub fn status(&self, code: u16, body: &str) -> RegistryError {
        let body = body.trim();
        let detail = if body.is_empty() || body.len() > 300 {
            format!("HTTP {code}")
        } else {
            format!("HTTP {code}: {body}")
        };
        match code {
            404 => RegistryError::NotFound {
                reference: self.reference.clone(),
            },
            401 | 403 => self.unauthorized(None),
            429 => RegistryError::RateLimited {
                registry: self.registry.clone(),
                message: detail,
            },
            500..=599 => RegistryError::Unreachable {
                registry: self.registry.clone(),
                message: format!("the registry fails: {detail}"),
            },
            _ => RegistryError::Invalid {
                message: format!("{}: unexpected answer {detail}", self.reference),
            },
        }
    }

    /// 401/403: what it means depends on whether we sent credentials.
    pub fn unauthorized(&self, detail: Option<String>) -> RegistryError {
        let mut message = if self.with_credentials {
            format!(
                "the registry refused the credentials, or they give no pull access to {}",
                self.reference
            )
        } else {
            format!(
                "pull access denied for {}: the repository does not exist or needs credentials \
                 (log in to {} first)",
                self.reference, self.registry
            )
        };
        if let Some(detail) = detail.filter(|d| !d.is_empty()) {
            message = format!("{message} ({detail})");
        }
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            message,
        }
    }

    pub fn schema1(&self) -> RegistryError {
        RegistryError::Unsupported {
            reference: self.reference.clone(),
            message: SCHEMA1.to_string(),
        }
    }

    /// Content that does not match its digest (the reference's, the manifest's or the
    /// registry's `Docker-Content-Digest`).
    fn digest(&self, err: &oci_client::errors::DigestError) -> RegistryError {
        use oci_client::errors::DigestError as D;
        let message = match err {
            D::VerificationError { expected, actual } => format!(
                "{}: the content does not match its digest: expected {expected}, got {actual}",
                self.reference
            ),
            other => format!("{}: {other}", self.reference),
        };
        RegistryError::Invalid { message }
    }

    /// A failed HTTP exchange: no answer at all, or the connection lost in the middle.
    pub fn request(&self, err: &reqwest::Error) -> RegistryError {
        let address = err.url().map(url_address);
        self.transport(err, address.as_deref())
    }

    /// An I/O error of a blob stream: the digest check of oci-client or a lost connection.
    pub fn io(&self, err: &std::io::Error) -> RegistryError {
        let inner = err.get_ref();
        if let Some(digest) =
            inner.and_then(|e| e.downcast_ref::<oci_client::errors::DigestError>())
        {
            return self.digest(digest);
        }
        let failed = match inner.and_then(|e| e.downcast_ref::<reqwest::Error>()) {
            Some(request) => self.request(request),
            None => self.transport(err, None),
        };
        match failed {
            RegistryError::Unreachable { registry, message } => RegistryError::Unreachable {
                registry,
                message: format!("download of {} interrupted: {message}", self.reference),
            },
            other => other,
        }
    }

    fn transport(
        &self,
        err: &(dyn std::error::Error + 'static),
        address: Option<&str>,
    ) -> RegistryError {
        let registry = self.registry.clone();
        // Where the connection went, when it is not the registry's own name (Docker Hub's
        // host, a redirect, a token realm).
        let at = match address {
            Some(address) if address != self.registry => format!("{address}: "),
            _ => String::new(),
        };
        if let Some(tls) = find_in_chain::<rustls::Error>(err) {
            return match tls {
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
                    if !self.insecure =>
                {
                    RegistryError::InsecureRefused { registry }
                }
                rustls::Error::InvalidCertificate(cert) => RegistryError::Unreachable {
                    registry,
                    message: certificate_message(cert, &at, &self.certs_dir, &self.registry),
                },
                other => RegistryError::Unreachable {
                    registry,
                    message: format!("{at}TLS handshake failed: {other}"),
                },
            };
        }
        let chain = chain_message(err);
        let message = if chain.contains("dns error") {
            let reason = find_in_chain::<std::io::Error>(err)
                .map(|io| io.to_string())
                .unwrap_or(chain);
            format!("{at}cannot resolve the host name: {reason}")
        } else if let Some(io) = find_in_chain::<std::io::Error>(err) {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => format!("{at}connection refused"),
                std::io::ErrorKind::TimedOut => format!("{at}timed out"),
                std::io::ErrorKind::ConnectionReset => format!("{at}connection reset"),
                std::io::ErrorKind::UnexpectedEof => format!("{at}connection closed early"),
                _ => format!("{at}{io}"),
            }
        } else if find_in_chain::<reqwest::Error>(err).is_some_and(|e| e.is_timeout()) {
            format!("{at}timed out")
        } else {
            format!("{at}{chain}")
        };
        RegistryError::Unreachable { registry, message }
    }
}

/// `host:port` of a URL, the port always written (the default one of its scheme).
pub(crate) fn url_address(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => url.to_string(),
    }
}

fn certificate_message(
    err: &rustls::CertificateError,
    at: &str,
    certs_dir: &std::path::Path,
    registry: &str,
) -> String {
    use rustls::CertificateError as C;
    let ca_path = certs_dir.join(registry).join("ca.crt");
    match err {
        C::UnknownIssuer => format!(
            "{at}certificate not trusted: put the CA in {}",
            ca_path.display()
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("{at}the certificate is not valid for this name ({err})")
        }
        C::Expired | C::ExpiredContext { .. } => format!("{at}the certificate has expired"),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            format!("{at}the certificate is not valid yet")
        }
        other => format!(
            "{at}certificate refused ({other}); a private CA goes in {}",
            ca_path.display()
        ),
    }
}

/// The registry's own words from an error envelope, `CODE: message` joined.
fn envelope_message(envelope: &OciEnvelope) -> String {
    envelope
        .errors
        .iter()
        .map(|e| {
            let code = match &e.code {
                OciErrorCode::Other(code) => code.clone(),
                code => serde_json::to_value(code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            };
            if e.message.is_empty() {
                code
            } else {
                format!("{code}: {}", e.message)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The token server's answer to a refused token request, shortened to something readable.
fn token_server_reason(body: &str) -> String {
    if let Ok(envelope) = serde_json::from_str::<OciEnvelope>(body) {
        return envelope_message(&envelope);
    }
    #[derive(serde::Deserialize)]
    struct Details {
        details: String,
    }
    if let Ok(details) = serde_json::from_str::<Details>(body) {
        return details.details;
    }
    let body = body.trim();
    if body.len() > 300 {
        "the token server refused".to_string()
    } else {
        body.to_string()
    }
}

/// The first error of type `T` in `err`'s chain. `io::Error::source` skips the error it wraps,
/// so that one is looked at too.
pub(crate) fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(found) = inner.downcast_ref::<T>() {
                return Some(found);
            }
            if let Some(found) = find_in_chain::<T>(inner) {
                return Some(found);
            }
        }
        current = err.source();
    }
    None
}

/// The messages of an error chain, deepest last, without repeats.
fn chain_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(with_credentials: bool) -> ErrorContext {
        ErrorContext {
            registry: "127.0.0.1:5000".to_string(),
            reference: "127.0.0.1:5000/tiny:nope".to_string(),
            with_credentials,
            certs_dir: "/etc/conti/certs.d".into(),
            insecure: false,
        }
    }

    fn envelope(json: &str) -> OciDistributionError {
        OciDistributionError::RegistryError {
            envelope: serde_json::from_str(json).unwrap(),
            url: "http://127.0.0.1:5000/v2/tiny/manifests/nope".to_string(),
        }
    }

    #[test]
    fn unknown_manifests_and_repositories_are_not_found_with_the_full_reference() {
        for code in [
            "MANIFEST_UNKNOWN",
            "NAME_UNKNOWN",
            "NOT_FOUND",
            "BLOB_UNKNOWN",
        ] {
            let err = context(false).oci(envelope(&format!(
                r#"{{"errors":[{{"code":"{code}","message":"unknown"}}]}}"#
            )));
            match err {
                RegistryError::NotFound { reference } => {
                    assert_eq!(reference, "127.0.0.1:5000/tiny:nope")
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        let plain_404 = OciDistributionError::ServerError {
            code: 404,
            url: String::new(),
            message: "404 page not found".to_string(),
        };
        assert!(matches!(
            context(false).oci(plain_404),
            RegistryError::NotFound { .. }
        ));
    }

    #[test]
    fn a_401_says_whether_credentials_were_refused() {
        let unauthorized = || OciDistributionError::UnauthorizedError {
            url: "http://x/v2/".to_string(),
        };
        let anonymous = context(false).oci(unauthorized());
        assert!(
            matches!(&anonymous, RegistryError::Unauthorized { registry, message }
                if registry == "127.0.0.1:5000" && message.contains("log in to 127.0.0.1:5000")),
            "{anonymous:?}"
        );
        let refused = context(true).oci(unauthorized());
        assert!(
            matches!(&refused, RegistryError::Unauthorized { message, .. }
                if message.contains("refused the credentials")),
            "{refused:?}"
        );
        let denied = context(true).oci(envelope(
            r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#,
        ));
        assert!(
            matches!(&denied, RegistryError::Unauthorized { message, .. }
                if message.contains("DENIED: requested access")),
            "{denied:?}"
        );
        let token = context(true).oci(OciDistributionError::AuthenticationFailure(
            r#"{"details":"incorrect username or password"}"#.to_string(),
        ));
        assert!(
            matches!(&token, RegistryError::Unauthorized { message, .. }
                if message.ends_with("(incorrect username or password)")),
            "{token:?}"
        );
    }

    #[test]
    fn rate_limits_and_server_errors_are_named() {
        let limited = context(false).oci(envelope(
            r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#,
        ));
        assert!(
            matches!(limited, RegistryError::RateLimited { .. }),
            "{limited:?}"
        );
        let failing = context(false).oci(OciDistributionError::ServerError {
            code: 503,
            url: String::new(),
            message: "down for maintenance".to_string(),
        });
        assert!(
            matches!(&failing, RegistryError::Unreachable { message, .. }
                if message.contains("HTTP 503: down for maintenance")),
            "{failing:?}"
        );
    }

    #[test]
    fn digest_mismatches_and_schema_1_are_named() {
        let mismatch = context(false).oci(
            oci_client::errors::DigestError::VerificationError {
                expected: "sha256:aa".to_string(),
                actual: "sha256:bb".to_string(),
            }
            .into(),
        );
        assert!(
            matches!(&mismatch, RegistryError::Invalid { message } if message.contains("sha256:bb")),
            "{mismatch:?}"
        );
        let schema1 = context(false).oci(OciDistributionError::UnsupportedSchemaVersionError(1));
        assert!(
            matches!(&schema1, RegistryError::Unsupported { message, .. } if message.contains("schema 1")),
            "{schema1:?}"
        );
        let wrapped = std::io::Error::other(oci_client::errors::DigestError::VerificationError {
            expected: "sha256:aa".to_string(),
            actual: "sha256:bb".to_string(),
        });
        assert!(matches!(
            context(false).io(&wrapped),
            RegistryError::Invalid { .. }
        ));
    }

    #[test]
    fn tls_errors_in_a_chain_are_found_and_explained() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let err = context(false).transport(&io, Some("10.0.0.1:5000"));
        match err {
            RegistryError::Unreachable { message, .. } => assert_eq!(
                message,
                "10.0.0.1:5000: certificate not trusted: put the CA in \
                 /etc/conti/certs.d/127.0.0.1:5000/ca.crt"
            ),
            other => panic!("{other:?}"),
        }
        let err = context(false).transport(&io, Some("127.0.0.1:5000"));
        match err {
            RegistryError::Unreachable { message, .. } => assert_eq!(
                message,
                "certificate not trusted: put the CA in /etc/conti/certs.d/127.0.0.1:5000/ca.crt"
            ),
            other => panic!("{other:?}"),
        }
        let http = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        assert!(matches!(
            context(false).transport(&http, None),
            RegistryError::InsecureRefused { .. }
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        match context(false).transport(&refused, Some("127.0.0.1:5000")) {
            RegistryError::Unreachable { message, .. } => {
                assert_eq!(message, "connection refused")
            }
            other => panic!("{other:?}"),
        }
    }
}

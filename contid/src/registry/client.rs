//! Connections to registries: one endpoint per registry (HTTPS or, for an insecure or loopback
//! registry that does not speak it, HTTP; its certs.d CAs), and one oci-client `Client` per
//! registry and credentials, shared by every caller so tokens are fetched once and reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use tokio::sync::OnceCell;

use super::credentials::{Credentials, DOCKER_HUB};
use super::error::{ErrorContext, RegistryError};
use super::settings::RegistrySettings;

const USER_AGENT: &str = concat!("conti/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence of a registry in the middle of an answer (a stalled download).
const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// The whole `GET /v2/` of a probe or a login.
const PING_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    Http,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

/// How one registry is reached.
pub struct Endpoint {
    /// The registry as references name it: `docker.io`, `127.0.0.1:5000`.
    pub registry: String,
    /// Where requests go: `index.docker.io` for `docker.io` (as oci-client), else `registry`.
    pub host: String,
    pub scheme: Scheme,
    /// Whether plain HTTP and unverified HTTPS are allowed (insecure or loopback registry).
    pub insecure: bool,
    /// The PEM blocks of its certs.d folder.
    roots: Vec<Vec<u8>>,
    /// For the requests oci-client does not make: a login's `GET /v2/`.
    pub http: reqwest::Client,
}

impl Endpoint {
    /// `scheme://host/v2/`.
    pub fn ping_url(&self) -> String {
        format!("{}://{}/v2/", self.scheme.as_str(), self.host)
    }
}

/// The endpoints and clients of all registries talked to, shared by the `Registry` clones.
#[derive(Default)]
pub struct Clients {
    /// By registry; a cell is filled once its probe succeeds (a failed one is tried again).
    endpoints: Mutex<HashMap<String, Arc<OnceCell<Arc<Endpoint>>>>>,
    /// By registry and credentials (oci-client keeps the first credentials it is given per
    /// registry, and its tokens are per repository, not per user).
    clients: Mutex<HashMap<(String, Option<Credentials>), oci_client::Client>>,
}

impl Clients {
    /// How `registry` is reached, probed the first time (HTTPS, then HTTP when allowed).
    pub async fn endpoint(
        &self,
        registry: &str,
        settings: &RegistrySettings,
    ) -> Result<Arc<Endpoint>, RegistryError> {
        let cell = lock(&self.endpoints)
            .entry(registry.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| connect(registry, settings))
            .await
            .cloned()
    }

    /// The client of `endpoint` for `credentials` (`None`: anonymous).
    pub fn client(
        &self,
        endpoint: &Endpoint,
        credentials: Option<&Credentials>,
    ) -> Result<oci_client::Client, RegistryError> {
        let key = (endpoint.registry.clone(), credentials.cloned());
        let mut clients = lock(&self.clients);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = oci_client::Client::try_from(client_config(endpoint)).map_err(|err| {
            RegistryError::Certificates {
                registry: endpoint.registry.clone(),
                message: format!("cannot set up TLS: {err}"),
            }
        })?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Forgets how `registry` is reached and its clients (with their tokens): after a
    /// connection failure (it may have restarted in the other scheme), a login or a logout.
    pub fn forget(&self, registry: &str) {
        lock(&self.endpoints).remove(registry);
        lock(&self.clients).retain(|(r, _), _| r != registry);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where requests for `registry` go (oci-client's own rule for Docker Hub).
pub fn connect_host(registry: &str) -> String {
    if registry == DOCKER_HUB {
        "index.docker.io".to_string()
    } else {
        registry.to_string()
    }
}

/// Builds `registry`'s endpoint. As Docker: a secure registry is HTTPS with its certificate
/// verified (system roots and its certs.d CAs); an insecure or loopback one is tried in HTTPS
/// without verification, then in HTTP when the HTTPS exchange fails.
async fn connect(
    registry: &str,
    settings: &RegistrySettings,
) -> Result<Arc<Endpoint>, RegistryError> {
    let insecure = settings.is_insecure(registry);
    let roots = settings.extra_roots(registry)?;
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .danger_accept_invalid_certs(insecure);
    let mut certificates = Vec::new();
    for pem in &roots {
        certificates.push(reqwest::Certificate::from_pem(pem).map_err(|err| {
            RegistryError::Certificates {
                registry: registry.to_string(),
                message: err.to_string(),
            }
        })?);
    }
    builder = builder.tls_certs_merge(certificates);
    let http = builder.build().map_err(|err| RegistryError::Certificates {
        registry: registry.to_string(),
        message: format!(
            "cannot set up TLS: {} (are the system's CA certificates installed?)",
            error_chain(&err)
        ),
    })?;
    let host = connect_host(registry);
    let scheme = if insecure {
        probe(registry, &host, &http, settings).await?
    } else {
        Scheme::Https
    };
    tracing::debug!(
        registry,
        scheme = scheme.as_str(),
        insecure,
        extra_roots = roots.len(),
        "registry endpoint"
    );
    Ok(Arc::new(Endpoint {
        registry: registry.to_string(),
        host,
        scheme,
        insecure,
        roots,
        http,
    }))
}

/// HTTPS if the registry answers in it (any status), else HTTP if it answers in that.
async fn probe(
    registry: &str,
    host: &str,
    http: &reqwest::Client,
    settings: &RegistrySettings,
) -> Result<Scheme, RegistryError> {
    let https_error = match http
        .get(format!("https://{host}/v2/"))
        .timeout(PING_TIMEOUT)
        .send()
        .await
    {
        Ok(_) => return Ok(Scheme::Https),
        Err(err) => err,
    };
    tracing::debug!(registry, error = %error_chain(&https_error), "no HTTPS, trying HTTP");
    let http_error = match http
        .get(format!("http://{host}/v2/"))
        .timeout(PING_TIMEOUT)
        .send()
        .await
    {
        Ok(_) => return Ok(Scheme::Http),
        Err(err) => err,
    };
    let context = ErrorContext {
        registry: registry.to_string(),
        reference: registry.to_string(),
        with_credentials: false,
        certs_dir: settings.certs_dir.clone(),
        insecure: true,
    };
    let https = context.request(&https_error);
    let plain = context.request(&http_error);
    Err(match (https, plain) {
        (
            RegistryError::Unreachable { message: https, .. },
            RegistryError::Unreachable { message: plain, .. },
        ) if https != plain => RegistryError::Unreachable {
            registry: registry.to_string(),
            message: format!("in HTTPS: {https}; in HTTP: {plain}"),
        },
        (_, plain) => plain,
    })
}

fn client_config(endpoint: &Endpoint) -> ClientConfig {
    ClientConfig {
        // Clients are per registry, so this is "HTTP for this one" or "HTTPS".
        protocol: match endpoint.scheme {
            Scheme::Https => ClientProtocol::Https,
            Scheme::Http => ClientProtocol::HttpsExcept(vec![endpoint.host.clone()]),
        },
        accept_invalid_certificates: endpoint.insecure,
        extra_root_certificates: endpoint
            .roots
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect(),
        // Indexes are walked by the registry module itself (variants, a clear error).
        platform_resolver: None,
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: USER_AGENT,
        ..ClientConfig::default()
    }
}

/// A login's check of `credentials`: `GET /v2/`, then as its challenge says, the same with
/// Basic authentication, or a token asked of the Bearer realm with them. A registry that asks
/// for nothing accepts them (as Docker).
pub async fn check_credentials(
    endpoint: &Endpoint,
    credentials: &Credentials,
    context: &ErrorContext,
) -> Result<(), RegistryError> {
    let url = endpoint.ping_url();
    let response = endpoint
        .http
        .get(&url)
        .timeout(PING_TIMEOUT)
        .send()
        .await
        .map_err(|err| context.request(&err))?;
    let status = response.status();
    if status.is_success() {
        tracing::info!(registry = %endpoint.registry, "the registry asks for no credentials; storing them anyway");
        return Ok(());
    }
    if status != reqwest::StatusCode::UNAUTHORIZED {
        let body = response.text().await.unwrap_or_default();
        return Err(context.status(status.as_u16(), &body));
    }
    let challenges: Vec<String> = response
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let challenge = parse_challenge(&challenges).ok_or_else(|| RegistryError::Invalid {
        message: format!(
            "{}: 401 without a Basic or Bearer challenge (WWW-Authenticate: {challenges:?})",
            endpoint.registry
        ),
    })?;
    let refused = |detail: String| RegistryError::Unauthorized {
        registry: endpoint.registry.clone(),
        message: format!(
            "login refused for user {:?}{}",
            credentials.username,
            if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            }
        ),
    };
    let request = match &challenge {
        Challenge::Basic => endpoint.http.get(&url),
        Challenge::Bearer { realm, service } => {
            let mut realm = reqwest::Url::parse(realm).map_err(|err| RegistryError::Invalid {
                message: format!(
                    "{}: token realm {realm:?} is not a URL: {err}",
                    endpoint.registry
                ),
            })?;
            {
                let mut query = realm.query_pairs_mut();
                if let Some(service) = service {
                    query.append_pair("service", service);
                }
                query.append_pair("account", &credentials.username);
                query.append_pair("client_id", "conti");
            }
            endpoint.http.get(realm)
        }
    };
    let response = request
        .basic_auth(&credentials.username, Some(&credentials.password))
        .timeout(PING_TIMEOUT)
        .send()
        .await
        .map_err(|err| context.request(&err))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    match status.as_u16() {
        200 => {
            if let Challenge::Bearer { .. } = challenge {
                let token: serde_json::Value =
                    serde_json::from_str(&body).map_err(|err| RegistryError::Invalid {
                        message: format!(
                            "{}: the token server's answer is not JSON: {err}",
                            endpoint.registry
                        ),
                    })?;
                if token
                    .get("token")
                    .or_else(|| token.get("access_token"))
                    .is_none()
                {
                    return Err(RegistryError::Invalid {
                        message: format!(
                            "{}: the token server's answer has no token",
                            endpoint.registry
                        ),
                    });
                }
            }
            Ok(())
        }
        401 | 403 => Err(refused(short_reason(&body))),
        code => Err(context.status(code, &body)),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The Bearer challenge of `WWW-Authenticate` headers if there is one, else Basic if asked.
fn parse_challenge(headers: &[String]) -> Option<Challenge> {
    let mut basic = false;
    for header in headers {
        let Ok(challenges) = http_auth::parse_challenges(header) else {
            continue;
        };
        for challenge in challenges {
            if challenge.scheme.eq_ignore_ascii_case("bearer") {
                let param = |name: &str| {
                    challenge
                        .params
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v.to_unescaped())
                };
                if let Some(realm) = param("realm") {
                    return Some(Challenge::Bearer {
                        realm,
                        service: param("service"),
                    });
                }
            } else if challenge.scheme.eq_ignore_ascii_case("basic") {
                basic = true;
            }
        }
    }
    basic.then_some(Challenge::Basic)
}

/// The reason in a refusal's body: an error envelope's messages, a token server's `details`,
/// or the body itself when short.
fn short_reason(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Details {
        details: String,
    }
    if let Ok(envelope) = serde_json::from_str::<oci_client::errors::OciEnvelope>(body) {
        return envelope
            .errors
            .iter()
            .map(|e| e.message.clone())
            .filter(|m| !m.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Ok(details) = serde_json::from_str::<Details>(body) {
        return details.details;
    }
    let body = body.trim();
    if body.len() > 200 {
        String::new()
    } else {
        body.to_string()
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        text = format!("{text}: {err}");
        source = err.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_prefer_bearer_and_read_realm_and_service() {
        let distribution = vec![
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
                .to_string(),
        ];
        assert_eq!(
            parse_challenge(&distribution),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".to_string(),
                service: Some("registry.docker.io".to_string()),
            })
        );
        let basic = vec![r#"Basic realm="Registry Realm""#.to_string()];
        assert_eq!(parse_challenge(&basic), Some(Challenge::Basic));
        let both = vec![
            r#"Basic realm="x""#.to_string(),
            r#"Bearer realm="https://t/token""#.to_string(),
        ];
        assert!(matches!(
            parse_challenge(&both),
            Some(Challenge::Bearer { service: None, .. })
        ));
        assert_eq!(parse_challenge(&[r#"Negotiate"#.to_string()]), None);
        assert_eq!(parse_challenge(&[]), None);
    }

    #[test]
    fn refusal_reasons_are_short() {
        assert_eq!(
            short_reason(r#"{"details":"incorrect username or password"}"#),
            "incorrect username or password"
        );
        assert_eq!(
            short_reason(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
            ),
            "authentication required"
        );
        assert_eq!(short_reason(&"x".repeat(500)), "");
    }

    #[test]
    fn docker_hub_is_reached_where_oci_client_goes() {
        assert_eq!(connect_host("docker.io"), "index.docker.io");
        assert_eq!(connect_host("127.0.0.1:5000"), "127.0.0.1:5000");
        let reference: oci_client::Reference = "busybox".parse().unwrap();
        assert_eq!(
            connect_host(reference.registry()),
            reference.resolve_registry()
        );
    }
}

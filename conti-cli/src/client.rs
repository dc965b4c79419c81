//! Typed client of contid's API: one method per endpoint, over HTTP/1.1 on the Unix socket.
//!
//! Each request opens its own connection: calls that block (`wait`, `logs?follow=true`) can then
//! run side by side, and the CLI makes too few requests for connection reuse to matter.

use std::error::Error as StdError;
use std::fmt::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use bytes::{Bytes, BytesMut};
use conti_proto::{
    API_PREFIX, ContainerInfo, ContainerPruneReport, ContainerSpec, ContainerStats, ContainerTop,
    ContainerUpdate, CreatedContainer, DaemonInfo, DiskUsage, ErrorBody, Event, ExecCreated,
    ExecInfo, ExecResult, ExecSpec, ImageHistoryEntry, ImageInfo, ImagePruneReport, LogLine,
    LoginSpec, NetworkInfo, NetworkPruneReport, NetworkSpec, PullEvent, VersionInfo,
    VolumeCreateSpec, VolumeInfo, VolumePruneReport, WaitResult,
};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderName, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::UnixStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be reached: contid is not running, or we may not talk to it.
    #[error("cannot connect to contid at {}: {source} (is contid running?)", socket.display())]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },
    /// contid answered with an error body.
    #[error("{message}")]
    Api {
        status: StatusCode,
        code: String,
        message: String,
    },
    /// The exchange broke down, or the answer is not what the contract promises.
    #[error("bad answer from contid: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The API's error code (`container_not_found`, ...), when contid gave one.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Keeps the whole chain: hyper's own messages ("error from user's Body stream") say little
    /// without their cause.
    fn protocol(error: impl StdError) -> ClientError {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let _ = write!(message, ": {cause}");
            source = cause.source();
        }
        ClientError::Protocol(message)
    }
}

/// Options of `GET /v1/containers/{ref}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep the answer open until the container has exited.
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<u64>,
    /// Only lines written from / until this time (RFC 3339, Unix seconds, or a duration ago),
    /// passed to contid as typed.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Each line after its time (the output's form only: records carry their time anyway).
    pub timestamps: bool,
}

/// Credentials for one pull, sent as `X-Registry-Auth`: the base64url (padded, as Docker sends
/// it) of this as JSON.
#[derive(Clone, Serialize, PartialEq, Eq)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryAuth {
    /// Never the password, should an error or a log ever show one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl RegistryAuth {
    fn header_value(&self) -> Result<String, ClientError> {
        let json = serde_json::to_vec(self).map_err(ClientError::protocol)?;
        Ok(URL_SAFE.encode(json))
    }
}

const REGISTRY_AUTH: HeaderName = HeaderName::from_static("x-registry-auth");

#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    pub fn new(socket: impl Into<PathBuf>) -> Client {
        Client {
            socket: socket.into(),
        }
    }

    /// `GET /v1/version`
    pub async fn version(&self) -> Result<VersionInfo, ClientError> {
        read_json(self.send_empty(Method::GET, "/version").await?).await
    }

    /// `GET /v1/info`
    pub async fn info(&self) -> Result<DaemonInfo, ClientError> {
        read_json(self.send_empty(Method::GET, "/info").await?).await
    }

    /// `POST /v1/images/pull?ref=REF[&platform=os/arch[/variant]]`: the progress, read as it
    /// arrives. `auth` goes as `X-Registry-Auth`; without it contid uses what `login` kept.
    pub async fn pull_image(
        &self,
        reference: &str,
        platform: Option<&str>,
        auth: Option<&RegistryAuth>,
    ) -> Result<PullStream, ClientError> {
        let mut path = format!("/images/pull?ref={}", encode(reference));
        if let Some(platform) = platform {
            let _ = write!(path, "&platform={}", encode(platform));
        }
        let headers = match auth {
            Some(auth) => vec![(REGISTRY_AUTH, auth.header_value()?)],
            None => Vec::new(),
        };
        let response = self
            .send_with_headers(Method::POST, &path, None, &headers, Empty::<Bytes>::new())
            .await?;
        Ok(PullStream {
            lines: JsonLines::new(response.into_body()),
        })
    }

    /// `POST /v1/images/import?name=NAME[&change=INSTRUCTION]…`, with `archive` (a tar or tar.gz
    /// of a root filesystem) streamed as the body. `changes` are Dockerfile instructions for the
    /// image's config (`CMD ["/bin/sh"]`, `ENV A=b`, …).
    pub async fn import_image(
        &self,
        name: &str,
        changes: &[String],
        archive: impl AsyncRead + Send + Unpin + 'static,
    ) -> Result<ImageInfo, ClientError> {
        let mut path = format!("/images/import?name={}", encode(name));
        for change in changes {
            let _ = write!(path, "&change={}", encode(change));
        }
        let body = stream_body(archive);
        let response = self
            .send(Method::POST, &path, Some("application/octet-stream"), body)
            .await?;
        read_json(response).await
    }

    /// `POST /v1/images/load`, with `archive` (a `docker save` tar or an OCI layout tar)
    /// streamed as the body: the images it held.
    pub async fn load_images(
        &self,
        archive: impl AsyncRead + Send + Unpin + 'static,
    ) -> Result<Vec<ImageInfo>, ClientError> {
        let body = stream_body(archive);
        let response = self
            .send(
                Method::POST,
                "/images/load",
                Some("application/x-tar"),
                body,
            )
            .await?;
        read_json(response).await
    }

    /// `GET /v1/images/{ref}/save`: the image as a `docker save` tar, read as it arrives.
    pub async fn save_image(&self, reference: &str) -> Result<ByteStream, ClientError> {
        let path = image_path(reference, "/save");
        let response = self.send_empty(Method::GET, &path).await?;
        Ok(ByteStream {
            body: response.into_body(),
        })
    }

    /// `GET /v1/images`
    pub async fn list_images(&self) -> Result<Vec<ImageInfo>, ClientError> {
        read_json(self.send_empty(Method::GET, "/images").await?).await
    }

    /// `GET /v1/images/{ref}`
    pub async fn inspect_image(&self, reference: &str) -> Result<ImageInfo, ClientError> {
        let path = image_path(reference, "");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `GET /v1/images/{ref}/history`: newest step first.
    pub async fn image_history(
        &self,
        reference: &str,
    ) -> Result<Vec<ImageHistoryEntry>, ClientError> {
        let path = image_path(reference, "/history");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `POST /v1/images/{ref}/tag?tag=TARGET`: the image, now also named `target`.
    pub async fn tag_image(&self, source: &str, target: &str) -> Result<ImageInfo, ClientError> {
        let path = image_path(source, &format!("/tag?tag={}", encode(target)));
        read_json(self.send_empty(Method::POST, &path).await?).await
    }

    /// `DELETE /v1/images/{ref}`: untags `reference`; the image goes with its last name, or
    /// when `reference` is its id.
    pub async fn remove_image(&self, reference: &str) -> Result<(), ClientError> {
        let path = image_path(reference, "");
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    /// `POST /v1/images/prune[?all=true]`: dangling images, or with `all` every image no
    /// container uses.
    pub async fn prune_images(&self, all: bool) -> Result<ImagePruneReport, ClientError> {
        let path = if all {
            "/images/prune?all=true"
        } else {
            "/images/prune"
        };
        read_json(self.send_empty(Method::POST, path).await?).await
    }

    /// `POST /v1/auth`: contid checks the credentials with the registry and keeps them for its
    /// pulls.
    pub async fn login(&self, spec: &LoginSpec) -> Result<(), ClientError> {
        self.send_json(Method::POST, "/auth", spec).await.map(drop)
    }

    /// `DELETE /v1/auth/{registry}`: a 404 when contid kept none for `registry`.
    pub async fn logout(&self, registry: &str) -> Result<(), ClientError> {
        let path = format!("/auth/{}", encode(registry));
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    /// `POST /v1/networks`
    pub async fn create_network(&self, spec: &NetworkSpec) -> Result<NetworkInfo, ClientError> {
        read_json(self.send_json(Method::POST, "/networks", spec).await?).await
    }

    /// `GET /v1/networks`
    pub async fn list_networks(&self) -> Result<Vec<NetworkInfo>, ClientError> {
        read_json(self.send_empty(Method::GET, "/networks").await?).await
    }

    /// `GET /v1/networks/{name}`
    pub async fn inspect_network(&self, name: &str) -> Result<NetworkInfo, ClientError> {
        let path = format!("/networks/{}", encode(name));
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `DELETE /v1/networks/{name}`
    pub async fn remove_network(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/networks/{}", encode(name));
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    /// `POST /v1/volumes`: the volume made, or the one of that name when its labels are the
    /// same.
    pub async fn create_volume(&self, spec: &VolumeCreateSpec) -> Result<VolumeInfo, ClientError> {
        read_json(self.send_json(Method::POST, "/volumes", spec).await?).await
    }

    /// `GET /v1/volumes[?label=KEY[=VALUE]]…`
    pub async fn list_volumes(
        &self,
        labels: &[(String, String)],
    ) -> Result<Vec<VolumeInfo>, ClientError> {
        let path = with_query("/volumes", labels);
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `GET /v1/volumes/{name}`
    pub async fn inspect_volume(&self, name: &str) -> Result<VolumeInfo, ClientError> {
        let path = format!("/volumes/{}", encode(name));
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `DELETE /v1/volumes/{name}`: a 409 while a container refers to it.
    pub async fn remove_volume(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/volumes/{}", encode(name));
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    /// `POST /v1/volumes/prune`: every volume no container refers to.
    pub async fn prune_volumes(&self) -> Result<VolumePruneReport, ClientError> {
        read_json(self.send_empty(Method::POST, "/volumes/prune").await?).await
    }

    /// `POST /v1/containers/prune[?until=…][&label=…]…`: every container that does not run.
    pub async fn prune_containers(
        &self,
        filters: &[(String, String)],
    ) -> Result<ContainerPruneReport, ClientError> {
        let path = with_query("/containers/prune", filters);
        read_json(self.send_empty(Method::POST, &path).await?).await
    }

    /// `POST /v1/networks/prune[?until=…][&label=…]…`: every network no container is on.
    pub async fn prune_networks(
        &self,
        filters: &[(String, String)],
    ) -> Result<NetworkPruneReport, ClientError> {
        let path = with_query("/networks/prune", filters);
        read_json(self.send_empty(Method::POST, &path).await?).await
    }

    /// `GET /v1/system/df`
    pub async fn disk_usage(&self) -> Result<DiskUsage, ClientError> {
        read_json(self.send_empty(Method::GET, "/system/df").await?).await
    }

    /// `POST /v1/containers`
    pub async fn create_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<CreatedContainer, ClientError> {
        read_json(self.send_json(Method::POST, "/containers", spec).await?).await
    }

    /// `GET /v1/containers[?all=true][&KEY=VALUE]…`: running containers, or all of them, that
    /// pass `filters` (`label`, `name`, `status`, `id`, `ancestor`; repeatable).
    pub async fn list_containers(
        &self,
        all: bool,
        filters: &[(String, String)],
    ) -> Result<Vec<ContainerInfo>, ClientError> {
        let all = all.then(|| ("all".to_string(), "true".to_string()));
        let path = with_query("/containers", all.iter().chain(filters));
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `GET /v1/containers/{ref}`
    pub async fn inspect_container(&self, container: &str) -> Result<ContainerInfo, ClientError> {
        let path = container_path(container, "");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `PATCH /v1/containers/{ref}`: new limits; the container as it now is.
    pub async fn update_container(
        &self,
        container: &str,
        update: &ContainerUpdate,
    ) -> Result<ContainerInfo, ClientError> {
        let path = container_path(container, "");
        read_json(self.send_json(Method::PATCH, &path, update).await?).await
    }

    /// `GET /v1/containers/{ref}/stats`: one sample.
    pub async fn container_stats(&self, container: &str) -> Result<ContainerStats, ClientError> {
        let path = container_path(container, "/stats");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `GET /v1/containers/{ref}/top`
    pub async fn container_top(&self, container: &str) -> Result<ContainerTop, ClientError> {
        let path = container_path(container, "/top");
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `POST /v1/containers/{ref}/start`
    pub async fn start_container(&self, container: &str) -> Result<(), ClientError> {
        let path = container_path(container, "/start");
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/stop`; `timeout` in seconds, contid's default when `None`.
    pub async fn stop_container(
        &self,
        container: &str,
        timeout: Option<u64>,
    ) -> Result<(), ClientError> {
        self.stop_or_restart(container, "/stop", timeout).await
    }

    /// `POST /v1/containers/{ref}/restart`; `timeout` as in [`Client::stop_container`].
    pub async fn restart_container(
        &self,
        container: &str,
        timeout: Option<u64>,
    ) -> Result<(), ClientError> {
        self.stop_or_restart(container, "/restart", timeout).await
    }

    async fn stop_or_restart(
        &self,
        container: &str,
        verb: &str,
        timeout: Option<u64>,
    ) -> Result<(), ClientError> {
        let mut path = container_path(container, verb);
        if let Some(seconds) = timeout {
            let _ = write!(path, "?timeout={seconds}");
        }
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/kill`; `signal` by name or number, SIGKILL when `None`.
    pub async fn kill_container(
        &self,
        container: &str,
        signal: Option<&str>,
    ) -> Result<(), ClientError> {
        let mut path = container_path(container, "/kill");
        if let Some(signal) = signal {
            let _ = write!(path, "?signal={}", encode(signal));
        }
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/rename?name=`.
    pub async fn rename_container(&self, container: &str, name: &str) -> Result<(), ClientError> {
        let path = format!(
            "{}?name={}",
            container_path(container, "/rename"),
            encode(name)
        );
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/wait`: blocks until the container has exited.
    pub async fn wait_container(&self, container: &str) -> Result<WaitResult, ClientError> {
        let path = container_path(container, "/wait");
        read_json(self.send_empty(Method::POST, &path).await?).await
    }

    /// `GET /v1/containers/{ref}/logs?format=json`: the records, read as they arrive.
    pub async fn container_logs(
        &self,
        container: &str,
        options: LogOptions,
    ) -> Result<LogStream, ClientError> {
        let path = logs_path(container, "json", &options);
        let response = self.send_empty(Method::GET, &path).await?;
        Ok(LogStream {
            lines: JsonLines::new(response.into_body()),
        })
    }

    /// `GET /v1/containers/{ref}/logs?format=multiplexed`: the output as it was written, in
    /// pieces that say their stream, read as they arrive.
    pub async fn container_output(
        &self,
        container: &str,
        options: LogOptions,
    ) -> Result<OutputStream, ClientError> {
        let mut path = logs_path(container, "multiplexed", &options);
        if options.timestamps {
            path.push_str("&timestamps=true");
        }
        let response = self.send_empty(Method::GET, &path).await?;
        Ok(OutputStream {
            body: response.into_body(),
            pending: BytesMut::new(),
        })
    }

    /// `GET /v1/events`: events as they happen, after those since `since` when given, until
    /// `until` when given.
    pub async fn events(
        &self,
        since: Option<String>,
        until: Option<String>,
    ) -> Result<EventStream, ClientError> {
        let mut path = "/events".to_string();
        push_time_window(&mut path, '?', &since, &until);
        let response = self.send_empty(Method::GET, &path).await?;
        Ok(EventStream {
            lines: JsonLines::new(response.into_body()),
        })
    }

    /// `POST /v1/containers/{ref}/exec`: runs the command to its end.
    pub async fn exec(&self, container: &str, spec: &ExecSpec) -> Result<ExecResult, ClientError> {
        let path = container_path(container, "/exec");
        read_json(self.send_json(Method::POST, &path, spec).await?).await
    }

    /// `POST /v1/containers/{ref}/attach`: the connection, upgraded, is the container's stdio.
    pub async fn attach_container(
        &self,
        container: &str,
        stdin: bool,
        detach_keys: Option<&str>,
    ) -> Result<Stream, ClientError> {
        let mut path = container_path(container, "/attach?stdout=true&stderr=true");
        if stdin {
            path.push_str("&stdin=true");
        }
        if let Some(keys) = detach_keys {
            let _ = write!(path, "&detach_keys={}", encode(keys));
        }
        self.upgrade(&path).await
    }

    /// `POST /v1/containers/{ref}/resize`
    pub async fn resize_container(
        &self,
        container: &str,
        rows: u16,
        cols: u16,
    ) -> Result<(), ClientError> {
        let path = container_path(container, &format!("/resize?h={rows}&w={cols}"));
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// `POST /v1/containers/{ref}/exec` with `attach` (a streaming exec, not started yet) or
    /// `detach` (started, nobody attached).
    pub async fn create_exec(
        &self,
        container: &str,
        spec: &ExecSpec,
    ) -> Result<ExecCreated, ClientError> {
        let path = container_path(container, "/exec");
        read_json(self.send_json(Method::POST, &path, spec).await?).await
    }

    /// `POST /v1/execs/{id}/start`: the connection, upgraded, is the command's stdio.
    pub async fn start_exec(
        &self,
        id: &str,
        detach_keys: Option<&str>,
    ) -> Result<Stream, ClientError> {
        let mut path = format!("/execs/{}/start", encode(id));
        if let Some(keys) = detach_keys {
            let _ = write!(path, "?detach_keys={}", encode(keys));
        }
        self.upgrade(&path).await
    }

    /// `GET /v1/execs/{id}`
    pub async fn inspect_exec(&self, id: &str) -> Result<ExecInfo, ClientError> {
        let path = format!("/execs/{}", encode(id));
        read_json(self.send_empty(Method::GET, &path).await?).await
    }

    /// `POST /v1/execs/{id}/resize`
    pub async fn resize_exec(&self, id: &str, rows: u16, cols: u16) -> Result<(), ClientError> {
        let path = format!("/execs/{}/resize?h={rows}&w={cols}", encode(id));
        self.send_empty(Method::POST, &path).await.map(drop)
    }

    /// A new HTTP/1.1 connection to contid; the caller drives (spawns) the connection half.
    async fn handshake<B>(
        &self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<B>,
            hyper::client::conn::http1::Connection<TokioIo<UnixStream>, B>,
        ),
        ClientError,
    >
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let stream =
            UnixStream::connect(&self.socket)
                .await
                .map_err(|source| ClientError::Connect {
                    socket: self.socket.clone(),
                    source,
                })?;
        hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ClientError::protocol)
    }

    /// A POST that contid answers with 101: the connection becomes a byte stream.
    async fn upgrade(&self, path: &str) -> Result<Stream, ClientError> {
        let (mut sender, connection) = self.handshake().await?;
        tokio::spawn(connection.with_upgrades());
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{API_PREFIX}{path}"))
            .header(HOST, "localhost")
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "tcp")
            .body(Empty::<Bytes>::new())
            .map_err(ClientError::protocol)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(ClientError::protocol)?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(if response.status().is_success() {
                ClientError::Protocol(format!("{} instead of 101", response.status()))
            } else {
                api_error(response).await
            });
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(ClientError::protocol)?;
        Ok(TokioIo::new(upgraded))
    }

    /// `DELETE /v1/containers/{ref}`; `force` stops it first when it runs.
    /// `DELETE /v1/containers/{ref}`; `volumes`: with its anonymous volumes.
    pub async fn remove_container(
        &self,
        container: &str,
        force: bool,
        volumes: bool,
    ) -> Result<(), ClientError> {
        let mut path = container_path(container, "");
        let query: Vec<&str> = [(force, "force=true"), (volumes, "volumes=true")]
            .into_iter()
            .filter_map(|(set, param)| set.then_some(param))
            .collect();
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        self.send_empty(Method::DELETE, &path).await.map(drop)
    }

    async fn send_empty(
        &self,
        method: Method,
        path: &str,
    ) -> Result<Response<Incoming>, ClientError> {
        self.send(method, path, None, Empty::<Bytes>::new()).await
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        value: &impl Serialize,
    ) -> Result<Response<Incoming>, ClientError> {
        let json = serde_json::to_vec(value).map_err(ClientError::protocol)?;
        let body = Full::new(Bytes::from(json));
        self.send(method, path, Some("application/json"), body)
            .await
    }

    async fn send<B>(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: B,
    ) -> Result<Response<Incoming>, ClientError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        self.send_with_headers(method, path, content_type, &[], body)
            .await
    }

    /// Sends one request on a new connection; a non-2xx answer becomes `ClientError::Api`.
    async fn send_with_headers<B>(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        headers: &[(HeaderName, String)],
        body: B,
    ) -> Result<Response<Incoming>, ClientError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn StdError + Send + Sync>>,
    {
        let (mut sender, connection) = self.handshake().await?;
        // A broken connection also fails the request or the body, which is where it is reported.
        tokio::spawn(connection);

        let mut request = Request::builder()
            .method(method)
            .uri(format!("{API_PREFIX}{path}"))
            .header(HOST, "localhost");
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request.body(body).map_err(ClientError::protocol)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(ClientError::protocol)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(api_error(response).await)
        }
    }
}

/// `?since=…&until=…` (or `&since=…`), for the parameters given.
fn logs_path(container: &str, format: &str, options: &LogOptions) -> String {
    let mut path = container_path(container, &format!("/logs?format={format}"));
    if options.follow {
        path.push_str("&follow=true");
    }
    if let Some(lines) = options.tail {
        let _ = write!(path, "&tail={lines}");
    }
    push_time_window(&mut path, '&', &options.since, &options.until);
    path
}

fn push_time_window(
    path: &mut String,
    first: char,
    since: &Option<String>,
    until: &Option<String>,
) {
    let mut separator = first;
    for (name, value) in [("since", since), ("until", until)] {
        if let Some(value) = value {
            let _ = write!(path, "{separator}{name}={}", encode(value));
            separator = '&';
        }
    }
}

/// A body of newline-delimited JSON, read line by line as it arrives.
struct JsonLines {
    body: Incoming,
    /// Bytes received after the last complete line.
    pending: BytesMut,
}

impl JsonLines {
    fn new(body: Incoming) -> JsonLines {
        JsonLines {
            body,
            pending: BytesMut::new(),
        }
    }

    /// The next non-blank line; `None` at the end of the body.
    async fn next(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            if let Some(end) = self.pending.iter().position(|&byte| byte == b'\n') {
                let line = self.pending.split_to(end + 1).freeze();
                if line.trim_ascii().is_empty() {
                    continue;
                }
                return Ok(Some(line));
            }
            // A last line without its newline still counts.
            if !receive(&mut self.body, &mut self.pending).await? {
                let rest = self.pending.split().freeze();
                return Ok((!rest.trim_ascii().is_empty()).then_some(rest));
            }
        }
    }
}

/// Appends the next piece of `body` to `pending`; `false` at the end of the body.
async fn receive(body: &mut Incoming, pending: &mut BytesMut) -> Result<bool, ClientError> {
    let Some(frame) = body.frame().await else {
        return Ok(false);
    };
    if let Ok(data) = frame.map_err(ClientError::protocol)?.into_data() {
        pending.extend_from_slice(&data);
    }
    Ok(true)
}

/// An upgraded connection: the stdio of a container or an exec.
pub type Stream = TokioIo<hyper::upgrade::Upgraded>;

/// The records of a container's log, as contid sends them.
pub struct LogStream {
    lines: JsonLines,
}

impl LogStream {
    /// The next record; `None` once contid has sent everything (with `follow`: once the container
    /// has exited).
    pub async fn next_line(&mut self) -> Result<Option<LogLine>, ClientError> {
        let Some(line) = self.lines.next().await? else {
            return Ok(None);
        };
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| ClientError::Protocol(format!("invalid log record: {e}")))
    }
}

/// Which of the container's streams a piece of output was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Stdout,
    Stderr,
}

/// A container's output as contid sends it in the multiplexed format: frames of an 8-byte
/// header (the stream, 1 or 2; three zero bytes; the length, big-endian) and the bytes.
pub struct OutputStream {
    body: Incoming,
    /// Bytes received after the last complete frame.
    pending: BytesMut,
}

impl OutputStream {
    const HEADER_LEN: usize = 8;

    /// The next piece of output; `None` once contid has sent everything (with `follow`: once
    /// the container has exited).
    pub async fn next(&mut self) -> Result<Option<(OutputKind, Bytes)>, ClientError> {
        loop {
            if let Some(piece) = self.take_frame()? {
                return Ok(Some(piece));
            }
            if !receive(&mut self.body, &mut self.pending).await? {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                return Err(ClientError::Protocol(
                    "the output ends in the middle of a frame".into(),
                ));
            }
        }
    }

    fn take_frame(&mut self) -> Result<Option<(OutputKind, Bytes)>, ClientError> {
        let Some(head) = self.pending.get(..Self::HEADER_LEN) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let kind = match head[0] {
            1 => OutputKind::Stdout,
            2 => OutputKind::Stderr,
            other => {
                return Err(ClientError::Protocol(format!(
                    "a frame of output stream {other}"
                )));
            }
        };
        if self.pending.len() < Self::HEADER_LEN + len {
            return Ok(None);
        }
        let _ = self.pending.split_to(Self::HEADER_LEN);
        Ok(Some((kind, self.pending.split_to(len).freeze())))
    }
}

/// The progress of a pull, as contid sends it.
pub struct PullStream {
    lines: JsonLines,
}

impl PullStream {
    /// The next step; `None` at the end of the stream (before `done`, contid broke off). An
    /// `error` event (the pull failed midway) comes as `ClientError::Api` with its code, like an
    /// error answer.
    pub async fn next_event(&mut self) -> Result<Option<PullEvent>, ClientError> {
        let Some(line) = self.lines.next().await? else {
            return Ok(None);
        };
        match serde_json::from_slice::<PullEvent>(&line) {
            Ok(PullEvent::Error { code, message }) => Err(ClientError::Api {
                status: StatusCode::OK,
                code,
                message,
            }),
            Ok(event) => Ok(Some(event)),
            Err(e) => Err(ClientError::Protocol(format!("invalid pull progress: {e}"))),
        }
    }
}

/// A body of bytes (an archive), read as it arrives.
pub struct ByteStream {
    body: Incoming,
}

impl ByteStream {
    /// The next piece; `None` at the end of the body.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        loop {
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            if let Ok(data) = frame.map_err(ClientError::protocol)?.into_data() {
                return Ok(Some(data));
            }
        }
    }
}

/// Container events, as contid sends them.
pub struct EventStream {
    lines: JsonLines,
}

impl EventStream {
    /// The next event; `None` at the end of the stream (`until` passed, or contid stopped). A
    /// client that fell too far behind gets the `events_lost` error.
    pub async fn next_event(&mut self) -> Result<Option<Event>, ClientError> {
        let Some(line) = self.lines.next().await? else {
            return Ok(None);
        };
        if let Ok(event) = serde_json::from_slice::<Event>(&line) {
            return Ok(Some(event));
        }
        match serde_json::from_slice::<ErrorBody>(&line) {
            Ok(ErrorBody { code, message }) => Err(ClientError::Api {
                status: StatusCode::OK,
                code,
                message,
            }),
            Err(e) => Err(ClientError::Protocol(format!("invalid event: {e}"))),
        }
    }
}

async fn read_json<T: DeserializeOwned>(response: Response<Incoming>) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = read_body(response).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClientError::Protocol(format!("invalid JSON in a {status} answer: {e}")))
}

async fn read_body(response: Response<Incoming>) -> Result<Bytes, ClientError> {
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(ClientError::protocol)?;
    Ok(collected.to_bytes())
}

async fn api_error(response: Response<Incoming>) -> ClientError {
    let status = response.status();
    let bytes = match read_body(response).await {
        Ok(bytes) => bytes,
        Err(error) => return error,
    };
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(ErrorBody { code, message }) => ClientError::Api {
            status,
            code,
            message,
        },
        Err(_) => ClientError::Protocol(format!(
            "{status} without an error body: {:?}",
            String::from_utf8_lossy(&bytes)
        )),
    }
}

/// A request body fed from `reader` as it is read, so an archive of any size is never held
/// whole in memory.
fn stream_body(
    mut reader: impl AsyncRead + Send + Unpin + 'static,
) -> Channel<Bytes, std::io::Error> {
    let (mut sender, body) = Channel::new(4);
    tokio::spawn(async move {
        loop {
            let mut chunk = BytesMut::with_capacity(64 * 1024);
            match reader.read_buf(&mut chunk).await {
                Ok(0) => return,
                Ok(_) => {
                    // The request is gone (contid answered or hung up): nothing left to feed.
                    if sender.send_data(chunk.freeze()).await.is_err() {
                        return;
                    }
                }
                Err(error) => return sender.abort(error),
            }
        }
    });
    body
}

/// `/images/{ref}` followed by `rest`; a `/` in the reference is encoded, so it stays one
/// segment.
fn image_path(reference: &str, rest: &str) -> String {
    format!("/images/{}{rest}", encode(reference))
}

/// `path` with the query `pairs`, each value encoded.
fn with_query<'a>(path: &str, pairs: impl IntoIterator<Item = &'a (String, String)>) -> String {
    let query: Vec<String> = pairs
        .into_iter()
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect();
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// `/containers/{ref}` followed by `rest`.
fn container_path(container: &str, rest: &str) -> String {
    format!("/containers/{}{rest}", encode(container))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so that a name or reference
/// typed by the user stays one path segment or one query value.
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use conti_proto::EventType;

    use super::*;
    use crate::fake_contid::{fake_contid, json_answer, serve};

    #[tokio::test]
    async fn a_missing_socket_is_a_connect_error() {
        let client = Client::new("/nonexistent/conti.sock");
        let error = client.version().await.unwrap_err();
        assert!(matches!(error, ClientError::Connect { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "cannot connect to contid at /nonexistent/conti.sock: \
             No such file or directory (os error 2) (is contid running?)"
        );
    }

    #[tokio::test]
    async fn an_error_body_becomes_an_api_error() {
        let body = r#"{"code":"container_not_found","message":"no such container: web"}"#;
        let answer = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        let (client, server) = fake_contid(vec![answer]);
        let error = client.inspect_container("web").await.unwrap_err();
        match &error {
            ClientError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!(*status, StatusCode::NOT_FOUND);
                assert_eq!(code, "container_not_found");
                assert_eq!(message, "no such container: web");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(error.api_code(), Some("container_not_found"));
        let head = server.await.unwrap();
        assert!(
            head.starts_with("GET /v1/containers/web HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase().contains("host: localhost\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn an_error_without_error_body_is_a_protocol_error() {
        let answer = "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 4\r\n\r\noops";
        let (client, _server) = fake_contid(vec![answer.to_string()]);
        let error = client
            .remove_container("web", true, false)
            .await
            .unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
        assert!(error.to_string().contains("502 Bad Gateway"), "{error}");
    }

    #[tokio::test]
    async fn a_success_with_bad_json_is_a_protocol_error() {
        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"id\":1";
        let (client, _server) = fake_contid(vec![answer.to_string()]);
        let error = client.wait_container("web").await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_hang_up_is_a_protocol_error() {
        let (client, _server) = fake_contid(Vec::<String>::new());
        let error = client.info().await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error:?}");
    }

    #[tokio::test]
    async fn log_records_arrive_as_they_are_sent() {
        // Chunked answer whose records are cut across chunks, the last one without newline.
        let chunked = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
        let (client, server) = fake_contid(vec![
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
            chunked("{\"stream\":\"stdout\",\"time\":\"t1\",\"log\":\"hi\\n\"}\n"),
            chunked("{\"stream\":\"stder"),
            chunked("r\",\"time\":\"t2\",\"log\":\"oops\\n\"}\n\n"),
            chunked("{\"stream\":\"stdout\",\"time\":\"t3\",\"log\":\"end\"}"),
            "0\r\n\r\n".to_string(),
        ]);
        let options = LogOptions {
            follow: true,
            tail: Some(5),
            since: Some("2026-05-01T12:00:00+02:00".to_string()),
            until: None,
            timestamps: false,
        };
        let mut logs = client.container_logs("web", options).await.unwrap();
        let mut records = Vec::new();
        while let Some(record) = logs.next_line().await.unwrap() {
            records.push((record.stream, record.log));
        }
        let expected = [("stdout", "hi\n"), ("stderr", "oops\n"), ("stdout", "end")];
        let expected: Vec<_> = expected
            .iter()
            .map(|(stream, log)| (stream.to_string(), log.to_string()))
            .collect();
        assert_eq!(records, expected);
        let head = server.await.unwrap();
        assert!(
            head.starts_with(
                "GET /v1/containers/web/logs?format=json&follow=true&tail=5\
                 &since=2026-05-01T12%3A00%3A00%2B02%3A00 HTTP/1.1\r\n"
            ),
            "{head}"
        );
    }

    #[tokio::test]
    async fn output_frames_arrive_whole_with_their_bytes() {
        // Frames cut across chunks; bytes that are not UTF-8.
        let mut body = vec![1, 0, 0, 0, 0, 0, 0, 4, 0xff, 0xfe, b'A', b'\n'];
        body.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3, b'e', 0, b'\n']);
        body.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        let mut parts = vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()];
        for piece in [&body[..5], &body[5..13], &body[13..]] {
            let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
            chunk.extend_from_slice(piece);
            chunk.extend_from_slice(b"\r\n");
            parts.push(chunk);
        }
        parts.push(b"0\r\n\r\n".to_vec());
        let (client, server) = fake_contid(parts);
        let options = LogOptions {
            timestamps: true,
            ..LogOptions::default()
        };
        let mut output = client.container_output("web", options).await.unwrap();
        let mut pieces = Vec::new();
        while let Some((kind, bytes)) = output.next().await.unwrap() {
            pieces.push((kind, bytes.to_vec()));
        }
        assert_eq!(
            pieces,
            [
                (OutputKind::Stdout, b"\xff\xfeA\n".to_vec()),
                (OutputKind::Stderr, b"e\0\n".to_vec()),
                (OutputKind::Stdout, Vec::new()),
            ]
        );
        let head = server.await.unwrap();
        assert!(
            head.starts_with(
                "GET /v1/containers/web/logs?format=multiplexed&timestamps=true HTTP/1.1\r\n"
            ),
            "{head}"
        );
    }

    #[tokio::test]
    async fn events_arrive_until_a_lost_events_line() {
        let chunked = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
        let (client, server) = fake_contid(vec![
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
            chunked(
                "{\"time\":\"t1\",\"type\":\"die\",\"container_id\":\"c\",\
                 \"container_name\":\"web\",\"exit_code\":3}\n",
            ),
            chunked("{\"code\":\"events_lost\",\"message\":\"2 events were missed\"}\n"),
            "0\r\n\r\n".to_string(),
        ]);
        let mut events = client.events(Some("10m".to_string()), None).await.unwrap();
        let event = events.next_event().await.unwrap().unwrap();
        assert_eq!(
            (event.kind, event.container_name.as_str(), event.exit_code),
            (EventType::Die, "web", Some(3))
        );
        let error = events.next_event().await.unwrap_err();
        assert_eq!(error.api_code(), Some("events_lost"));
        let head = server.await.unwrap();
        assert!(
            head.starts_with("GET /v1/events?since=10m HTTP/1.1\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_pull_sends_the_credentials_and_reads_the_progress() {
        let (client, server) = serve(vec![crate::fake_contid::ndjson_answer(&[
            r#"{"status":"resolved","reference":"r:1","digest":"sha256:m","layers":[{"digest":"sha256:l","size":3}]}"#,
            r#"{"status":"downloading","layer":"sha256:l","current":1,"total":3}"#,
            r#"{"status":"done","reference":"r:1","id":"sha256:i","digest":"sha256:m"}"#,
        ])]);
        let auth = RegistryAuth {
            username: "me".into(),
            password: "p?w/d".into(),
        };
        let mut stream = client
            .pull_image("127.0.0.1:5000/team/app:1", None, Some(&auth))
            .await
            .unwrap();
        let mut events = Vec::new();
        while let Some(event) = stream.next_event().await.unwrap() {
            events.push(event);
        }
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[1],
            PullEvent::Downloading {
                layer: "sha256:l".into(),
                current: 1,
                total: 3
            }
        );
        let request = server.await.unwrap().remove(0);
        assert!(
            request.starts_with(
                "POST /v1/images/pull?ref=127.0.0.1%3A5000%2Fteam%2Fapp%3A1 HTTP/1.1\r\n"
            ),
            "{request}"
        );
        let header = request
            .lines()
            .find_map(|line| line.strip_prefix("x-registry-auth: "))
            .expect("an X-Registry-Auth header");
        let json = URL_SAFE.decode(header).unwrap();
        let sent: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"username": "me", "password": "p?w/d"})
        );
        assert!(!format!("{auth:?}").contains("p?w/d"));
    }

    #[tokio::test]
    async fn a_pull_without_credentials_sends_no_header() {
        let body = r#"{"code":"unauthorized","message":"pull access denied"}"#;
        let (client, server) = serve(vec![vec![json_answer("401 Unauthorized", body)]]);
        let error = client
            .pull_image("busybox", None, None)
            .await
            .err()
            .unwrap();
        assert_eq!(error.api_code(), Some("unauthorized"));
        let request = server.await.unwrap().remove(0);
        assert!(
            !request.to_ascii_lowercase().contains("x-registry-auth"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn image_requests_keep_a_reference_in_one_segment() {
        let image = r#"{"id":"sha256:i","repo_tags":["team/box:2"],"size":1,"created":"t"}"#;
        let (client, server) = serve(vec![
            vec![json_answer("201 Created", image)],
            vec![json_answer("204 No Content", "")],
            vec![json_answer("200 OK", image)],
            vec![json_answer("200 OK", r#"[{"created_by":"CMD","size":0}]"#)],
            vec![json_answer(
                "200 OK",
                r#"{"deleted":["sha256:i"],"space_reclaimed":10}"#,
            )],
        ]);
        let tagged = client.tag_image("team/box:1", "team/box:2").await.unwrap();
        assert_eq!(tagged.repo_tags, ["team/box:2"]);
        client.remove_image("sha256:i").await.unwrap();
        client.inspect_image("team/box").await.unwrap();
        let history = client.image_history("box").await.unwrap();
        assert_eq!(history[0].created_by, "CMD");
        let report = client.prune_images(true).await.unwrap();
        assert_eq!(report.space_reclaimed, 10);
        let requests = server.await.unwrap();
        let heads: Vec<&str> = requests
            .iter()
            .map(|request| request.lines().next().unwrap())
            .collect();
        assert_eq!(
            heads,
            [
                "POST /v1/images/team%2Fbox%3A1/tag?tag=team%2Fbox%3A2 HTTP/1.1",
                "DELETE /v1/images/sha256%3Ai HTTP/1.1",
                "GET /v1/images/team%2Fbox HTTP/1.1",
                "GET /v1/images/box/history HTTP/1.1",
                "POST /v1/images/prune?all=true HTTP/1.1",
            ]
        );
    }

    #[tokio::test]
    async fn imports_and_loads_stream_the_archive() {
        let image = r#"{"id":"sha256:i","size":1,"created":"t"}"#;
        let (client, server) = serve(vec![
            vec![json_answer("201 Created", image)],
            vec![json_answer("200 OK", &format!("[{image}]"))],
        ]);
        let changes = ["CMD [\"/bin/sh\"]".to_string(), "ENV A=b c".to_string()];
        let imported = client
            .import_image("app:1", &changes, &b"rootfs tar"[..])
            .await
            .unwrap();
        assert_eq!(imported.id, "sha256:i");
        let loaded = client.load_images(&b"saved tar"[..]).await.unwrap();
        assert_eq!(loaded.len(), 1);
        let requests = server.await.unwrap();
        assert!(
            requests[0].starts_with(
                "POST /v1/images/import?name=app%3A1&change=CMD%20%5B%22%2Fbin%2Fsh%22%5D\
                 &change=ENV%20A%3Db%20c HTTP/1.1\r\n"
            ),
            "{}",
            requests[0]
        );
        assert!(
            requests[0].ends_with("\r\n\r\nrootfs tar"),
            "{}",
            requests[0]
        );
        assert!(requests[1].starts_with("POST /v1/images/load HTTP/1.1\r\n"));
        assert!(
            requests[1].ends_with("\r\n\r\nsaved tar"),
            "{}",
            requests[1]
        );
    }

    #[tokio::test]
    async fn login_sends_the_spec_and_logout_names_the_registry() {
        let (client, server) = serve(vec![
            vec![json_answer("204 No Content", "")],
            vec![json_answer(
                "404 Not Found",
                r#"{"code":"not_logged_in","message":"no credentials for docker.io"}"#,
            )],
        ]);
        let spec = LoginSpec {
            registry: "127.0.0.1:5000".into(),
            username: "me".into(),
            password: "secret".into(),
        };
        client.login(&spec).await.unwrap();
        let error = client.logout("docker.io").await.unwrap_err();
        assert!(matches!(
            error,
            ClientError::Api {
                status: StatusCode::NOT_FOUND,
                ..
            }
        ));
        let requests = server.await.unwrap();
        assert!(requests[0].starts_with("POST /v1/auth HTTP/1.1\r\n"));
        let (_, body) = requests[0].split_once("\r\n\r\n").unwrap();
        let sent: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"registry": "127.0.0.1:5000", "username": "me", "password": "secret"})
        );
        assert!(requests[1].starts_with("DELETE /v1/auth/docker.io HTTP/1.1\r\n"));
    }

    #[test]
    fn encode_keeps_unreserved_characters_only() {
        assert_eq!(encode("web-1_a.b~"), "web-1_a.b~");
        assert_eq!(encode("a/b c+d"), "a%2Fb%20c%2Bd");
        assert_eq!(encode("é"), "%C3%A9");
    }
}

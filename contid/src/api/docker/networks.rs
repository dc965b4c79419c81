//! `/networks/…`: Conti's bridge networks in Docker's shape. Docker's `bridge` is Conti's
//! default network; `host` and `none` are modes of a container, listed as Docker lists them.

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use bollard_stubs::models::{Ipam, IpamConfig};
use conti_proto::{NetworkInfo, NetworkSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{DockerError, DockerResult};
use super::query::{DockerQuery, json_body, only_driver};
use super::shapes::docker_id;
use crate::engine::{Engine, EngineError};

/// `POST /networks/create`'s body, the fields Conti reads; the rest must be unset.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateBody {
    name: String,
    #[serde(default)]
    driver: Option<String>,
    #[serde(default, rename = "IPAM")]
    ipam: Option<Ipam>,
    #[serde(default)]
    internal: bool,
    #[serde(default, rename = "EnableIPv6")]
    enable_ipv6: bool,
    #[serde(default)]
    options: HashMap<String, String>,
    #[serde(default)]
    labels: HashMap<String, String>,
    #[serde(default)]
    ingress: bool,
    #[serde(default)]
    config_only: bool,
}

pub async fn create(
    State(engine): State<Engine>,
    body: Bytes,
) -> DockerResult<(StatusCode, Json<Value>)> {
    let body: CreateBody = json_body(&body)?;
    only_driver(body.driver.as_deref(), "bridge", "network")?;
    for (set, field) in [
        (body.internal, "Internal"),
        (body.enable_ipv6, "EnableIPv6"),
        (body.ingress, "Ingress"),
        (body.config_only, "ConfigOnly"),
        (!body.options.is_empty(), "Options"),
    ] {
        if set {
            return Err(DockerError::bad_request(format!(
                "{field} is not supported by Conti's networks (see proto-docs/docker.md)"
            )));
        }
    }
    let config = body.ipam.and_then(|ipam| ipam.config).unwrap_or_default();
    if config.len() > 1 {
        return Err(DockerError::bad_request(
            "one IPAM config at most: Conti's networks have one IPv4 subnet",
        ));
    }
    let first = config.into_iter().next().unwrap_or_default();
    if first.ip_range.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err(DockerError::bad_request("IPAM IPRange is not supported"));
    }
    let spec = NetworkSpec {
        name: body.name,
        subnet: first.subnet.filter(|s| !s.is_empty()),
        gateway: first.gateway.filter(|g| !g.is_empty()),
        labels: body.labels.into_iter().collect(),
    };
    match engine.create_network(spec).await {
        Ok(info) => Ok((
            StatusCode::CREATED,
            Json(json!({ "Id": info.id, "Warning": "" })),
        )),
        Err(EngineError::NetworkExists(name)) => Err(DockerError::new(
            StatusCode::CONFLICT,
            format!("network with name {name} already exists"),
        )),
        Err(err) => Err(err.into()),
    }
}

/// A network as `docker network inspect` shows it.
fn network_json(info: &NetworkInfo) -> Value {
    let containers: HashMap<String, Value> = info
        .containers
        .iter()
        .map(|member| {
            let prefix = info.subnet.split_once('/').map_or("", |(_, p)| p);
            (
                docker_id(&member.id),
                json!({
                    "Name": member.name,
                    "EndpointID": "",
                    "MacAddress": member.mac_address,
                    "IPv4Address": format!("{}/{prefix}", member.ip_address),
                    "IPv6Address": "",
                }),
            )
        })
        .collect();
    json!({
        "Name": info.name,
        "Id": info.id,
        "Created": info.created,
        "Scope": "local",
        "Driver": "bridge",
        "EnableIPv6": false,
        "IPAM": Ipam {
            driver: Some("default".to_string()),
            config: Some(vec![IpamConfig {
                subnet: Some(info.subnet.clone()),
                gateway: Some(info.gateway.clone()),
                ..Default::default()
            }]),
            options: Some(HashMap::new()),
        },
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigOnly": false,
        "Containers": containers,
        // Docker lists the options a network was created with (Compose compares them).
        "Options": {},
        "Labels": info.labels,
    })
}

fn find(engine: &Engine, name: &str) -> DockerResult<NetworkInfo> {
    let networks = engine.list_networks();
    networks
        .iter()
        .find(|n| n.name == name || n.id == name)
        .or_else(|| {
            let mut by_prefix = networks.iter().filter(|n| n.id.starts_with(name));
            match (by_prefix.next(), by_prefix.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        })
        .cloned()
        .ok_or_else(|| DockerError::not_found(format!("network {name} not found")))
}

pub async fn list(
    State(engine): State<Engine>,
    query: DockerQuery,
) -> DockerResult<Json<Vec<Value>>> {
    let filters = query.filters()?;
    filters.only(&["name", "id", "driver", "type", "label", "scope"])?;
    Ok(Json(
        engine
            .list_networks()
            .iter()
            .filter(|n| {
                filters.any("name", |v| n.name.contains(v))
                    && filters.any("id", |v| n.id.starts_with(v))
                    && filters.any("driver", |v| v == "bridge")
                    && filters.any("scope", |v| v == "local")
                    && filters.any("type", |v| (v == "builtin") == n.default)
                    && filters.labels(&n.labels)
            })
            .map(network_json)
            .collect(),
    ))
}

pub async fn inspect(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> DockerResult<Json<Value>> {
    Ok(Json(network_json(&find(&engine, &name)?)))
}

pub async fn remove(
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> DockerResult<StatusCode> {
    let network = find(&engine, &name)?;
    match engine.delete_network(&network.name).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(EngineError::NetworkInUse(message)) => {
            Err(DockerError::new(StatusCode::FORBIDDEN, message))
        }
        Err(err) => Err(err.into()),
    }
}

/// Connecting a running container to a second network is not in the engine yet.
pub async fn connect() -> DockerError {
    DockerError::bad_request(
        "network connect and disconnect are not supported yet: give the network at create",
    )
}

/// Deletes every user network no container is on (Docker's `until` and `label` filters).
pub async fn prune(State(engine): State<Engine>, query: DockerQuery) -> DockerResult<Json<Value>> {
    let report = engine
        .prune_networks(&query.filters()?.prune_filter()?)
        .await?;
    Ok(Json(json!({ "NetworksDeleted": report.deleted })))
}

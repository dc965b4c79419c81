//! `POST /v1/containers/prune`, `POST /v1/networks/prune`: delete what is not in use.

use axum::Json;
use axum::extract::State;
use conti_proto::{ContainerPruneReport, ErrorBody, NetworkPruneReport};
use utoipa::IntoParams;

use super::error::ApiError;
use super::repeated_query::QueryPairs;
use crate::engine::{Engine, LabelFilter, PruneFilter};

/// Which of the unused objects a prune takes (Docker's prune filters).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PruneParams {
    /// Only those created before this time: RFC 3339, Unix seconds, or a duration ago (`24h`).
    #[param(required = false, min_length = 1)]
    until: Option<String>,
    /// `KEY` or `KEY=VALUE`: only those with that label (with that value). Repeatable: all
    /// must hold.
    #[param(required = false, value_type = Vec<String>)]
    label: Vec<LabelFilter>,
}

impl PruneParams {
    fn filter(query: &QueryPairs) -> Result<PruneFilter, ApiError> {
        query.only(&["until", "label"])?;
        let params = PruneParams {
            until: query.once("until")?,
            label: query.labels(),
        };
        Ok(PruneFilter::parse(params.until.as_deref(), params.label)?)
    }
}

/// Deletes every container that does not run (with the filters given); running ones are kept.
#[utoipa::path(post, path = "/v1/containers/prune", tag = "containers", params(PruneParams),
    responses((status = 200, body = ContainerPruneReport),
        (status = 400, description = "`invalid_argument`", body = ErrorBody)))]
pub async fn prune_containers(
    State(engine): State<Engine>,
    query: QueryPairs,
) -> Result<Json<ContainerPruneReport>, ApiError> {
    let filter = PruneParams::filter(&query)?;
    Ok(Json(engine.prune_containers(&filter).await?))
}

/// Deletes every network made through the API (with the filters given) that no container, in
/// any state, is on.
#[utoipa::path(post, path = "/v1/networks/prune", tag = "networks", params(PruneParams),
    responses((status = 200, body = NetworkPruneReport),
        (status = 400, description = "`invalid_argument`", body = ErrorBody)))]
pub async fn prune_networks(
    State(engine): State<Engine>,
    query: QueryPairs,
) -> Result<Json<NetworkPruneReport>, ApiError> {
    let filter = PruneParams::filter(&query)?;
    Ok(Json(engine.prune_networks(&filter).await?))
}

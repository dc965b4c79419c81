//! The HTTP API: parse and validate requests, call the engine, map its errors. No syscalls.
//!
//! Routes and their OpenAPI description come from the same annotations (`utoipa-axum`), and a
//! test keeps `proto-docs/openapi.json` equal to what the code generates.

mod access;
pub(crate) mod attach;
mod connection_slots;
mod containers;
mod contract;
mod docker;
mod error;
mod events;
mod execs;
pub(crate) mod images;
mod limits;
pub(crate) mod log_output;
mod networks;
mod prune;
mod repeated_query;
mod server;
mod system;
mod volumes;
mod whole_numbers;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower::ServiceExt;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use access::{AccessError, SocketAccess};
pub use error::{ApiError, JSON_BODY_LIMIT};
pub use server::{
    ApiSocket, DEFAULT_MAX_CONNECTIONS, HEADER_READ_TIMEOUT, ServeError, ServeOptions, serve,
};

use crate::engine::Engine;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Conti API",
        description = "Containers over a Unix socket. Every error answers with `ErrorBody` (`code`, `message`); see proto-docs/README.md for the codes.",
        license(name = "Apache-2.0")
    ),
    components(schemas(conti_proto::ErrorBody, conti_proto::ContainerState))
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<Engine> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::version))
        .routes(routes!(system::info))
        .routes(routes!(system::metrics))
        .routes(routes!(images::import_image))
        .routes(routes!(images::load_images))
        .routes(routes!(images::pull_image))
        .routes(routes!(images::prune_images))
        .routes(routes!(images::list_images))
        .routes(routes!(images::inspect_image, images::delete_image))
        .routes(routes!(images::image_history))
        .routes(routes!(images::save_image))
        .routes(routes!(images::tag_image))
        .routes(routes!(images::login))
        .routes(routes!(images::logout))
        .routes(routes!(
            containers::create_container,
            containers::list_containers
        ))
        .routes(routes!(
            containers::inspect_container,
            containers::delete_container,
            limits::update_container
        ))
        .routes(routes!(limits::container_stats))
        .routes(routes!(limits::container_top))
        .routes(routes!(containers::start_container))
        .routes(routes!(containers::stop_container))
        .routes(routes!(containers::restart_container))
        .routes(routes!(containers::kill_container))
        .routes(routes!(containers::rename_container))
        .routes(routes!(containers::wait_container))
        .routes(routes!(containers::container_logs))
        .routes(routes!(containers::exec_in_container))
        .routes(routes!(attach::attach_container))
        .routes(routes!(attach::resize_container))
        .routes(routes!(execs::inspect_exec))
        .routes(routes!(execs::start_exec))
        .routes(routes!(execs::resize_exec))
        .routes(routes!(events::stream_events))
        .routes(routes!(networks::create_network, networks::list_networks))
        .routes(routes!(networks::inspect_network, networks::delete_network))
        .routes(routes!(volumes::create_volume, volumes::list_volumes))
        .routes(routes!(volumes::prune_volumes))
        .routes(routes!(volumes::inspect_volume, volumes::delete_volume))
        .routes(routes!(prune::prune_containers))
        .routes(routes!(prune::prune_networks))
        .routes(routes!(system::disk_usage))
}

/// The whole API as an axum router (tests call it with `oneshot`): Conti's `/v1`, and Docker's
/// Engine API beside it (`docker/`), whose versioned paths lose their version before routing.
pub fn router(engine: Engine) -> Router {
    let (router, _) = api_router().split_for_parts();
    let routes = router
        .merge(docker::routes())
        .fallback(error::route_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            system::count_requests,
        ))
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .with_state(engine);
    Router::new().fallback_service(routes.map_request(docker::strip_version))
}

/// One JSON value and a newline: a line of the streaming answers (events, pulls).
pub(crate) fn json_line(value: &impl serde::Serialize) -> axum::body::Bytes {
    // Serialising structs of strings and numbers cannot fail.
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    axum::body::Bytes::from(line)
}

/// The OpenAPI document the routes generate.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api_router().split_for_parts().1;
    contract::complete(&mut doc);
    doc
}

#[cfg(test)]
mod tests {
    /// The contract in proto-docs/ is what the code serves. Run with UPDATE_OPENAPI=1 to rewrite it
    /// after a deliberate change (and say so in proto-docs/README.md's change log).
    #[test]
    fn openapi_document_matches_the_code() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto-docs/openapi.json");
        let generated = super::openapi().to_pretty_json().unwrap() + "\n";
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "proto-docs/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test -p contid openapi`"
        );
    }
}

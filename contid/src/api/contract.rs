//! The answers an operation gives because of its shape or because of the server, added to the
//! generated OpenAPI document in this one place, so that each handler lists only its own.
//!
//! Every error status of an operation is described by the list of the `code`s its `ErrorBody`
//! may carry (`` `container_running`, `network_in_use` ``): handlers write their own codes so,
//! and the codes added here are merged in.

use std::collections::BTreeSet;

use axum::http::StatusCode;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi, PathItem, Ref, RefOr, Response, ResponseBuilder,
};

/// What may answer any request, whatever the route.
const EVERY_OPERATION: &[(StatusCode, &str)] = &[
    // The peer is neither root nor a member of the socket's group.
    (StatusCode::FORBIDDEN, "forbidden"),
    // The daemon or the host failed.
    (StatusCode::INTERNAL_SERVER_ERROR, "internal_error"),
    // Every connection serves a request (see `server`).
    (StatusCode::SERVICE_UNAVAILABLE, "too_many_connections"),
];

/// A `{ref}` in the path names a container (id, unique id prefix or name).
const CONTAINER_REFERENCE: &[(StatusCode, &str)] = &[
    (StatusCode::BAD_REQUEST, "ambiguous_reference"),
    (StatusCode::NOT_FOUND, "container_not_found"),
];

/// Query parameters (`ApiQuery`): unreadable, of the wrong type, or given twice.
const QUERY: &[(StatusCode, &str)] = &[(StatusCode::BAD_REQUEST, "invalid_argument")];

/// A JSON body (`ApiJson`).
const JSON_BODY: &[(StatusCode, &str)] = &[
    (StatusCode::BAD_REQUEST, "invalid_json"),
    (StatusCode::BAD_REQUEST, "invalid_body"),
    (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
];

/// Adds to every operation of `doc` the answers of [`EVERY_OPERATION`], and those its path,
/// query and body bring; gives every answer a description (OpenAPI requires one).
pub fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for operation in operations(item) {
            let mut answers = EVERY_OPERATION.to_vec();
            if path.contains("{ref}") {
                answers.extend_from_slice(CONTAINER_REFERENCE);
            }
            let has_query = operation.parameters.iter().flatten().any(|parameter| {
                matches!(parameter, RefOr::T(p) if p.parameter_in == ParameterIn::Query)
            });
            if has_query {
                answers.extend_from_slice(QUERY);
            }
            let has_json_body = matches!(
                &operation.request_body,
                Some(RefOr::T(body)) if body.content.contains_key("application/json")
            );
            if has_json_body {
                answers.extend_from_slice(JSON_BODY);
            }
            for (status, code) in answers {
                add_error(operation, status, code);
            }
            describe_successes(operation);
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// Adds `code` to the codes of `status` (an `ErrorBody`), creating that answer if need be.
fn add_error(operation: &mut Operation, status: StatusCode, code: &str) {
    let answer = operation
        .responses
        .responses
        .entry(status.as_u16().to_string())
        .or_insert_with(|| RefOr::T(error_response(status)));
    let RefOr::T(answer) = answer else {
        return;
    };
    let mut codes: BTreeSet<String> = codes_in(&answer.description);
    codes.insert(code.to_string());
    answer.description = codes
        .iter()
        .map(|code| format!("`{code}`"))
        .collect::<Vec<_>>()
        .join(", ");
}

/// The codes a description lists: the words between backquotes.
fn codes_in(description: &str) -> BTreeSet<String> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn error_response(status: StatusCode) -> Response {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let mut response = ResponseBuilder::new().content("application/json", content);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let seconds = HeaderBuilder::new()
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            ))
            .description(Some("seconds to wait before trying again"))
            .build();
        response = response.header("Retry-After", seconds);
    }
    response.build()
}

/// Success answers without a description get their status's reason phrase.
fn describe_successes(operation: &mut Operation) {
    for (status, answer) in operation.responses.responses.iter_mut() {
        if let RefOr::T(answer) = answer
            && answer.description.is_empty()
        {
            answer.description = status
                .parse::<StatusCode>()
                .ok()
                .and_then(|status| status.canonical_reason())
                .unwrap_or_default()
                .to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_words_between_backquotes() {
        let codes = codes_in("`container_running`, `network_in_use`");
        assert_eq!(
            codes.into_iter().collect::<Vec<_>>(),
            ["container_running", "network_in_use"]
        );
        assert!(codes_in("").is_empty());
    }

    #[test]
    fn every_operation_gets_the_answers_of_its_shape() {
        let doc = super::super::openapi();
        let delete = doc
            .paths
            .get_path_operation("/v1/containers/{ref}", utoipa::openapi::HttpMethod::Delete)
            .unwrap();
        let description = |status: &str| match &delete.responses.responses[status] {
            RefOr::T(response) => response.description.clone(),
            RefOr::Ref(_) => String::new(),
        };
        assert_eq!(
            description("400"),
            "`ambiguous_reference`, `invalid_argument`"
        );
        assert!(description("404").contains("`container_not_found`"));
        assert!(description("409").contains("`container_running`"));
        assert_eq!(description("503"), "`too_many_connections`");
        assert_eq!(description("204"), "No Content");
    }
}

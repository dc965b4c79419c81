//! The contract (`proto-docs/openapi.json`) says what a real daemon answers: the answers the
//! fuzzer found undocumented, and whole numbers written `1.0`.

use std::path::Path;

use conti_tests::{ContainerInfo, Daemon, spec};
use serde_json::Value;

fn openapi() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto-docs/openapi.json");
    let text = std::fs::read_to_string(&path).expect("proto-docs/openapi.json");
    serde_json::from_str(&text).expect("openapi.json is JSON")
}

/// Whether the contract lets `method` on `route` answer `status` with error `code`.
fn documented(doc: &Value, method: &str, route: &str, status: u16, code: &str) -> bool {
    let answer = &doc["paths"][route][method.to_lowercase()]["responses"][status.to_string()];
    answer["description"]
        .as_str()
        .is_some_and(|codes| codes.contains(&format!("`{code}`")))
}

/// Containers until two ids share their first hex digit (17 at most): that digit is then an
/// ambiguous reference.
fn ambiguous_prefix(d: &Daemon) -> String {
    let mut firsts = std::collections::HashSet::new();
    loop {
        let id = d.create(&spec(&["true"]));
        let first = id[..1].to_string();
        if !firsts.insert(first.clone()) {
            return first;
        }
    }
}

#[test]
fn the_answers_the_fuzzer_found_are_documented() {
    let d = Daemon::start_with_busybox();
    let doc = openapi();
    let ambiguous = ambiguous_prefix(&d);
    let id = d.create(&spec(&["true"]));
    let cases = [
        (
            "DELETE",
            "/v1/containers/{ref}",
            format!("/v1/containers/{ambiguous}"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/logs",
            format!("/v1/containers/{ambiguous}/logs"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/stats",
            format!("/v1/containers/{ambiguous}/stats"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/top",
            format!("/v1/containers/{ambiguous}/top"),
        ),
        (
            "POST",
            "/v1/containers/{ref}/wait",
            format!("/v1/containers/{ambiguous}/wait"),
        ),
        (
            "GET",
            "/v1/containers",
            "/v1/containers?all=true&all=true".to_string(),
        ),
        (
            "GET",
            "/v1/containers",
            "/v1/containers?all=null&all=null".to_string(),
        ),
        (
            "DELETE",
            "/v1/containers/{ref}",
            format!("/v1/containers/{id}?force=1"),
        ),
        (
            "GET",
            "/v1/containers/{ref}/logs",
            format!("/v1/containers/{id}/logs?since="),
        ),
        (
            "GET",
            "/v1/containers/{ref}/stats",
            format!("/v1/containers/{id}/stats?stream=true&stream=false"),
        ),
        (
            "POST",
            "/v1/containers/{ref}/stop",
            format!("/v1/containers/{id}/stop?timeout=1.5"),
        ),
    ];
    for (method, route, path) in cases {
        let answer = d.client().request(method, &path, None);
        let error = answer
            .try_json::<conti_tests::ErrorBody>()
            .unwrap_or_else(|e| panic!("{method} {path}: {} is no error: {e}", answer.status));
        assert!(
            documented(&doc, method, route, answer.status, &error.code),
            "{method} {path} answered {} `{}`, which openapi.json does not say",
            answer.status,
            error.code
        );
    }
    // A repeated parameter is refused whatever its values, on every route that takes it.
    let repeated = d.get("/v1/containers?all=true&all=true");
    let error = repeated.expect_error(400, "invalid_argument");
    assert!(
        error.message.contains("duplicate field `all`"),
        "{}",
        error.message
    );
    // The logs' content types are the documented ones.
    let logs = d.get(&format!("/v1/containers/{id}/logs"));
    let route = &doc["paths"]["/v1/containers/{ref}/logs"]["get"]["responses"]["200"]["content"];
    let content_type = logs.header("content-type").unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default();
    assert!(
        route.get(media_type).is_some(),
        "logs answered {content_type}, not documented"
    );
}

#[test]
fn whole_numbers_written_with_a_fraction_are_integers() {
    let d = Daemon::start_with_busybox();
    // JSON Schema counts 1.0 as an integer, and so does the contract.
    let body =
        br#"{"image":"busybox","cmd":["true"],"tty":true,"resources":{"memory":67108864.0}}"#;
    let created = d.post("/v1/containers", body);
    created.expect_status(201);
    let id = created.json::<conti_tests::CreatedContainer>().id;
    let info: ContainerInfo = d.get(&format!("/v1/containers/{id}")).json();
    assert_eq!(info.resources.memory, Some(64 << 20));
    d.post(&format!("/v1/containers/{id}/resize?h=24.0&w=80.00"), b"")
        .expect_status(204);
    d.get(&format!("/v1/containers/{id}/logs?tail=1.0"))
        .expect_status(200);
    d.post(&format!("/v1/containers/{id}/stop?timeout=1.0"), b"")
        .expect_status(204);
    // A fraction is still refused.
    d.get(&format!("/v1/containers/{id}/logs?tail=1.5"))
        .expect_error(400, "invalid_argument");
    let fractional = br#"{"image":"busybox","cmd":["true"],"resources":{"memory":67108864.5}}"#;
    d.post("/v1/containers", fractional)
        .expect_error(400, "invalid_json");
}

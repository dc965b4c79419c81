//! Image references as the user types them (`busybox`, `127.0.0.1:5000/team/app:1`,
//! `busybox@sha256:…`), read with Docker's rules. contid resolves references itself: the CLI only
//! needs the registry (whose credentials to send) and the familiar words docker prints.

/// Docker Hub, as `login` and `logout` name it and contid's `LoginSpec` expects it.
pub const DOCKER_HUB: &str = "docker.io";

/// The registry of `reference`, `host[:port]`; `docker.io` when the first component is not a
/// host (no `.` nor `:`, and not `localhost`), as Docker decides.
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if is_host(first) => normalize_registry(first),
        _ => DOCKER_HUB.to_string(),
    }
}

fn is_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost"
}

/// A registry as the user may write it (`https://index.docker.io/v1/`, `registry:5000`) as
/// `host[:port]`; Docker Hub's other names become `docker.io`. Docker's config.json keys are read
/// the same way.
pub fn normalize_registry(registry: &str) -> String {
    let without_scheme = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(registry);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        _ => host,
    }
}

/// `reference` split as `(name, tag, digest)`: the tag is after the last `:` that follows the
/// last `/` (a port is not a tag).
fn split(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(colon) => {
            let colon = last_slash + colon;
            (&rest[..colon], Some(&rest[colon + 1..]), digest)
        }
        None => (rest, None, digest),
    }
}

/// `reference` with `:latest` when it names neither a tag nor a digest, as docker says it
/// (`Unable to find image 'busybox:latest' locally`).
pub fn with_default_tag(reference: &str) -> String {
    match split(reference) {
        (_, None, None) => format!("{reference}:latest"),
        _ => reference.to_string(),
    }
}

/// The short form docker prints: no `docker.io/`, no `library/` (`busybox:latest`).
pub fn familiar(reference: &str) -> String {
    let short = reference.strip_prefix("docker.io/").unwrap_or(reference);
    match short.strip_prefix("library/") {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => short.to_string(),
    }
}

/// `latest: Pulling from library/busybox`: the tag (or digest) and the repository's path on its
/// registry, as docker's pull shows them.
pub fn pulling_from(reference: &str) -> (String, String) {
    let (name, tag, digest) = split(reference);
    let path = match name.split_once('/') {
        Some((first, path)) if is_host(first) => path.to_string(),
        _ => name.to_string(),
    };
    let path = match registry_of(name).as_str() {
        DOCKER_HUB if !path.contains('/') => format!("library/{path}"),
        _ => path,
    };
    let version = digest.or(tag).unwrap_or("latest").to_string();
    (version, path)
}

/// `repository:tag` as `(repository, tag)`; `None` for the tag when there is none.
pub fn split_tag(reference: &str) -> (&str, Option<&str>) {
    let (name, tag, _) = split(reference);
    (name, tag)
}

/// An image id rather than a name: `sha256:…`, or 64 hex digits. Pulling it makes no sense.
pub fn is_image_id(reference: &str) -> bool {
    reference.starts_with("sha256:")
        || (reference.len() == 64 && reference.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The 12 hex digits docker shows for an id (`sha256:` or not).
pub fn short_image_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_first_component_when_it_is_a_host() {
        let cases = [
            ("busybox", "docker.io"),
            ("library/busybox:1.36", "docker.io"),
            ("team/app", "docker.io"),
            ("docker.io/library/busybox", "docker.io"),
            ("index.docker.io/library/busybox", "docker.io"),
            ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000"),
            ("localhost/app", "localhost"),
            ("ghcr.io/owner/app@sha256:abc", "ghcr.io"),
            ("registry:5000/app", "registry:5000"),
        ];
        for (reference, registry) in cases {
            assert_eq!(registry_of(reference), registry, "{reference}");
        }
    }

    #[test]
    fn registries_are_written_as_hosts() {
        assert_eq!(
            normalize_registry("https://index.docker.io/v1/"),
            "docker.io"
        );
        assert_eq!(normalize_registry("docker.io"), "docker.io");
        assert_eq!(
            normalize_registry("http://Registry.example.com:5000/v2/"),
            "registry.example.com:5000"
        );
        assert_eq!(normalize_registry("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn tags_are_after_the_last_slash() {
        assert_eq!(split_tag("busybox"), ("busybox", None));
        assert_eq!(split_tag("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_tag("127.0.0.1:5000/team/app:1"),
            ("127.0.0.1:5000/team/app", Some("1"))
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/team/app"),
            ("127.0.0.1:5000/team/app", None)
        );
        assert_eq!(split_tag("app@sha256:abc"), ("app", None));
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("host:5000/app"), "host:5000/app:latest");
        assert_eq!(with_default_tag("busybox:1"), "busybox:1");
        assert_eq!(with_default_tag("app@sha256:abc"), "app@sha256:abc");
    }

    #[test]
    fn familiar_names_drop_the_hub() {
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(familiar("docker.io/team/app:1"), "team/app:1");
        assert_eq!(familiar("busybox:latest"), "busybox:latest");
        assert_eq!(familiar("ghcr.io/library/x"), "ghcr.io/library/x");
    }

    #[test]
    fn pulls_say_where_from_like_docker() {
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(pulling_from("busybox"), pair("latest", "library/busybox"));
        assert_eq!(
            pulling_from("docker.io/library/busybox:1.36"),
            pair("1.36", "library/busybox")
        );
        assert_eq!(
            pulling_from("127.0.0.1:5000/team/app:1"),
            pair("1", "team/app")
        );
        assert_eq!(
            pulling_from("app@sha256:abc"),
            pair("sha256:abc", "library/app")
        );
    }

    #[test]
    fn ids_are_told_from_names() {
        assert!(is_image_id("sha256:0123"));
        assert!(is_image_id(&"a".repeat(64)));
        assert!(!is_image_id("busybox"));
        assert!(!is_image_id("abcdef012345"));
        assert_eq!(
            short_image_id(&format!("sha256:{}", "ab".repeat(32))),
            "abababababab"
        );
    }
}

//! Image references with Docker's grammar and normalisation (`busybox` =
//! `docker.io/library/busybox:latest`), and the familiar form Docker shows them in.

use oci_spec::distribution::Reference;

/// `text` as a normalised reference; the message says why it is none.
pub fn parse(text: &str) -> Result<Reference, String> {
    if text.is_empty() || text.len() > 255 {
        return Err(format!(
            "invalid reference {text:?}: it must have 1 to 255 characters"
        ));
    }
    text.parse::<Reference>()
        .map_err(|e| format!("invalid reference {text:?}: {e}"))
}

/// The reference as its tag is stored: `registry/repository:tag` (`latest` when none).
pub fn tag_key(reference: &Reference) -> String {
    format!(
        "{}/{}:{}",
        reference.registry(),
        reference.repository(),
        reference.tag().unwrap_or("latest")
    )
}

/// `registry/repository`, as stored.
pub fn repository_key(reference: &Reference) -> String {
    format!("{}/{}", reference.registry(), reference.repository())
}

/// Docker's familiar form of a stored key: `docker.io/library/busybox:latest` →
/// `busybox:latest`, `docker.io/team/app:1` → `team/app:1`; other registries stay.
pub fn familiar(key: &str) -> String {
    let short = key.strip_prefix("docker.io/").unwrap_or(key);
    short.strip_prefix("library/").unwrap_or(short).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_normalised_as_docker_does() {
        let r = parse("busybox").unwrap();
        assert_eq!(tag_key(&r), "docker.io/library/busybox:latest");
        assert_eq!(familiar(&tag_key(&r)), "busybox:latest");
        let r = parse("127.0.0.1:5000/team/app:1").unwrap();
        assert_eq!(tag_key(&r), "127.0.0.1:5000/team/app:1");
        assert_eq!(familiar(&tag_key(&r)), "127.0.0.1:5000/team/app:1");
        let r = parse("team/app").unwrap();
        assert_eq!(familiar(&tag_key(&r)), "team/app:latest");
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("app@{digest}")).unwrap();
        assert_eq!(r.digest(), Some(digest.as_str()));
        assert_eq!(repository_key(&r), "docker.io/library/app");
        for bad in ["", "UPPER", "a b", "app:", "-app", "app@sha256:12"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

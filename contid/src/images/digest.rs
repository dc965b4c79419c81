//! `sha256:<64 lower-case hex>`: the name of every blob, layer and image of the store.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

const ALGORITHM: &str = "sha256:";

/// A sha256 digest, checked at parse: it is safe as a file name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    pub fn parse(text: &str) -> Result<Digest, String> {
        let hex = text
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| format!("digest {text:?} is not sha256:<64 hex digits>"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!("digest {text:?} is not sha256:<64 hex digits>"));
        }
        Ok(Digest(text.to_string()))
    }

    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest(format!("{ALGORITHM}{}", hex::encode(hash)))
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest::from_sha256(Sha256::digest(bytes).into())
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[ALGORITHM.len()..]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The sha256 digests a folder's entries are named by (their hex), others skipped: the
    /// store's folders of blobs and of layers.
    pub fn named_in(dir: &std::path::Path) -> Vec<Digest> {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()
            })
            .collect()
    }

    /// The first 12 hex digits, as Docker shows ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl TryFrom<String> for Digest {
    type Error = String;
    fn try_from(text: String) -> Result<Digest, String> {
        Digest::parse(&text)
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> String {
        digest.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_with_64_lower_hex_digits_is_a_digest() {
        let good = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(Digest::parse(&good).unwrap().hex(), "ab".repeat(32));
        for bad in [
            "ab".repeat(32),
            format!("sha512:{}", "ab".repeat(32)),
            format!("sha256:{}", "AB".repeat(32)),
            format!("sha256:{}/..", "ab".repeat(31)),
            "sha256:".into(),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(
            Digest::of(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}

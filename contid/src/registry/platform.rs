//! The platform an image is pulled for (`linux/amd64`, `linux/arm/v7`), and the choice of one
//! entry of an index (manifest list) for it, as containerd's matcher: names normalised
//! (`x86_64` = `amd64`, `aarch64` = `arm64`, `arm64/v8` = `arm64`, `arm` = `arm/v7`), the exact
//! platform first, then for 32-bit arm the older variants a newer CPU runs (v7 runs v6 and v5).

use std::fmt;
use std::str::FromStr;

/// An OS, CPU architecture and optional CPU variant, as in an image index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for Platform {
    /// `linux/amd64`.
    fn default() -> Self {
        Platform {
            os: "linux".to_string(),
            architecture: "amd64".to_string(),
            variant: None,
        }
    }
}

impl Platform {
    /// The platform this daemon runs on (32-bit arm taken as v7).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
        .normalized()
    }

    /// The same platform in the names an index uses for it (see the module's doc).
    pub fn normalized(&self) -> Platform {
        let os = self.os.to_ascii_lowercase();
        let variant = self
            .variant
            .as_deref()
            .map(str::to_ascii_lowercase)
            .filter(|v| !v.is_empty());
        let (architecture, variant) = match self.architecture.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" | "amd64" => ("amd64".to_string(), variant.filter(|v| v != "v1")),
            "i386" | "i686" | "386" => ("386".to_string(), variant),
            "aarch64" | "arm64" => (
                "arm64".to_string(),
                variant.filter(|v| v != "v8" && v != "8"),
            ),
            "armhf" => ("arm".to_string(), Some("v7".to_string())),
            "armel" => ("arm".to_string(), Some("v6".to_string())),
            "arm" => {
                let variant = match variant.as_deref() {
                    None => "v7".to_string(),
                    Some(v @ ("5" | "6" | "7" | "8")) => format!("v{v}"),
                    Some(v) => v.to_string(),
                };
                ("arm".to_string(), Some(variant))
            }
            other => (other.to_string(), variant),
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// A platform that is not `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid platform {0:?}: expected os/architecture[/variant], e.g. linux/arm64 or linux/arm/v7"
)]
pub struct InvalidPlatform(pub String);

impl FromStr for Platform {
    type Err = InvalidPlatform;

    /// `linux/amd64`, `linux/arm64/v8`…, normalised (`linux/x86_64` is `linux/amd64`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPlatform(text.to_string());
        let parts: Vec<&str> = text.trim().split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(invalid());
        }
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        };
        if !parts.iter().all(|part| valid(part)) {
            return Err(invalid());
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        }
        .normalized())
    }
}

/// How well an index entry's platform fits the wanted one: lower is better, `None` is no fit.
fn rank(wanted: &Platform, offered: &Platform) -> Option<u32> {
    if wanted.os != offered.os || wanted.architecture != offered.architecture {
        return None;
    }
    if wanted.variant == offered.variant {
        return Some(0);
    }
    // 32-bit arm: a v7 CPU runs v6 and v5 code, a v8 one (in 32-bit mode) v7, v6 and v5.
    if wanted.architecture == "arm" {
        let level = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| v.strip_prefix('v'))
                .and_then(|n| n.parse::<u32>().ok())
        };
        if let (Some(wanted), Some(offered)) = (level(&wanted.variant), level(&offered.variant))
            && offered < wanted
        {
            return Some(wanted - offered);
        }
    }
    None
}

/// The index of the entry of `offered` that best fits `wanted` (the first among equals), if
/// any fits.
pub fn select(wanted: &Platform, offered: &[Option<Platform>]) -> Option<usize> {
    let wanted = wanted.normalized();
    offered
        .iter()
        .enumerate()
        .filter_map(|(i, platform)| {
            let platform = platform.as_ref()?.normalized();
            rank(&wanted, &platform).map(|rank| (rank, i))
        })
        .min()
        .map(|(_, i)| i)
}

/// The platforms an index offers, for the message of a failed choice: no duplicates, without
/// the `unknown/unknown` entries of build attestations.
pub fn available(offered: &[Option<Platform>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for platform in offered.iter().flatten() {
        if platform.os == "unknown" {
            continue;
        }
        let name = platform.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Platform {
        text.parse().unwrap()
    }

    #[test]
    fn platforms_parse_and_normalise() {
        assert_eq!(p("linux/amd64"), Platform::default());
        assert_eq!(p("linux/x86_64"), Platform::default());
        assert_eq!(p("Linux/AMD64"), Platform::default());
        assert_eq!(p("linux/arm64/v8").to_string(), "linux/arm64");
        assert_eq!(p("linux/aarch64").to_string(), "linux/arm64");
        assert_eq!(p("linux/arm").to_string(), "linux/arm/v7");
        assert_eq!(p("linux/arm/6").to_string(), "linux/arm/v6");
        assert_eq!(p("linux/riscv64").to_string(), "linux/riscv64");
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/amd 64",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?}");
        }
        assert_eq!(Platform::default().to_string(), "linux/amd64");
    }

    #[test]
    fn the_exact_platform_is_chosen() {
        let offered = vec![
            Some(p("linux/arm64/v8")),
            None,
            Some(p("linux/amd64")),
            Some(Platform {
                os: "unknown".to_string(),
                architecture: "unknown".to_string(),
                variant: None,
            }),
            Some(p("linux/arm/v7")),
            Some(p("linux/arm/v6")),
        ];
        assert_eq!(select(&p("linux/amd64"), &offered), Some(2));
        assert_eq!(select(&p("linux/arm64"), &offered), Some(0));
        // An index entry spelled differently is the same platform.
        let spelled = vec![Some(Platform {
            os: "linux".to_string(),
            architecture: "arm64".to_string(),
            variant: Some("v8".to_string()),
        })];
        assert_eq!(select(&p("linux/arm64"), &spelled), Some(0));
        assert_eq!(select(&p("linux/arm/v7"), &offered), Some(4));
        assert_eq!(select(&p("linux/arm/v6"), &offered), Some(5));
        assert_eq!(select(&p("linux/s390x"), &offered), None);
        assert_eq!(select(&p("windows/amd64"), &offered), None);
    }

    #[test]
    fn arm_falls_back_to_older_variants_best_first() {
        let offered = vec![Some(p("linux/arm/v5")), Some(p("linux/arm/v6"))];
        assert_eq!(select(&p("linux/arm/v7"), &offered), Some(1));
        assert_eq!(select(&p("linux/arm/v5"), &offered), Some(0));
        // Never a newer variant than the CPU's.
        assert_eq!(select(&p("linux/arm/v5"), &[Some(p("linux/arm/v7"))]), None);
        // A variant asked for does not accept another one elsewhere.
        assert_eq!(
            select(&p("linux/amd64/v3"), &[Some(p("linux/amd64"))]),
            None
        );
    }

    #[test]
    fn available_platforms_skip_attestations_and_duplicates() {
        let offered = vec![
            Some(p("linux/amd64")),
            Some(p("linux/amd64")),
            Some(Platform {
                os: "unknown".to_string(),
                architecture: "unknown".to_string(),
                variant: None,
            }),
            None,
            Some(p("linux/arm/v7")),
        ];
        assert_eq!(available(&offered), vec!["linux/amd64", "linux/arm/v7"]);
    }
}

//! Sizes as people type them to Docker (`--memory 64m`, `--shm-size 1g`, tmpfs `size=`).

/// `1024`, `512k`, `64m`, `1g`, `1.5g`, `64MiB`, `64mb`… in bytes (units are powers of 1024,
/// as docker reads them).
pub fn parse_size(text: &str) -> Result<i64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (like 64m, 1g, 512k or bytes)"))?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use k, m, g or t)"
            ));
        }
    };
    let bytes = number * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes.round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_type_them() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        for bad in ["", "m", "12x", "-5m", "1e400"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}

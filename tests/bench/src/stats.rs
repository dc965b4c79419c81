//! Summary statistics of a set of timings.

use std::time::Duration;

use serde_json::{Value, json};

#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub count: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub mean_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// `None` for an empty sample.
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        let median = if n % 2 == 1 {
            ms[n / 2]
        } else {
            (ms[n / 2 - 1] + ms[n / 2]) / 2.0
        };
        // Nearest rank: the smallest value with at least 90 % of the samples at or below it.
        let p90 = ms[(n * 9).div_ceil(10).max(1) - 1];
        Some(Summary {
            count: n,
            median_ms: median,
            p90_ms: p90,
            mean_ms: ms.iter().sum::<f64>() / n as f64,
            min_ms: ms[0],
            max_ms: ms[n - 1],
        })
    }

    pub fn to_json(self) -> Value {
        json!({
            "count": self.count,
            "median_ms": round3(self.median_ms),
            "p90_ms": round3(self.p90_ms),
            "mean_ms": round3(self.mean_ms),
            "min_ms": round3(self.min_ms),
            "max_ms": round3(self.max_ms),
        })
    }
}

pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn median_p90_mean() {
        let s = Summary::of(&ms(&[5, 1, 4, 2, 3, 10, 9, 8, 7, 6])).unwrap();
        assert_eq!(s.median_ms, 5.5);
        assert_eq!(s.p90_ms, 9.0);
        assert_eq!(s.mean_ms, 5.5);
        assert_eq!((s.min_ms, s.max_ms), (1.0, 10.0));
        let odd = Summary::of(&ms(&[3, 1, 2])).unwrap();
        assert_eq!((odd.median_ms, odd.p90_ms), (2.0, 3.0));
        assert!(Summary::of(&[]).is_none());
    }
}

//! Latency summaries: every sample kept, sorted once, read by nearest rank.

use std::time::Duration;

/// The latencies of one run: count, p50, p99 and max, in milliseconds.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(mut samples: Vec<Duration>) -> Summary {
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Summary {
            count: samples.len(),
            p50_ms: percentile(&samples, 50.0).map_or(0.0, ms),
            p99_ms: percentile(&samples, 99.0).map_or(0.0, ms),
            max_ms: samples.last().copied().map_or(0.0, ms),
        }
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted samples: the smallest sample with at
/// least p % of the samples at or below it.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&sorted, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&ms(&[7]), 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_summary_sorts_its_samples_first() {
        let s = Summary::of(ms(&[9, 1, 5, 3, 7]));
        assert_eq!(s.count, 5);
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (5.0, 9.0, 9.0));
        assert_eq!(Summary::of(Vec::new()).count, 0);
    }
}

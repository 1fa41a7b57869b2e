//! `ringload compare`: one plan against a baseline and a candidate target (the service without
//! and with the sidecar or gateway), in interleaved rounds, and the overhead per percentile with
//! its noise.
//!
//! Each round runs both targets once with the same load, the order alternating (baseline first,
//! then candidate first, ...) so that a slow drift of the machine or the targets falls on both
//! sides. For each latency percentile, a round's overhead is candidate minus baseline. Reported:
//! - the median of the rounds' overheads (absolute and relative), and their range;
//! - the noise: the baseline's own round-to-round spread (median absolute deviation of its
//!   percentile over the rounds): an overhead smaller than that is not resolved by this run;
//! - `consistent`: every round agrees on the sign of the overhead (a sign test: with n rounds
//!   the chance of that without a real difference is 2 x 0.5^n, 3% for 6 rounds).
//!
//! The JSON also holds each target's merged result (whole histograms, as `run` writes) and every
//! round's percentiles, so nothing has to be re-measured to look closer.

use ringload_engine::Stats;
use serde::{Deserialize, Serialize};

use crate::model::{Percentiles, Report};

/// The format of a comparison; a reader refuses any other.
pub const COMPARE_FORMAT: &str = "ringload-compare/1";

/// The percentiles compared, with their JSON names.
pub const PERCENTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p999", 0.999),
];

/// Fewest rounds for the sign test: all of 6 rounds on one side by chance is 2 x 0.5^6 = 3%.
pub const SIGN_TEST_ROUNDS: usize = 6;

/// Which side runs first in round `r`.
pub fn baseline_first(round: u32) -> bool {
    round.is_multiple_of(2)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overhead {
    pub percentile: String,
    /// The percentile of each side's merged histogram (all rounds), microseconds.
    pub baseline_us: u64,
    pub candidate_us: u64,
    /// Median over rounds of (candidate - baseline), microseconds.
    pub overhead_us: f64,
    /// Median over rounds of (candidate / baseline - 1), percent.
    pub overhead_pct: f64,
    /// Smallest and largest round overhead, microseconds.
    pub range_us: [f64; 2],
    /// Median absolute deviation of the baseline's percentile over the rounds, microseconds.
    pub baseline_noise_us: f64,
    /// Every round agrees on the sign of the overhead, over at least 6 rounds.
    pub consistent: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Round {
    pub round: u32,
    pub baseline_first: bool,
    pub baseline: Percentiles,
    pub candidate: Percentiles,
    pub baseline_rps: f64,
    pub candidate_rps: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub format: String,
    pub tool_version: String,
    pub plan: String,
    /// Rounds asked for; `per_round` holds those completed (fewer when interrupted).
    pub rounds: u32,
    pub valid: bool,
    pub invalid_reason: Option<String>,
    /// Stopped by SIGINT/SIGTERM: the rounds completed so far are reported.
    #[serde(default)]
    pub interrupted: bool,
    pub overhead: Vec<Overhead>,
    pub per_round: Vec<Round>,
    /// Each side's result over all rounds, in `run`'s format.
    pub baseline: Report,
    pub candidate: Report,
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn quantile(h: &hdrhistogram::Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64
    }
}

/// The overhead per percentile from each round's (baseline, candidate) results.
pub fn overheads(rounds: &[(Stats, Stats)], merged: (&Stats, &Stats)) -> Vec<Overhead> {
    PERCENTILES
        .iter()
        .map(|&(name, q)| {
            let mut diffs = Vec::with_capacity(rounds.len());
            let mut rel = Vec::with_capacity(rounds.len());
            let mut base = Vec::with_capacity(rounds.len());
            for (b, c) in rounds {
                let (bv, cv) = (quantile(&b.latency, q), quantile(&c.latency, q));
                diffs.push(cv - bv);
                if bv > 0.0 {
                    rel.push(100.0 * (cv / bv - 1.0));
                }
                base.push(bv);
            }
            let lo = diffs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = diffs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let consistent = diffs.len() >= SIGN_TEST_ROUNDS && (lo > 0.0 || hi < 0.0);
            let base_median = median(&mut base.clone());
            let mut dev: Vec<f64> = base.iter().map(|v| (v - base_median).abs()).collect();
            Overhead {
                percentile: name.to_string(),
                baseline_us: quantile(&merged.0.latency, q) as u64,
                candidate_us: quantile(&merged.1.latency, q) as u64,
                overhead_us: median(&mut diffs),
                overhead_pct: (median(&mut rel) * 10.0).round() / 10.0,
                range_us: if diffs.is_empty() { [0.0; 2] } else { [lo, hi] },
                baseline_noise_us: median(&mut dev),
                consistent,
            }
        })
        .collect()
}

/// Merge one side's rounds; run time adds up (rounds are sequential), per-second windows are
/// dropped (they would overlay different rounds).
pub fn merge_rounds(side: impl Iterator<Item = Stats>, keys: usize) -> Stats {
    let mut side = side.peekable();
    // The rounds' row layout (segments, logins), not `Stats::new`'s plain labels: adding
    // stats of as many rows keeps the layout of the left side.
    let mut m = match side.peek() {
        Some(first) => Stats::with_layout(first.layout),
        None => Stats::new(keys),
    };
    let (mut elapsed, mut window) = (0.0, 0.0);
    for s in side {
        m += &s;
        elapsed += s.elapsed_s;
        window += s.send_window_s;
    }
    m.elapsed_s = elapsed;
    m.send_window_s = window;
    m.windows.clear();
    m
}

/// Completed requests per second, as `run` reports it.
pub fn rps(s: &Stats) -> f64 {
    crate::build::per_second(s.counts.completed(), s.elapsed_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with(values_us: &[u64]) -> Stats {
        let mut s = Stats::new(1);
        for &v in values_us {
            s.sent(0, 0);
            s.answered(0, 0, 200, true, v, v);
        }
        s
    }

    #[test]
    fn overhead_is_the_median_of_round_differences() {
        // Six rounds: the candidate is 100 to 300 us slower at every percentile.
        let rounds: Vec<(Stats, Stats)> = [100u64, 300, 200, 200, 250, 150]
            .iter()
            .map(|&d| (stats_with(&[1000; 10]), stats_with(&[1000 + d; 10])))
            .collect();
        let mb = merge_rounds(rounds.iter().map(|r| r.0.clone()), 1);
        let mc = merge_rounds(rounds.iter().map(|r| r.1.clone()), 1);
        let o = overheads(&rounds, (&mb, &mc));
        let p50 = &o[0];
        assert_eq!(p50.percentile, "p50");
        assert!((p50.overhead_us - 200.0).abs() < 2.0, "{p50:?}");
        assert!((p50.overhead_pct - 20.0).abs() < 0.3, "{p50:?}");
        assert!(
            !overheads(&rounds[..5], (&mb, &mc))[0].consistent,
            "5 rounds: no sign test"
        );
        assert!((p50.range_us[0] - 100.0).abs() < 2.0 && (p50.range_us[1] - 300.0).abs() < 2.0);
        assert!(p50.consistent);
        assert_eq!(p50.baseline_noise_us, 0.0);
        assert_eq!(mb.counts.requests, 60);
    }

    /// Regression: a comparison of a plan with segments named its sides' rows as plain labels
    /// (wrong names, rows without a label, every segment as `(none)`); caught by the schema.
    #[test]
    fn merged_rounds_keep_their_segments() {
        let rounds = [crate::testing::worker(1), crate::testing::worker(2)];
        let m = merge_rounds(rounds.iter().cloned(), rounds[0].keys.len());
        assert_eq!(m.layout, rounds[0].layout);
        let r = crate::testing::report_of(&m);
        let rows: Vec<(Option<&str>, Option<&str>)> = r
            .labels
            .iter()
            .map(|g| (g.label.as_deref(), g.segment.as_deref()))
            .collect();
        assert_eq!(
            rows,
            [(Some("GET /a"), Some("canary")), (Some("GET /a"), None)]
        );
        assert_eq!(r.segments.len(), 2);
        assert_eq!(m.counts.requests, 1000);
    }

    #[test]
    fn rounds_that_disagree_are_not_consistent() {
        // Five rounds slower, one faster.
        let rounds: Vec<(Stats, Stats)> = [1100u64, 1100, 900, 1100, 1100, 1100]
            .iter()
            .map(|&c| (stats_with(&[1000; 5]), stats_with(&[c; 5])))
            .collect();
        let mb = merge_rounds(rounds.iter().map(|r| r.0.clone()), 1);
        let mc = merge_rounds(rounds.iter().map(|r| r.1.clone()), 1);
        assert!(!overheads(&rounds, (&mb, &mc))[0].consistent);
    }
}

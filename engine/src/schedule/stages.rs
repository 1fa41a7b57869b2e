//! Stages: the rate is piecewise linear in time; the next arrival is where the integral of the
//! rate since the last one reaches the draw, solved exactly per stage.

use super::{Pace, Schedule};

/// Time (ns from `start_ns`) at which the integral of a rate, linear from `r0` with slope `k`
/// (requests/s and requests/s per s), reaches `x` requests; `None` if it never does.
fn linear_reach(r0: f64, k: f64, x: f64) -> Option<f64> {
    // r0 * t + k/2 * t^2 = x; the smallest non-negative root, in the form that does not
    // cancel when k is tiny: t = 2x / (r0 + sqrt(r0^2 + 2kx)).
    let disc = r0 * r0 + 2.0 * k * x;
    if disc < 0.0 {
        return None;
    }
    let den = r0 + disc.sqrt();
    (den > 0.0).then(|| 2.0 * x / den)
}

impl Schedule {
    /// The time after `t_ns` at which the stages' rate has integrated to `x` requests, or
    /// `u64::MAX` if the stages end first.
    pub(super) fn stages_reach(&self, t_ns: u64, mut x: f64) -> u64 {
        let Pace::Stages { stages, share, .. } = &self.pace else {
            return u64::MAX;
        };
        let mut start = 0u64;
        let mut prev = 0.0;
        for st in stages {
            let d = st.duration.as_nanos() as u64;
            let end = start.saturating_add(d);
            if t_ns < end && d > 0 {
                // Rate at t and slope within this stage, per nanosecond.
                let k = (st.level - prev) * share / d as f64 / 1e9;
                let from = t_ns.max(start);
                let r = (prev + (st.level - prev) * (from - start) as f64 / d as f64) * share / 1e9;
                let left = (end - from) as f64;
                let area = r * left + k * left * left / 2.0;
                if area >= x
                    && let Some(dt) = linear_reach(r, k, x)
                {
                    return from.saturating_add(dt.ceil().max(1.0) as u64).min(end);
                }
                x -= area.max(0.0);
            }
            start = end;
            prev = st.level;
        }
        u64::MAX
    }

    /// The rate integrated over `[from_ns, to_ns)`: how many requests the stages (this shard's
    /// share) describe in that time.
    pub(super) fn stages_area(&self, from_ns: u64, to_ns: u64) -> f64 {
        let Pace::Stages { stages, share, .. } = &self.pace else {
            return 0.0;
        };
        let (mut start, mut prev, mut area) = (0u64, 0.0, 0.0);
        for st in stages {
            let d = st.duration.as_nanos() as u64;
            let end = start.saturating_add(d);
            let (a, b) = (from_ns.max(start), to_ns.min(end));
            if a < b && d > 0 {
                let at = |t: u64| prev + (st.level - prev) * (t - start) as f64 / d as f64;
                // Linear within the stage: the mean of the rates at both ends times the time.
                area += (at(a) + at(b)) / 2.0 * share * (b - a) as f64 / 1e9;
            }
            start = end;
            prev = st.level;
        }
        area
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::fixtures::{self, cfg, drain, steps};

    #[test]
    fn stages_ramp_the_rate() {
        let model = fixtures::stages(&[(1, 1000.0), (1, 1000.0), (1, 0.0)]);
        let mut s = Schedule::new(&model, steps(1), &cfg(1.0, 0, 3_000_000_000, None, 1));
        let got = drain(&mut s, 3_000_000_000, 1_000_000);
        let in_sec = |k: u64| got.iter().filter(|g| g.1 / 1_000_000_000 == k).count() as f64;
        // Ramp 0 -> 1000 is 500 requests, then flat 1000/s, then ramp down: 500.
        assert!((in_sec(0) - 500.0).abs() <= 2.0, "{}", in_sec(0));
        assert!((in_sec(1) - 1000.0).abs() <= 2.0, "{}", in_sec(1));
        assert!((in_sec(2) - 500.0).abs() <= 2.0, "{}", in_sec(2));
        assert!(s.finished(3_000_000_000));
    }

    fn stage_count(stages: &[(u64, f64)], share: f64) -> usize {
        let model = fixtures::stages(stages);
        let mut s = Schedule::new(&model, steps(1), &cfg(share, 0, u64::MAX, None, 9));
        let got = drain(&mut s, 20_000_000_000, 1_000_000);
        assert!(s.finished(20_000_000_000), "stages end the schedule");
        got.len()
    }

    #[test]
    fn idle_and_slow_stages_send_what_they_describe() {
        assert_eq!(stage_count(&[(3, 0.0)], 1.0), 0);
        assert!((stage_count(&[(10, 1.0)], 1.0) as i64 - 5).abs() <= 1);
        assert!((stage_count(&[(5, 0.0), (5, 100.0)], 1.0) as i64 - 250).abs() <= 1);
        assert!((stage_count(&[(1, 10.0)], 1.0) as i64 - 5).abs() <= 1);
        // Two shards each take half.
        assert!((stage_count(&[(4, 1000.0)], 0.5) as i64 - 1000).abs() <= 1);
    }
}

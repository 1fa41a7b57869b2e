//! Open-loop arrivals: the random draws (a shard's phase, Poisson gaps), and skipping the
//! arrivals already due that a full queue cannot take, at a cost that does not grow with their
//! number.

use super::{Pace, Schedule};

impl Schedule {
    pub(super) fn uniform(&mut self) -> f64 {
        // xorshift64*: cheap, good enough for arrival jitter.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Requests to wait for before the next arrival: 1 (uniform) or an exponential draw.
    pub(super) fn draw(&mut self, poisson: bool) -> f64 {
        if poisson {
            -self.uniform().max(1e-12).ln()
        } else {
            1.0
        }
    }

    /// Skip every arrival due at `now_ns` or before without releasing it, as though `next`
    /// had returned each one (cursor, warm-up, request budget and end of the schedule
    /// accounted the same way), and return how many of them were measured: what a driver
    /// whose queue is full counts as dropped.
    ///
    /// Cost: O(1) for a rate, O(stages) for stages, at most one period of this shard's steps
    /// for replay (whole periods are skipped at once), however many arrivals are skipped, so a
    /// schedule far behind (an absurd rate, a stalled target) cannot keep a loop busy. Uniform
    /// arrivals are skipped exactly; Poisson ones by their expected count (the mean interval),
    /// and the arrivals after them are drawn as usual. The closed loop has nothing due ahead
    /// of time: 0.
    pub fn skip_due(&mut self, now_ns: u64) -> u64 {
        if !self.is_open() || self.finished(now_ns) || self.next_ns > now_ns {
            return 0;
        }
        // The latest intended time an arrival may have: due now, and before the end.
        let last = now_ns.min(self.end_ns.saturating_sub(1));
        let next = self.next_ns;
        if next > last {
            return 0;
        }
        let left = self.budget.map(|b| b.saturating_sub(self.measured));
        let mf = self.measure_from_ns;
        // Of the arrivals from `next` on, `due` are at or before `last` and `early` of those
        // before the warm-up ends.
        let (due, early): (u64, u64) = match &self.pace {
            Pace::Closed => return 0,
            Pace::Replay { .. } => return self.skip_replay(last),
            Pace::Rate {
                interval_ns,
                poisson: false,
            } => {
                let g = (*interval_ns as u64).max(1);
                let early = if mf > next {
                    (mf - next).div_ceil(g)
                } else {
                    0
                };
                ((last - next) / g + 1, early)
            }
            Pace::Rate {
                interval_ns,
                poisson: true,
            } => {
                let g = interval_ns.max(1.0);
                let early = if mf > next {
                    ((mf - next) as f64 / g).ceil() as u64
                } else {
                    0
                };
                (((last - next) as f64 / g) as u64 + 1, early)
            }
            Pace::Stages { .. } => {
                let early = if mf > next {
                    self.stages_area(next, mf).ceil() as u64
                } else {
                    0
                };
                (
                    self.stages_area(next, last.saturating_add(1)) as u64 + 1,
                    early,
                )
            }
        };
        let early = early.min(due);
        let (mut n, mut measured) = (due, due - early);
        if let Some(left) = left
            && measured > left
        {
            (n, measured) = (early + left, left);
        }
        let len = self.steps.requests.len() as u64;
        let ahead = self.cursor as u64 + n;
        self.laps = self.laps.wrapping_add((ahead / len) as u32);
        self.cursor = (ahead % len) as usize;
        self.next_ns = match &self.pace {
            Pace::Rate {
                interval_ns,
                poisson: false,
            } => next.saturating_add(n.saturating_mul((*interval_ns as u64).max(1))),
            Pace::Rate { interval_ns, .. } => {
                next.saturating_add((n as f64 * interval_ns.max(1.0)).ceil() as u64)
            }
            _ => self.stages_reach(next, n as f64),
        };
        self.measured += measured;
        measured
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Arrival, LoadModel};
    use crate::schedule::fixtures::{cfg, drain, release_all, stages, steps};
    use std::time::Duration;

    #[test]
    fn uniform_rate_is_exact_and_stops_at_the_end() {
        let model = LoadModel::Rate {
            rate: 1000.0,
            arrival: Arrival::Uniform,
        };
        let mut s = Schedule::new(&model, steps(7), &cfg(0.5, 0, 1_000_000_000, None, 1));
        let got = drain(&mut s, 2_000_000_000, 100_000);
        assert_eq!(got.len(), 500);
        assert!(got.windows(2).all(|w| w[1].1 - w[0].1 == 2_000_000));
        assert_eq!(got[7].0, 0, "wraps around the steps");
        assert!(s.finished(2_000_000_000));
    }

    #[test]
    fn poisson_rate_has_the_right_mean() {
        let model = LoadModel::Rate {
            rate: 10_000.0,
            arrival: Arrival::Poisson,
        };
        let mut s = Schedule::new(&model, steps(3), &cfg(1.0, 0, 1_000_000_000, None, 42));
        let n = drain(&mut s, 1_000_000_000, 50_000).len() as f64;
        assert!((n - 10_000.0).abs() < 400.0, "{n}");
    }

    fn rate(r: f64, poisson: bool) -> LoadModel {
        LoadModel::Rate {
            rate: r,
            arrival: if poisson {
                Arrival::Poisson
            } else {
                Arrival::Uniform
            },
        }
    }

    #[test]
    fn skipping_uniform_arrivals_equals_releasing_them_one_by_one() {
        // Warm-up ends at 3 ms, the schedule at 50 ms; with and without a budget.
        for budget in [None, Some(7), Some(1000)] {
            let c = cfg(0.5, 3_000_000, 50_000_000, budget, 5);
            let mut a = Schedule::new(&rate(3000.0, false), steps(7), &c);
            let mut b = a.clone();
            for now in [0, 1_000_000, 2_500_000, 9_999_999, 20_000_000, 60_000_000] {
                assert_eq!(
                    a.skip_due(now),
                    release_all(&mut b, now),
                    "at {now} ({budget:?})"
                );
                assert_eq!(a.next_due_at(), b.next_due_at(), "at {now} ({budget:?})");
                assert_eq!(a.cursor, b.cursor);
                assert_eq!(a.measured, b.measured);
                assert_eq!(a.laps, b.laps);
            }
            assert!(a.finished(60_000_000));
        }
    }

    #[test]
    fn skipping_poisson_and_stages_skips_the_expected_count() {
        let mut p = Schedule::new(&rate(1e6, true), steps(3), &cfg(1.0, 0, u64::MAX, None, 7));
        let n = p.skip_due(1_000_000_000) as f64;
        assert!((n - 1e6).abs() < 10.0, "{n}");
        assert!(p.next_due_at().unwrap() > 1_000_000_000);
        // Ramp 0 -> 1000/s over 1 s, then 1000/s: 500 + 500 requests by 1.5 s.
        let model = stages(&[(1, 1000.0), (1, 1000.0)]);
        let mut s = Schedule::new(&model, steps(1), &cfg(1.0, 0, u64::MAX, None, 1));
        let mut one_by_one = s.clone();
        let skipped = s.skip_due(1_500_000_000) as i64;
        assert!((skipped - 1000).abs() <= 2, "{skipped}");
        assert!((release_all(&mut one_by_one, 1_500_000_000) as i64 - skipped).abs() <= 2);
        // What is left of the second stage still comes, then the stages end.
        let rest = release_all(&mut s, 3_000_000_000) as i64;
        assert!((rest - 500).abs() <= 2, "{rest}");
        assert!(s.finished(3_000_000_000));
    }

    #[test]
    fn skipping_is_constant_time_and_the_closed_loop_has_nothing_to_skip() {
        // A day at the largest rate the CLI allows (8.6e12 arrivals), one call a second.
        let mut s = Schedule::new(&rate(1e8, false), steps(3), &cfg(1.0, 0, u64::MAX, None, 1));
        let started = std::time::Instant::now();
        let mut total = 0;
        for sec in 1..=86_400u64 {
            total += s.skip_due(sec * 1_000_000_000);
        }
        assert_eq!(total, 86_400 * 100_000_000);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let mut closed = Schedule::new(&LoadModel::Closed, steps(2), &cfg(1.0, 0, 10, None, 1));
        assert_eq!(closed.skip_due(5), 0);
        assert_eq!(closed.next(5).map(|x| x.req), Some(0));
    }
}

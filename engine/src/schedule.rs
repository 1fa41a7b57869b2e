//! When each request of a shard is due: the load model as a per-shard iterator of
//! `(request, intended time)`. Time is passed in (nanoseconds since the run's start); this module
//! never reads a clock, so it is tested with a virtual one.
//!
//! - Closed loop: a request is due whenever a connection has room; its intended time is `now`.
//! - Rate / stages: arrivals spaced by the shard's share of the rate (uniform or Poisson).
//! - Replay: each step at its captured offset divided by the speed.
//!
//! The schedule ends at the stop condition: the end of the sending window, or the shard's share
//! of `--requests` measured requests.

use std::sync::Arc;

use crate::config::{Arrival, LoadModel, Stage};

/// A shard's steps: request ids in plan order and, for replay, their offsets (microseconds).
#[derive(Debug, Clone, Default)]
pub struct Steps {
    pub requests: Arc<[u32]>,
    pub offsets_us: Arc<[u64]>,
}

#[derive(Debug, Clone)]
enum Pace {
    Closed,
    /// Open loop at a fixed mean interval.
    Rate {
        interval_ns: f64,
        poisson: bool,
    },
    /// Open loop whose rate follows stages (`rate(t)` piecewise linear).
    Stages {
        stages: Vec<Stage>,
        share: f64,
        poisson: bool,
    },
    /// Captured offsets / speed; `base_ns` moves on by the plan's span at each wrap-around.
    Replay {
        speed: f64,
        base_ns: u64,
        span_ns: u64,
    },
}

/// Per-shard schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pace: Pace,
    steps: Steps,
    cursor: usize,
    /// Intended time of the next open-loop request.
    next_ns: u64,
    /// No request is intended at or after this time.
    end_ns: u64,
    /// Requests intended at or after this time are measured.
    measure_from_ns: u64,
    budget: Option<u64>,
    measured: u64,
    rng: u64,
}

impl Schedule {
    /// `share` is this shard's fraction of the total rate (1 / executors).
    pub fn new(
        model: &LoadModel,
        steps: Steps,
        share: f64,
        measure_from_ns: u64,
        end_ns: u64,
        budget: Option<u64>,
        seed: u64,
    ) -> Schedule {
        let pace = match model {
            LoadModel::Closed => Pace::Closed,
            LoadModel::Rate { rate, arrival } => Pace::Rate {
                interval_ns: 1e9 / (rate * share),
                poisson: *arrival == Arrival::Poisson,
            },
            LoadModel::Stages { stages, arrival } => Pace::Stages {
                stages: stages.clone(),
                share,
                poisson: *arrival == Arrival::Poisson,
            },
            LoadModel::Replay { speed } => {
                let first = steps.offsets_us.first().copied().unwrap_or(0);
                let span = steps.offsets_us.last().copied().unwrap_or(0) - first;
                let n = steps.offsets_us.len() as u64;
                // The plan repeats after its span plus one mean gap, keeping its rhythm.
                let gap = if n > 1 { (span / (n - 1)).max(1) } else { 1000 };
                Pace::Replay {
                    speed: *speed,
                    base_ns: 0,
                    span_ns: (((span + gap) * 1000) as f64 / speed) as u64,
                }
            }
        };
        let mut s = Schedule {
            pace,
            steps,
            cursor: 0,
            next_ns: 0,
            end_ns,
            measure_from_ns,
            budget,
            measured: 0,
            rng: seed | 1,
        };
        s.next_ns = s.first_time();
        s
    }

    fn first_time(&mut self) -> u64 {
        match &self.pace {
            Pace::Closed => 0,
            Pace::Rate { .. } | Pace::Stages { .. } => {
                // Shards start at a random phase within one interval, so they do not fire in step.
                let gap = self.gap(0);
                (gap as f64 * self.uniform()) as u64
            }
            Pace::Replay { .. } => self.replay_time(0),
        }
    }

    fn uniform(&mut self) -> f64 {
        // xorshift64*: cheap, good enough for arrival jitter.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Rate (requests/s for this shard) at time `t_ns`; `None` past the last stage.
    fn stage_rate(stages: &[Stage], share: f64, t_ns: u64) -> Option<f64> {
        let mut start = 0u64;
        let mut prev = 0.0;
        for st in stages {
            let d = st.duration.as_nanos() as u64;
            if t_ns < start + d {
                let f = (t_ns - start) as f64 / d.max(1) as f64;
                return Some((prev + (st.level - prev) * f) * share);
            }
            start += d;
            prev = st.level;
        }
        None
    }

    /// Gap to the next arrival after `t_ns`.
    fn gap(&mut self, t_ns: u64) -> u64 {
        let (mean, poisson) = match &self.pace {
            Pace::Rate {
                interval_ns,
                poisson,
            } => (*interval_ns, *poisson),
            Pace::Stages {
                stages,
                share,
                poisson,
            } => {
                let poisson = *poisson;
                match Self::stage_rate(stages, *share, t_ns) {
                    // Below one request per 10 s the stage is idle: look again in 10 ms.
                    Some(r) if r > 0.1 => {
                        // The gap g with rate(t + g/2) * g = 1 (midpoint rule, exact for the
                        // linear ramps of a stage), by a few fixed-point steps; the rate at t
                        // alone would lag behind every ramp.
                        let mut g = 1e9 / r;
                        for _ in 0..4 {
                            let mid = t_ns.saturating_add((g / 2.0) as u64);
                            match Self::stage_rate(stages, *share, mid) {
                                Some(m) if m > 0.1 => g = 1e9 / m,
                                _ => break,
                            }
                        }
                        (g, poisson)
                    }
                    Some(_) => return 10_000_000,
                    None => return u64::MAX / 4,
                }
            }
            _ => return 0,
        };
        if poisson {
            let u = self.uniform().max(1e-12);
            (-u.ln() * mean) as u64
        } else {
            mean as u64
        }
        .max(1)
    }

    fn replay_time(&self, cursor: usize) -> u64 {
        match &self.pace {
            Pace::Replay { speed, base_ns, .. } => {
                let first = self.steps.offsets_us.first().copied().unwrap_or(0);
                let off = self.steps.offsets_us.get(cursor).copied().unwrap_or(0) - first;
                base_ns + ((off * 1000) as f64 / speed) as u64
            }
            _ => 0,
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.pace, Pace::Closed)
    }

    /// No more requests will be due.
    pub fn finished(&self, now_ns: u64) -> bool {
        if self.budget.is_some_and(|b| self.measured >= b) || self.steps.requests.is_empty() {
            return true;
        }
        match self.pace {
            Pace::Closed => now_ns >= self.end_ns,
            _ => self.next_ns >= self.end_ns,
        }
    }

    /// When the next request is due, for an open loop (the driver waits no longer than that).
    pub fn next_due_at(&self) -> Option<u64> {
        (self.is_open() && !self.finished(0)).then_some(self.next_ns)
    }

    /// Would a request intended at `t` be measured (after warm-up)?
    pub fn is_measured(&self, t_ns: u64) -> bool {
        t_ns >= self.measure_from_ns
    }

    /// The next request if one is due at `now`: `(request id, intended time, measured)`.
    pub fn next(&mut self, now_ns: u64) -> Option<(u32, u64, bool)> {
        if self.finished(now_ns) {
            return None;
        }
        let intended = match self.pace {
            Pace::Closed => now_ns,
            _ if self.next_ns > now_ns => return None,
            _ => self.next_ns,
        };
        let req = self.steps.requests[self.cursor];
        self.cursor += 1;
        let wrapped = self.cursor == self.steps.requests.len();
        if wrapped {
            self.cursor = 0;
        }
        match &mut self.pace {
            Pace::Closed => {}
            Pace::Replay {
                base_ns, span_ns, ..
            } => {
                if wrapped {
                    *base_ns += *span_ns;
                }
                self.next_ns = self.replay_time(self.cursor).max(intended);
            }
            _ => {
                let g = self.gap(intended);
                self.next_ns = intended.saturating_add(g);
            }
        }
        let measured = self.is_measured(intended);
        if measured {
            self.measured += 1;
        }
        Some((req, intended, measured))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn steps(n: u32) -> Steps {
        Steps {
            requests: (0..n).collect::<Vec<_>>().into(),
            offsets_us: (0..n as u64).map(|i| i * 1000).collect::<Vec<_>>().into(),
        }
    }

    fn drain(s: &mut Schedule, until_ns: u64, step_ns: u64) -> Vec<(u32, u64, bool)> {
        let mut out = vec![];
        let mut now = 0;
        while now <= until_ns {
            while let Some(x) = s.next(now) {
                out.push(x);
            }
            now += step_ns;
        }
        out
    }

    #[test]
    fn uniform_rate_is_exact_and_stops_at_the_end() {
        let model = LoadModel::Rate {
            rate: 1000.0,
            arrival: Arrival::Uniform,
        };
        let mut s = Schedule::new(&model, steps(7), 0.5, 0, 1_000_000_000, None, 1);
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
        let mut s = Schedule::new(&model, steps(3), 1.0, 0, 1_000_000_000, None, 42);
        let n = drain(&mut s, 1_000_000_000, 50_000).len() as f64;
        assert!((n - 10_000.0).abs() < 400.0, "{n}");
    }

    #[test]
    fn replay_follows_offsets_divided_by_speed() {
        let model = LoadModel::Replay { speed: 2.0 };
        let mut s = Schedule::new(&model, steps(4), 1.0, 0, 10_000_000, None, 1);
        let got = drain(&mut s, 5_000_000, 10_000);
        let times: Vec<u64> = got.iter().map(|g| g.1).take(6).collect();
        // Offsets 0,1,2,3 ms at speed 2 -> 0, .5, 1, 1.5 ms; then the plan repeats after its span.
        assert_eq!(&times[..4], &[0, 500_000, 1_000_000, 1_500_000]);
        assert!(times[4] > times[3]);
    }

    #[test]
    fn warmup_and_budget() {
        let model = LoadModel::Rate {
            rate: 1000.0,
            arrival: Arrival::Uniform,
        };
        let mut s = Schedule::new(&model, steps(1), 1.0, 100_000_000, u64::MAX, Some(50), 3);
        let got = drain(&mut s, 1_000_000_000, 1_000_000);
        let measured = got.iter().filter(|g| g.2).count();
        assert_eq!(measured, 50);
        assert!(got.iter().filter(|g| !g.2).all(|g| g.1 < 100_000_000));
        let closed = LoadModel::Closed;
        let mut c = Schedule::new(&closed, steps(2), 1.0, 0, 10, Some(3), 3);
        assert_eq!(c.next(0).map(|x| x.0), Some(0));
        assert_eq!(c.next(1).map(|x| x.1), Some(1));
        assert!(c.next(2).is_some());
        assert!(c.next(3).is_none(), "budget of 3 spent");
    }

    #[test]
    fn stages_ramp_the_rate() {
        let model = LoadModel::Stages {
            stages: vec![
                Stage {
                    duration: Duration::from_secs(1),
                    level: 1000.0,
                },
                Stage {
                    duration: Duration::from_secs(1),
                    level: 1000.0,
                },
                Stage {
                    duration: Duration::from_secs(1),
                    level: 0.0,
                },
            ],
            arrival: Arrival::Uniform,
        };
        let mut s = Schedule::new(&model, steps(1), 1.0, 0, 3_000_000_000, None, 1);
        let got = drain(&mut s, 3_000_000_000, 1_000_000);
        let in_sec = |k: u64| got.iter().filter(|g| g.1 / 1_000_000_000 == k).count() as f64;
        // Ramp 0 -> 1000 averages ~500/s, then flat 1000/s, then ramp down ~500/s.
        assert!((in_sec(0) - 500.0).abs() < 60.0, "{}", in_sec(0));
        assert!((in_sec(1) - 1000.0).abs() < 10.0, "{}", in_sec(1));
        assert!((in_sec(2) - 500.0).abs() < 60.0, "{}", in_sec(2));
    }
}

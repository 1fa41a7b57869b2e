//! When each request of a shard is due: the load model as a per-shard iterator of
//! `(request, intended time)`. Time is passed in (nanoseconds since the run's start); this module
//! never reads a clock, so it is tested with a virtual one.
//!
//! - Closed loop: a request is due whenever a connection has room; its intended time is `now`.
//! - Rate: arrivals spaced by the shard's share of the rate (uniform or Poisson).
//! - Stages: the rate is piecewise linear in time; the next arrival is where the integral of the
//!   rate since the last one reaches 1 (uniform) or an exponential draw (Poisson), solved exactly
//!   per stage, so ramps and idle stages send exactly what they describe.
//! - Replay: each step at its captured offset divided by the speed, on a clock shared by every
//!   shard (the plan's first offset and repeat period are computed once for the whole plan).
//!
//! The schedule ends at the stop condition: the end of the sending window, the end of the last
//! stage, or the shard's share of `--requests` measured requests.

use std::sync::Arc;

use crate::config::{Arrival, LoadModel, Stage};

/// A shard's steps: request ids in plan order, the shard's index of the session each belongs
/// to, and, for replay, their offsets (microseconds); with captured connections, the shard's
/// index of each step's captured connection and where the step stands in it.
#[derive(Debug, Clone, Default)]
pub struct Steps {
    pub requests: Arc<[u32]>,
    pub sessions: Arc<[u32]>,
    pub offsets_us: Arc<[u64]>,
    /// Empty unless connections are captured.
    pub flows: Arc<[u32]>,
    pub edges: Arc<[Edge]>,
}

/// The step goes on any connection (connections are not captured).
pub const NO_FLOW: u32 = u32::MAX;

/// Where a step stands in its captured connection: the first opens it, the last closes it
/// once answered (one step may do both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edge {
    pub opens: bool,
    pub closes: bool,
}

/// A request the schedule releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub req: u32,
    /// The shard's index of its session.
    pub session: u32,
    /// When it is meant to be sent (ns since the run's start).
    pub intended: u64,
    /// After the warm-up: counted in the results.
    pub measured: bool,
    /// The shard's index of its captured connection, or [`NO_FLOW`].
    pub flow: u32,
    pub edge: Edge,
    /// How many times the schedule went through all its steps before this one (a session's
    /// fresh trace ids differ from one lap to the next).
    pub lap: u32,
}

/// The whole plan's captured timing, for replay: every shard uses the same origin and period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanTiming {
    /// Offset of the plan's first step, microseconds.
    pub first_us: u64,
    /// After how long the plan starts again: its span plus one mean gap, microseconds.
    pub period_us: u64,
}

impl PlanTiming {
    /// `None` when the plan has no timing to replay (every step at the same offset).
    pub fn of(offsets_us: &[u64]) -> Option<PlanTiming> {
        let first = *offsets_us.iter().min()?;
        let last = *offsets_us.iter().max()?;
        let span = last - first;
        if span == 0 {
            return None;
        }
        let gap = (span / (offsets_us.len() as u64 - 1)).max(1);
        Some(PlanTiming {
            first_us: first,
            period_us: span.saturating_add(gap),
        })
    }
}

/// What a shard's schedule is built from.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// This shard's fraction of the total rate (1 / executors).
    pub share: f64,
    /// Requests intended at or after this time are measured (the end of the warm-up).
    pub measure_from_ns: u64,
    /// No request is intended at or after this time.
    pub end_ns: u64,
    /// This shard's share of `--requests`.
    pub budget: Option<u64>,
    pub seed: u64,
    /// Replay only.
    pub timing: PlanTiming,
}

#[derive(Debug, Clone)]
enum Pace {
    Closed,
    /// Open loop at a fixed mean interval.
    Rate {
        interval_ns: f64,
        poisson: bool,
    },
    /// Open loop whose rate follows stages (`rate(t)` piecewise linear, this shard's share).
    Stages {
        stages: Vec<Stage>,
        share: f64,
        poisson: bool,
    },
    /// Captured offsets / speed; `base_ns` moves on by the plan's period at each wrap-around.
    Replay {
        speed: f64,
        base_ns: u64,
        timing: PlanTiming,
    },
}

/// Per-shard schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pace: Pace,
    steps: Steps,
    cursor: usize,
    /// Intended time of the next open-loop request (`u64::MAX`: none).
    next_ns: u64,
    end_ns: u64,
    measure_from_ns: u64,
    budget: Option<u64>,
    measured: u64,
    rng: u64,
    /// Times the cursor wrapped around the steps.
    laps: u32,
}

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
    pub fn new(model: &LoadModel, steps: Steps, cfg: &ScheduleConfig) -> Schedule {
        let pace = match model {
            LoadModel::Closed => Pace::Closed,
            LoadModel::Rate { rate, arrival } => Pace::Rate {
                interval_ns: 1e9 / (rate * cfg.share),
                poisson: *arrival == Arrival::Poisson,
            },
            LoadModel::Stages { stages, arrival } => Pace::Stages {
                stages: stages.clone(),
                share: cfg.share,
                poisson: *arrival == Arrival::Poisson,
            },
            LoadModel::Replay { speed } => Pace::Replay {
                speed: *speed,
                base_ns: 0,
                timing: cfg.timing,
            },
        };
        let mut s = Schedule {
            pace,
            steps,
            cursor: 0,
            next_ns: 0,
            end_ns: cfg.end_ns,
            measure_from_ns: cfg.measure_from_ns,
            budget: cfg.budget,
            measured: 0,
            rng: cfg.seed | 1,
            laps: 0,
        };
        s.next_ns = s.first_time();
        s
    }

    fn first_time(&mut self) -> u64 {
        match &self.pace {
            Pace::Closed => 0,
            // Shards start at a random phase within one arrival, so they do not fire in step.
            Pace::Rate { interval_ns, .. } => {
                let mean = *interval_ns;
                (mean * self.uniform()) as u64
            }
            Pace::Stages { .. } => {
                let x = self.uniform();
                self.stages_reach(0, x)
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

    /// Requests to wait for before the next arrival: 1 (uniform) or an exponential draw.
    fn draw(&mut self, poisson: bool) -> f64 {
        if poisson {
            -self.uniform().max(1e-12).ln()
        } else {
            1.0
        }
    }

    /// The time after `t_ns` at which the stages' rate has integrated to `x` requests, or
    /// `u64::MAX` if the stages end first.
    fn stages_reach(&self, t_ns: u64, mut x: f64) -> u64 {
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

    fn replay_time(&self, cursor: usize) -> u64 {
        match &self.pace {
            Pace::Replay {
                speed,
                base_ns,
                timing,
            } => {
                let off = self.steps.offsets_us.get(cursor).copied().unwrap_or(0);
                let rel_us = off.saturating_sub(timing.first_us);
                base_ns.saturating_add((rel_us as f64 * 1000.0 / speed) as u64)
            }
            _ => 0,
        }
    }

    pub fn is_open(&self) -> bool {
        !matches!(self.pace, Pace::Closed)
    }

    /// The rate integrated over `[from_ns, to_ns)`: how many requests the stages (this shard's
    /// share) describe in that time.
    fn stages_area(&self, from_ns: u64, to_ns: u64) -> f64 {
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

    /// [`Schedule::skip_due`] for replay: whole periods of the plan at once, then step by step
    /// (at most one period's steps, and those of the period the warm-up ends in).
    fn skip_replay(&mut self, last: u64) -> u64 {
        let len = self.steps.requests.len() as u64;
        let mf = self.measure_from_ns;
        let mut measured = 0;
        while !self.finished(last) && self.next_ns <= last {
            let Pace::Replay {
                speed,
                base_ns,
                timing,
            } = &mut self.pace
            else {
                break;
            };
            let period = (timing.period_us as f64 * 1000.0 / *speed) as u64;
            if self.cursor == 0 && period > 0 {
                // Periods entirely before the warm-up ends (none measured), or entirely after.
                let before = self.next_ns < mf;
                let until = if before { mf - 1 } else { last }.min(last);
                let mut m = until.saturating_sub(self.next_ns) / period;
                if !before && let Some(b) = self.budget {
                    m = m.min(b.saturating_sub(self.measured) / len);
                }
                if m > 0 {
                    self.laps = self.laps.wrapping_add(m as u32);
                    *base_ns = base_ns.saturating_add(m * period);
                    self.next_ns = self.next_ns.saturating_add(m * period);
                    if !before {
                        measured += m.saturating_mul(len);
                        self.measured = self.measured.saturating_add(m.saturating_mul(len));
                    }
                    continue;
                }
            }
            match self.next(last) {
                Some(d) if d.measured => measured += 1,
                Some(_) => {}
                None => break,
            }
        }
        measured
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

    /// When a closed loop's sending time ends (`None`: open loop, or no time limit).
    pub fn closed_until(&self) -> Option<u64> {
        (matches!(self.pace, Pace::Closed) && self.end_ns != u64::MAX).then_some(self.end_ns)
    }

    /// When the next request is due, for an open loop (the driver waits no longer than that).
    pub fn next_due_at(&self) -> Option<u64> {
        (self.is_open() && !self.finished(0)).then_some(self.next_ns)
    }

    /// Would a request intended at `t` be measured (after warm-up)?
    pub fn is_measured(&self, t_ns: u64) -> bool {
        t_ns >= self.measure_from_ns
    }

    /// The next request if one is due at `now`.
    pub fn next(&mut self, now_ns: u64) -> Option<Due> {
        if self.finished(now_ns) {
            return None;
        }
        let intended = match self.pace {
            Pace::Closed => now_ns,
            _ if self.next_ns > now_ns => return None,
            _ => self.next_ns,
        };
        let at = self.cursor;
        let req = self.steps.requests[at];
        let session = self.steps.sessions.get(at).copied().unwrap_or(0);
        let flow = self.steps.flows.get(at).copied().unwrap_or(NO_FLOW);
        let edge = self.steps.edges.get(at).copied().unwrap_or_default();
        let lap = self.laps;
        self.cursor += 1;
        let wrapped = self.cursor == self.steps.requests.len();
        if wrapped {
            self.cursor = 0;
            self.laps = self.laps.wrapping_add(1);
        }
        self.next_ns = match &mut self.pace {
            Pace::Closed => 0,
            Pace::Replay {
                speed,
                base_ns,
                timing,
            } => {
                if wrapped {
                    *base_ns =
                        base_ns.saturating_add((timing.period_us as f64 * 1000.0 / *speed) as u64);
                }
                self.replay_time(self.cursor).max(intended)
            }
            Pace::Rate {
                interval_ns,
                poisson,
            } => {
                let (mean, poisson) = (*interval_ns, *poisson);
                let gap = mean * self.draw(poisson);
                intended.saturating_add((gap as u64).max(1))
            }
            Pace::Stages { poisson, .. } => {
                let poisson = *poisson;
                let x = self.draw(poisson);
                self.stages_reach(intended, x)
            }
        };
        let measured = self.is_measured(intended);
        if measured {
            self.measured += 1;
        }
        Some(Due {
            req,
            session,
            intended,
            measured,
            flow,
            edge,
            lap,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(
        share: f64,
        measure_from_ns: u64,
        end_ns: u64,
        budget: Option<u64>,
        seed: u64,
    ) -> ScheduleConfig {
        ScheduleConfig {
            share,
            measure_from_ns,
            end_ns,
            budget,
            seed,
            timing: PlanTiming::default(),
        }
    }

    fn steps(n: u32) -> Steps {
        Steps {
            requests: (0..n).collect::<Vec<_>>().into(),
            sessions: vec![0; n as usize].into(),
            offsets_us: (0..n as u64).map(|i| i * 1000).collect::<Vec<_>>().into(),
            ..Steps::default()
        }
    }

    fn drain(s: &mut Schedule, until_ns: u64, step_ns: u64) -> Vec<(u32, u64, bool)> {
        let mut out = vec![];
        let mut now = 0;
        while now <= until_ns {
            while let Some(d) = s.next(now) {
                out.push((d.req, d.intended, d.measured));
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

    #[test]
    fn replay_follows_offsets_divided_by_speed() {
        let model = LoadModel::Replay { speed: 2.0 };
        let st = steps(4);
        let c = ScheduleConfig {
            timing: PlanTiming::of(&st.offsets_us).unwrap(),
            ..cfg(1.0, 0, 10_000_000, None, 1)
        };
        let mut s = Schedule::new(&model, st, &c);
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
        let mut s = Schedule::new(
            &model,
            steps(1),
            &cfg(1.0, 100_000_000, u64::MAX, Some(50), 3),
        );
        let got = drain(&mut s, 1_000_000_000, 1_000_000);
        let measured = got.iter().filter(|g| g.2).count();
        assert_eq!(measured, 50);
        assert!(got.iter().filter(|g| !g.2).all(|g| g.1 < 100_000_000));
        let closed = LoadModel::Closed;
        let mut c = Schedule::new(&closed, steps(2), &cfg(1.0, 0, 10, Some(3), 3));
        assert_eq!(c.next(0).map(|x| x.req), Some(0));
        assert_eq!(c.next(1).map(|x| x.intended), Some(1));
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
        let model = LoadModel::Stages {
            stages: stages
                .iter()
                .map(|&(secs, level)| Stage {
                    duration: Duration::from_secs(secs),
                    level,
                })
                .collect(),
            arrival: Arrival::Uniform,
        };
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

    #[test]
    fn replay_shards_share_one_clock() {
        // Plan at 0, 1, 2, 3 s dealt to two shards: 0 and 2 s on one, 1 and 3 s on the other.
        let all: Vec<u64> = vec![0, 1_000_000, 2_000_000, 3_000_000];
        let timing = PlanTiming::of(&all).unwrap();
        assert_eq!(
            timing,
            PlanTiming {
                first_us: 0,
                period_us: 4_000_000
            }
        );
        let model = LoadModel::Replay { speed: 1.0 };
        let shard = |offs: Vec<u64>| {
            let st = Steps {
                requests: vec![0u32; offs.len()].into(),
                sessions: vec![0u32; offs.len()].into(),
                offsets_us: offs.into(),
                ..Steps::default()
            };
            let c = ScheduleConfig {
                timing,
                ..cfg(0.5, 0, 8_000_000_000, None, 1)
            };
            let mut s = Schedule::new(&model, st, &c);
            drain(&mut s, 8_000_000_000, 1_000_000)
                .iter()
                .map(|g| g.1 / 1_000_000)
                .collect::<Vec<_>>()
        };
        assert_eq!(shard(vec![0, 2_000_000]), vec![0, 2000, 4000, 6000]);
        assert_eq!(
            shard(vec![1_000_000, 3_000_000]),
            vec![1000, 3000, 5000, 7000]
        );
        assert_eq!(PlanTiming::of(&[5, 5, 5]), None, "no timing to replay");
    }

    /// Release everything due at `now` one by one: how many were measured.
    fn release_all(s: &mut Schedule, now: u64) -> u64 {
        let mut measured = 0;
        while let Some(d) = s.next(now) {
            measured += u64::from(d.measured);
        }
        measured
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
    fn skipping_replay_equals_releasing_it_one_by_one() {
        let st = steps(5);
        let timing = PlanTiming::of(&st.offsets_us).unwrap();
        for budget in [None, Some(23)] {
            let c = ScheduleConfig {
                timing,
                ..cfg(1.0, 7_000_000, 400_000_000, budget, 1)
            };
            let mut a = Schedule::new(&LoadModel::Replay { speed: 3.0 }, st.clone(), &c);
            let mut b = a.clone();
            for now in [0, 1_000_000, 6_999_999, 7_000_000, 95_000_000, 500_000_000] {
                assert_eq!(
                    a.skip_due(now),
                    release_all(&mut b, now),
                    "at {now} ({budget:?})"
                );
                assert_eq!(a.next_due_at(), b.next_due_at(), "at {now} ({budget:?})");
                assert_eq!((a.cursor, a.measured), (b.cursor, b.measured));
                assert_eq!(a.laps, b.laps, "at {now} ({budget:?})");
            }
        }
    }

    #[test]
    fn skipping_poisson_and_stages_skips_the_expected_count() {
        let mut p = Schedule::new(&rate(1e6, true), steps(3), &cfg(1.0, 0, u64::MAX, None, 7));
        let n = p.skip_due(1_000_000_000) as f64;
        assert!((n - 1e6).abs() < 10.0, "{n}");
        assert!(p.next_due_at().unwrap() > 1_000_000_000);
        // Ramp 0 -> 1000/s over 1 s, then 1000/s: 500 + 500 requests by 1.5 s.
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
            ],
            arrival: Arrival::Uniform,
        };
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

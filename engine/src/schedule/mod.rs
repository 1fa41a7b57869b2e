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
//!
//! [`Schedule::next`] releases one step at a time (the cursor goes round the shard's steps, a
//! lap at a time) and works out when the one after it is due; [`Schedule::skip_due`] passes over
//! what a full queue cannot take, as though each had been released.
//!
//! - `arrivals`: open-loop draws (random phase, Poisson gaps) and skipping overdue arrivals
//! - `stages`: the stages' rate integrated, and solved for when the next arrival is due
//! - `replay`: the plan's captured timing ([`PlanTiming`]), step times, whole periods skipped
//! - `fixtures` (tests only): the configs, steps and drains the child modules' tests share

mod arrivals;
#[cfg(test)]
mod fixtures;
mod replay;
mod stages;

use std::sync::Arc;

use crate::config::{Arrival, LoadModel, Stage};

pub use replay::PlanTiming;

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
    use fixtures::{cfg, drain, steps};

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
}

//! Plain run configuration, validated once (the CLI builds it from its arguments).

use std::net::SocketAddr;
use std::time::Duration;

use crate::EngineError;

/// The largest open-loop rate, requests per second in total (a `--rate`, a stage's level, the
/// mean rate of a replay): some hundred times what one machine sends over HTTP/1.1. Refusing
/// more keeps every interval and count in range (an arrival every 10 ns at the most).
pub const MAX_RATE: f64 = 1e8;
/// The longest run: warm-up plus sending time (or the stages' total). Also the default
/// `max_wall`, the hard cap on a run's wall time.
pub const MAX_RUN: Duration = Duration::from_secs(24 * 3600);
/// The longest timeout, drain, give-up time or lag limit.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// The longest spin before a due send (beyond that, spinning is just burning a core).
pub const MAX_SPIN: Duration = Duration::from_secs(1);
/// The largest request budget (`Stop::Requests`): three hours at `MAX_RATE`.
pub const MAX_REQUESTS: u64 = 1_000_000_000_000;
/// The most stages (each arrival looks through them).
pub const MAX_STAGES: usize = 1000;

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Resolved address to connect to.
    pub addr: SocketAddr,
    /// Value of the `Host` header written into every request.
    pub host_header: String,
}

/// When the run stops sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Send for this long (after warm-up).
    Duration(Duration),
    /// Send this many requests in total (after warm-up), then stop.
    Requests(u64),
}

/// How open-loop arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    #[default]
    Uniform,
    Poisson,
}

/// One stage of a ramp: for `duration`, move linearly from the previous stage's level to
/// `level` (requests/s in open loop, connections in closed loop).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub level: f64,
}

/// The load model: what decides when the next request is sent. One enum drives one loop.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum LoadModel {
    /// As fast as the target answers: every connection keeps `pipeline` requests in flight.
    #[default]
    Closed,
    /// Open loop at a total rate (requests/s) spread over executors.
    Rate { rate: f64, arrival: Arrival },
    /// The plan's captured offsets, divided by `speed` (2.0 = twice as fast).
    Replay { speed: f64 },
    /// Ramps of rate (open loop).
    Stages {
        stages: Vec<Stage>,
        arrival: Arrival,
    },
}

impl LoadModel {
    pub fn is_open(&self) -> bool {
        !matches!(self, LoadModel::Closed)
    }
}

/// Everything `run` needs besides the plan.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: Target,
    /// Total connections across executors.
    pub connections: usize,
    /// Requests in flight per connection (1 = keep-alive without pipelining).
    pub pipeline: usize,
    /// CPUs to run executors on, one executor each.
    pub cpus: Vec<usize>,
    pub stop: Stop,
    pub load: LoadModel,
    /// Traffic sent before measuring starts; excluded from results.
    pub warmup: Duration,
    /// Per-request timeout (a plan step's own timeout wins).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Stop the run when an executor could open no connection for this long (every attempt
    /// failing); `None` = keep retrying until the stop condition.
    pub give_up_after: Option<Duration>,
    /// After the stop, how long to wait for responses still in flight.
    pub drain: Duration,
    /// Open loop: requests that may wait for a free connection per executor before new ones are
    /// dropped (and the run marked invalid).
    pub queue_limit: usize,
    /// Open loop: a send later than this after its intended time marks the run invalid.
    pub max_lag: Duration,
    /// glommio's io_memory per executor, bytes.
    pub io_memory: usize,
    /// Hard cap on the whole run's wall time, whatever the stop condition (safety net).
    pub max_wall: Duration,
    /// Open loop: poll instead of sleeping for this long before each due send (timer precision
    /// against CPU).
    pub spin: Duration,
}

impl RunConfig {
    pub fn new(target: Target) -> Self {
        RunConfig {
            target,
            connections: 64,
            pipeline: 1,
            cpus: vec![0],
            stop: Stop::Duration(Duration::from_secs(10)),
            load: LoadModel::Closed,
            warmup: Duration::ZERO,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            give_up_after: Some(Duration::from_secs(10)),
            drain: Duration::from_secs(2),
            queue_limit: 100_000,
            max_lag: Duration::from_millis(100),
            io_memory: 256 << 10,
            max_wall: Duration::from_secs(24 * 3600),
            spin: Duration::from_micros(100),
        }
    }

    pub fn validate(&self) -> Result<(), EngineError> {
        let bad = |m: &str| Err(EngineError::Config(m.to_string()));
        let secs = |d: Duration| match d.as_secs() {
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s => format!("{s}s"),
        };
        if self.cpus.is_empty() {
            return bad("no CPU to run on");
        }
        if self.connections < self.cpus.len() {
            return bad("fewer connections than executor threads");
        }
        if self.pipeline == 0 || self.pipeline > 1024 {
            return bad("pipeline depth must be 1..=1024");
        }
        if self.connections > 100_000 {
            return bad("more than 100000 connections");
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("timeouts must be positive");
        }
        if self.give_up_after.is_some_and(|d| d.is_zero()) {
            return bad("give-up time must be positive (or none)");
        }
        let waits = [
            ("timeout", Some(self.timeout)),
            ("connect timeout", Some(self.connect_timeout)),
            ("give-up time", self.give_up_after),
            ("drain", Some(self.drain)),
            ("lag limit", Some(self.max_lag)),
        ];
        for (what, d) in waits {
            if d.is_some_and(|d| d > MAX_WAIT) {
                return bad(&format!("{what} longer than {}", secs(MAX_WAIT)));
            }
        }
        if self.spin > MAX_SPIN {
            return bad(&format!("spin longer than {}", secs(MAX_SPIN)));
        }
        if self.max_wall > MAX_RUN {
            return bad(&format!("wall-time cap longer than {}", secs(MAX_RUN)));
        }
        let sending = match self.stop {
            Stop::Duration(d) if d.is_zero() => return bad("duration must be positive"),
            Stop::Requests(0) => return bad("request count must be positive"),
            Stop::Requests(n) if n > MAX_REQUESTS => {
                return bad(&format!("request count {n}: at most {MAX_REQUESTS}"));
            }
            Stop::Duration(d) => d,
            Stop::Requests(_) => Duration::ZERO,
        };
        if self.warmup.checked_add(sending).is_none_or(|t| t > MAX_RUN) {
            return bad(&format!(
                "warm-up plus duration longer than {}",
                secs(MAX_RUN)
            ));
        }
        let rate_ok = |r: f64| r.is_finite() && r > 0.0 && r <= MAX_RATE;
        match &self.load {
            LoadModel::Rate { rate, .. } if !rate_ok(*rate) => {
                return bad(&format!(
                    "rate {rate}: between 0 (excluded) and {MAX_RATE} requests/s"
                ));
            }
            LoadModel::Replay { speed } if !(speed.is_finite() && *speed > 0.0) => {
                return bad("speed must be a positive number");
            }
            LoadModel::Stages { stages, .. } => {
                if stages.is_empty() || stages.len() > MAX_STAGES {
                    return bad(&format!("between 1 and {MAX_STAGES} stages"));
                }
                if let Some(s) = stages
                    .iter()
                    .find(|s| !(s.level.is_finite() && (0.0..=MAX_RATE).contains(&s.level)))
                {
                    return bad(&format!(
                        "stage level {}: between 0 and {MAX_RATE} requests/s",
                        s.level
                    ));
                }
                let total = stages
                    .iter()
                    .try_fold(Duration::ZERO, |t, s| t.checked_add(s.duration));
                if total.is_none_or(|t| t > MAX_RUN) {
                    return bad(&format!("stages longer than {} in total", secs(MAX_RUN)));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

//! Plain run configuration, validated once (the CLI builds it from its arguments).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
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
/// The longest spin (beyond that, spinning is just burning a core).
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
    /// `https://`: how to speak TLS to it.
    pub tls: Option<crate::tls::TlsOptions>,
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

/// How requests are spread over connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// `connections` long-lived connections, opened before the start; any request goes on any
    /// of them.
    #[default]
    Pool,
    /// Each captured connection of the plan (the steps of one session with one captured
    /// connection id) on a connection of its own: opened when its first step is due, carrying
    /// its steps in order, closed once its last step is answered. At most `connections` are
    /// open at once; a captured connection due while all are taken waits for one to close
    /// (counted in `Stats::conn_waits`). Needs the captured timing (`LoadModel::Replay`).
    Captured,
}

/// The most copies `--clone` makes of each session.
pub const MAX_CLONES: u32 = 1000;

/// `--clone N` / `--fresh-ids`: every session replayed `copies` times at once, copy `k`
/// starting `k * span / copies` after the session's own start (its span: first to last step),
/// each request with fresh `x-request-id`, `traceparent` and B3 ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cloning {
    /// 1..=[`MAX_CLONES`].
    pub copies: u32,
    /// Also give each copy of the plan its own item ids: UUIDs and id-like path segments are
    /// rewritten, the same captured id to the same new id within a copy.
    pub fresh_ids: bool,
    /// Seeds every fresh id (a run with another seed sends other ids).
    pub seed: u64,
}

/// Which requests an [`ExpectRule`] applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectScope {
    All,
    /// Requests of this label (`GET /api/v1/orders`).
    Label(String),
    /// Requests of this segment (`canary`).
    Segment(String),
}

/// `run --expect`: adds to or overrides the plan's expectations for a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectRule {
    pub scope: ExpectScope,
    /// Replaces the allowed statuses.
    pub status: Option<Vec<ringload_formats::StatusRule>>,
    /// Requires this header to have one of these values (replaces a rule on the same header).
    pub header: Option<(String, Vec<String>)>,
}

/// `run --users FILE`: accounts for the sessions' logins, one row per session in turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    /// Login body fields the columns fill (`username`, `password`).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Authentication and checks at replay: what the plan's auth profiles and expectations become.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// `-H 'Name: value'`: replaces or adds a header on every request.
    pub headers: Vec<(String, String)>,
    /// `--auth-token`: every auth slot gets this token; no login is sent.
    pub auth_token: Option<String>,
    pub users: Option<Users>,
    pub expect: Vec<ExpectRule>,
    /// `--split HEADER`: count responses per segment by this header's value.
    pub split: Vec<String>,
    /// What the hops' answers mean: `--origin-rule`, `--server-timing`.
    pub mesh: crate::mesh::MeshOptions,
}

/// Default open-loop precision window, microseconds (see `RunConfig::precision`; the CLI's
/// `--precision` default is the same): at 60,000 req/s here it keeps the send lag p99 under
/// 1 ms with CPU per request below wrk2's (500 us reached 1.25 ms).
pub const DEFAULT_PRECISION_US: u64 = 300;
/// Default `coalesce`, microseconds: long enough for a server's burst of answers to arrive
/// before the client wakes, short enough to be small against any latency worth measuring.
pub const DEFAULT_COALESCE_US: u64 = 25;

/// Everything `run` needs besides the plan.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: Target,
    /// Total connections across executors (with captured connections, the most open at once).
    pub connections: usize,
    pub shape: Shape,
    /// `--clone`/`--fresh-ids`; `None`: each session once, with its captured ids.
    pub cloning: Option<Cloning>,
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
    /// Poll instead of sleeping for this long: in the open loop before each due send (timer
    /// precision against CPU); in the closed loop while waiting for responses (a client that
    /// sleeps makes the server pay a wake-up for the responses that wake it, which lowers a
    /// saturated server's rate; polling spends the client's idle CPU instead).
    pub spin: Duration,
    /// Open loop: due sends wait until the earliest is this late, then go out together, so that
    /// sends close together share one wake-up of the client, and their responses one of the
    /// server (each costs tens of microseconds on a VM); the lag histogram shows it.
    pub precision: Duration,
    /// Closed loop, with many connections open or opening: sleep until half of them have had
    /// bytes from the server or this long has passed, so a burst of answers wakes the client once (each
    /// wake-up is paid by the server that sends the answer); an answer may be read up to this
    /// late, and its latency includes it. Zero wakes at each answer.
    pub coalesce: Duration,
    pub replay: Replay,
    /// Close each connection after this many requests (1: a new connection, and handshake,
    /// per request); `None`: keep connections open.
    pub requests_per_connection: Option<u32>,
    /// Local addresses to connect from, in turn (`--source-ip`): each address has its own
    /// ephemeral ports, so more of them allow more connections to one target address.
    pub source_addrs: Vec<std::net::IpAddr>,
    /// Set (by a signal handler) to end the run early: sending stops, what is in flight drains
    /// for `drain`, and the stats come back marked interrupted.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Where executors publish live figures for a progress line.
    pub live: Option<Arc<crate::live::Live>>,
    /// Start measuring at this wall-clock time (workers started apart begin together); the
    /// executors connect first, then wait for it.
    pub start_at: Option<std::time::SystemTime>,
}

impl RunConfig {
    pub fn new(target: Target) -> Self {
        RunConfig {
            target,
            connections: 64,
            shape: Shape::Pool,
            cloning: None,
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
            spin: Duration::ZERO,
            precision: Duration::from_micros(DEFAULT_PRECISION_US),
            coalesce: Duration::from_micros(DEFAULT_COALESCE_US),
            replay: Replay::default(),
            requests_per_connection: None,
            source_addrs: Vec::new(),
            interrupt: None,
            live: None,
            start_at: None,
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
        if self
            .source_addrs
            .iter()
            .any(|a| a.is_ipv4() != self.target.addr.is_ipv4())
        {
            return bad("source addresses must be of the target's family (IPv4 or IPv6)");
        }
        if self
            .live
            .as_ref()
            .is_some_and(|l| l.executors() != self.cpus.len())
        {
            return bad("live figures need one slot per executor");
        }
        if self.shape == Shape::Captured && !matches!(self.load, LoadModel::Replay { .. }) {
            return bad(
                "captured connections open at their captured times: they need the captured \
                 timing (a replay at some speed), not a rate, stages or the closed loop",
            );
        }
        if let Some(c) = &self.cloning
            && !(1..=MAX_CLONES).contains(&c.copies)
        {
            return bad(&format!("clone count {}: 1..={MAX_CLONES}", c.copies));
        }
        if self.requests_per_connection == Some(0) {
            return bad("requests per connection must be at least 1");
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
        if self.coalesce > MAX_SPIN {
            return bad(&format!("coalesce longer than {}", secs(MAX_SPIN)));
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

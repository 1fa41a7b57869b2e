//! How to load a target (shared by `run` and `compare`): the options as typed. They are
//! checked in `limits` and become the engine's `RunConfig` in `load_config`.

use std::time::Duration;

use clap::Args;

/// How to load a target: connections, threads, load model, stop, timeouts (shared by `run` and
/// `compare`).
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Connections in total, spread over the executor threads; or `captured[:MAX]`: each
    /// captured connection of the plan on its own connection, opened at its captured time
    /// (--speed, 1 by default), its requests in order, closed after its last answer, at most
    /// MAX (default 1000) open at once (the rest wait, counted).
    #[arg(short, long, default_value = "64", value_parser = parse_connections,
          value_name = "N|captured[:MAX]")]
    pub connections: Connections,
    /// Replay every session N times at once, copy k starting k/N of the session's span later,
    /// each request with fresh x-request-id, traceparent and B3 ids (1..=1000).
    #[arg(long, value_name = "N")]
    pub clone: Option<u32>,
    /// Give each copy of the plan its own item ids: UUIDs and id-like path segments (numbers,
    /// hex, SKU-100045) rewritten, the same captured id to the same new id within a copy.
    #[arg(long)]
    pub fresh_ids: bool,
    /// Seed of the fresh ids (`--clone`, `--fresh-ids`): the same seed sends the same ids, so a
    /// replay can be repeated exactly; by default the clock's.
    #[arg(long, value_name = "N")]
    pub id_seed: Option<u64>,
    /// Requests in flight per connection (1 = keep-alive without pipelining).
    #[arg(short, long, default_value_t = 1)]
    pub pipeline: usize,
    /// Executor threads, one per CPU (default: every CPU the process may use, at most one per
    /// connection); with fewer
    /// threads than CPUs, the highest-numbered CPUs are used.
    #[arg(short, long)]
    pub threads: Option<usize>,
    /// CPUs to run on, e.g. `1` or `0,2-3` (default: the process's affinity, as taskset sets).
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// How long to send (after warm-up), e.g. 30s, 2m.
    #[arg(short, long, value_parser = humantime::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Send this many requests (after warm-up), then stop.
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Open loop: requests per second in total.
    #[arg(long, conflicts_with_all = ["speed", "stages"])]
    pub rate: Option<f64>,
    /// Open-loop arrivals: uniform or poisson.
    #[arg(long, default_value = "uniform")]
    pub arrival: String,
    /// Replay the plan's captured timing, faster (2) or slower (0.5).
    #[arg(long, conflicts_with = "stages")]
    pub speed: Option<f64>,
    /// Ramps of rate, e.g. `30s:1000,60s:5000,30s:0` (open loop).
    #[arg(long, value_name = "DUR:RATE,...")]
    pub stages: Option<String>,
    /// Traffic sent before measuring starts, excluded from the results. With --stages the
    /// warm-up is the first part of the first stage (the stage clock starts with the run).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Per-request timeout.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub timeout: Duration,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub connect_timeout: Duration,
    /// Stop the run (exit 1, report kept) when no connection to the target could be opened for
    /// this long, every attempt failing; `never` keeps retrying until the run's end.
    #[arg(long, value_name = "DURATION|never", value_parser = parse_give_up, default_value = "10s")]
    pub give_up_after: GiveUp,
    /// After the stop, how long to wait for responses in flight.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub drain: Duration,
    /// Open loop: a p99 release lag (how late the schedule let requests go) beyond this makes
    /// the run invalid (exit 4).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "50ms")]
    pub max_lag: Duration,
    /// Poll rather than sleep this long: open loop, before each due send (timer precision for
    /// CPU); closed loop, while waiting for responses (a saturated server then pays no wake-up
    /// for the client: more requests/s from it, e.g. `--spin 50us` over TLS). Every microsecond
    /// polled is CPU spent.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0us")]
    pub spin: Duration,
    /// Open loop: due sends wait until the earliest is this late, then go out together in one
    /// wake-up (CPU for send-time precision; the lag histogram shows what it cost); 0 sends
    /// each when due.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "300us")]
    pub precision: Duration,
    /// Closed loop, 16 or more connections open or opening: sleep until half of them have had
    /// bytes from the server or this long has passed, so a burst of answers wakes ringload once (the server
    /// pays for each wake-up of a sleeping client: nginx over TLS served 1.05x the rate). An
    /// answer may be read up to this late, and its latency includes it; 0 wakes at each answer.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "25us")]
    pub coalesce: Duration,
    /// Send the plan's captured Host instead of the target's.
    #[arg(long)]
    pub keep_host: bool,
    /// glommio io_memory per executor (KiB).
    #[arg(long, default_value_t = 256, value_name = "KIB")]
    pub io_memory_kib: usize,
    /// Close each connection after this many requests (1: a new connection, and over https a
    /// new handshake, per request; `--no-tls-resume` makes every one a full handshake). The
    /// last request says `Connection: close`, so the server closes first and keeps the
    /// TIME_WAIT.
    #[arg(long, value_name = "N")]
    pub requests_per_connection: Option<u32>,
    #[command(flatten)]
    pub connect: crate::connect_args::ConnectArgs,
    /// Start measuring at this wall-clock time (RFC 3339, e.g. 2026-11-27T20:30:00Z), or
    /// `+30s` after $RINGLOAD_START_REF (an RFC 3339 time shared by all workers; without it,
    /// after now): workers started seconds apart begin together.
    #[arg(long, value_name = "TIME|+DURATION")]
    pub start_at: Option<String>,
    /// No progress line (by default: every second on a terminal, every 10 s elsewhere).
    #[arg(short, long)]
    pub quiet: bool,
}

/// `-c/--connections`: a pool of N, or the plan's captured connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    Count(usize),
    /// At most `max_open` open at once.
    Captured {
        max_open: usize,
    },
}

/// Captured connections open at once unless `captured:MAX` says otherwise.
pub const DEFAULT_CAPTURED_MAX_OPEN: usize = 1000;

pub fn parse_connections(s: &str) -> Result<Connections, String> {
    let number = |n: &str| {
        n.trim()
            .parse::<usize>()
            .map_err(|_| format!("{n:?} is not a number (N, captured or captured:MAX)"))
    };
    match s.split_once(':') {
        Some(("captured", max)) => Ok(Connections::Captured {
            max_open: number(max)?,
        }),
        None if s == "captured" => Ok(Connections::Captured {
            max_open: DEFAULT_CAPTURED_MAX_OPEN,
        }),
        _ => number(s).map(Connections::Count),
    }
}

impl Connections {
    /// Connections in total, or open at once.
    pub fn count(self) -> usize {
        match self {
            Connections::Count(n) | Connections::Captured { max_open: n } => n,
        }
    }
}

/// `--give-up-after`: a duration, or `never`.
#[derive(Debug, Clone, Copy)]
pub struct GiveUp(pub Option<Duration>);

pub fn parse_give_up(s: &str) -> Result<GiveUp, String> {
    if s.eq_ignore_ascii_case("never") {
        return Ok(GiveUp(None));
    }
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be positive (or `never`)".into()),
        Ok(d) => Ok(GiveUp(Some(d))),
        Err(e) => Err(format!("{e} (a duration like 10s, or `never`)")),
    }
}

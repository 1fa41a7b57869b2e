//! How to load a target (shared by `run` and `compare`): the options, and the engine's
//! `RunConfig` built from them once, validated.

use std::time::Duration;

use clap::Args;
use ringload_engine::{Arrival, LoadModel, MAX_RATE, MAX_RUN, RunConfig, Stop};

use crate::error::CliError;
use crate::limits::{
    GiveUp, human, number, parse_cpus, parse_give_up, parse_stages, parse_start_at,
};

/// How to load a target: connections, threads, load model, stop, timeouts (shared by `run` and
/// `compare`).
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Connections in total, spread over the executor threads.
    #[arg(short, long, default_value_t = 64)]
    pub connections: usize,
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
    /// Open loop: poll rather than sleep this long before each due send (timer precision for
    /// CPU: every microsecond polled is spent).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0us")]
    pub spin: Duration,
    /// Open loop: a due send may go out this much late so that sends close together share one
    /// wake-up (CPU for send-time precision; the lag histogram shows what it cost); 0 wakes for
    /// every send.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500us")]
    pub precision: Duration,
    /// Send the plan's captured Host instead of the target's.
    #[arg(long)]
    pub keep_host: bool,
    /// glommio io_memory per executor (KiB).
    #[arg(long, default_value_t = 256, value_name = "KIB")]
    pub io_memory_kib: usize,
    /// Close each connection after this many requests (1: a new connection, and over https a
    /// new handshake, per request; `--no-tls-resume` makes every one a full handshake).
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

impl LoadArgs {
    /// The engine's config for `target_url` (given to `flag`, e.g. `--target`) and the plan
    /// read from `plan_file` (its captured host serves `--keep-host`, its timing `--speed`).
    pub fn config(
        &self,
        flag: &str,
        target_url: &str,
        plan_file: &std::path::Path,
        plan: &ringload_formats::Plan,
    ) -> Result<RunConfig, CliError> {
        self.config_with(&self.connect, flag, target_url, plan_file, plan)
    }

    /// The same with other connection options (`compare` gives each side its own: TLS
    /// options serve the https side).
    pub fn config_with(
        &self,
        connect: &crate::connect_args::ConnectArgs,
        flag: &str,
        target_url: &str,
        plan_file: &std::path::Path,
        plan: &ringload_formats::Plan,
    ) -> Result<RunConfig, CliError> {
        crate::limits::check_ranges(self)?;
        let mut target = connect.target(target_url, flag)?;
        if self.keep_host {
            target.host_header = plan
                .meta
                .authority
                .as_deref()
                .ok_or_else(|| {
                    CliError::BadInput("--keep-host: the plan has no single captured host".into())
                })?
                .to_string();
        }
        let allowed = crate::host::allowed_cpus();
        let mut cpus = match &self.cpus {
            Some(list) => {
                let cpus = parse_cpus(list)?;
                if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
                    return Err(CliError::BadInput(format!(
                        "--cpus: CPU {c} is not available to this process (allowed: {allowed:?})"
                    )));
                }
                cpus
            }
            None => allowed,
        };
        if let Some(t) = self.threads {
            if t == 0 || t > cpus.len() {
                return Err(CliError::BadInput(format!(
                    "--threads {t}: between 1 and the {} CPUs available ({cpus:?})",
                    cpus.len()
                )));
            }
            // Take the highest-numbered CPUs: CPU 0 usually takes more interrupts and
            // housekeeping, which shows as late wake-ups in open-loop timing.
            cpus.drain(..cpus.len() - t);
        }
        let threads = cpus.len();
        if self.connections < threads {
            if self.threads.is_some() {
                return Err(CliError::BadInput(format!(
                    "--connections {} is fewer than the {threads} executor threads",
                    self.connections
                )));
            }
            // By default, no more executors than connections.
            cpus.drain(..threads - self.connections.max(1));
        }
        let arrival = match self.arrival.as_str() {
            "uniform" => Arrival::Uniform,
            "poisson" => Arrival::Poisson,
            a => {
                return Err(CliError::BadInput(format!(
                    "--arrival {a:?}: uniform or poisson"
                )));
            }
        };
        let load = match (self.rate, self.speed, &self.stages) {
            (Some(rate), _, _) => LoadModel::Rate { rate, arrival },
            (_, Some(speed), _) => {
                let rate = ringload_engine::replay_rate(plan, speed).ok_or_else(|| {
                    CliError::BadInput(format!(
                        "{}: the plan has no captured timing to replay (every step at the same \
                         offset): use --rate or the closed loop",
                        plan_file.display()
                    ))
                })?;
                if rate > MAX_RATE {
                    return Err(CliError::BadInput(format!(
                        "--speed {}: the plan would be sent at {} requests/s on average, \
                         more than {} (choose a speed of at most {})",
                        number(speed),
                        number(rate.round()),
                        number(MAX_RATE),
                        number(speed * MAX_RATE / rate)
                    )));
                }
                LoadModel::Replay { speed }
            }
            (_, _, Some(s)) => LoadModel::Stages {
                stages: parse_stages(s)?,
                arrival,
            },
            _ => LoadModel::Closed,
        };
        let stop = match (self.duration, self.requests) {
            (_, Some(n)) => Stop::Requests(n),
            (Some(d), None) => Stop::Duration(d),
            (None, None) => match &load {
                LoadModel::Stages { stages, .. } => {
                    Stop::Duration(stages.iter().map(|s| s.duration).sum())
                }
                _ => Stop::Duration(Duration::from_secs(10)),
            },
        };
        if let Stop::Duration(d) = stop
            && d + self.warmup > MAX_RUN
        {
            return Err(CliError::BadInput(format!(
                "--warmup {} plus {} of sending: at most {} together",
                human(self.warmup),
                human(d),
                human(MAX_RUN)
            )));
        }
        let cfg = RunConfig {
            connections: self.connections,
            pipeline: self.pipeline,
            cpus,
            stop,
            load,
            warmup: self.warmup,
            timeout: self.timeout,
            connect_timeout: self.connect_timeout,
            give_up_after: self.give_up_after.0,
            drain: self.drain,
            max_lag: self.max_lag,
            io_memory: self.io_memory_kib << 10,
            spin: self.spin,
            precision: self.precision,
            requests_per_connection: self.requests_per_connection,
            source_addrs: match &connect.source_ip {
                Some(spec) => crate::connect_args::parse_sources(spec)?,
                None => Vec::new(),
            },
            start_at: match &self.start_at {
                Some(s) => Some(parse_start_at(
                    s,
                    std::env::var("RINGLOAD_START_REF").ok().as_deref(),
                )?),
                None => None,
            },
            ..RunConfig::new(target)
        };
        cfg.validate()
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        Ok(cfg)
    }
}

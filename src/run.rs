//! `ringload run`: arguments -> a validated `RunConfig` -> the engine -> a report.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ringload_engine::{Arrival, LoadModel, RunConfig, Stage, Stop};

use crate::error::{CliError, EXIT_INVALID_RUN, EXIT_OK, EXIT_THRESHOLD};
use crate::gate::Gate;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plan file to replay.
    pub plan: PathBuf,
    /// Target base URL, e.g. http://127.0.0.1:8080 (requests keep their plan paths).
    #[arg(long, value_name = "URL")]
    pub target: String,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub replay: crate::replay::ReplayArgs,
    /// Fail the run (exit 3) when a condition holds, e.g. `p99>250ms`, `error-rate>1%`,
    /// `rps<1000`; repeatable.
    #[arg(long = "fail-on", value_name = "GATE")]
    pub fail_on: Vec<String>,
    /// Write the full result (JSON with whole histograms) here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write an HTML report (self-contained, charts inline) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Replay only shard K of N (0-based) of the plan's sessions: every N-th session from the
    /// K-th, for one of N workers (merge their results with `ringload merge`). Load options are
    /// this worker's own (give each `--rate TOTAL/N`).
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

/// Keep shard `k` of `n` of the plan's sessions (every n-th from the k-th).
pub fn shard_plan(plan: &mut ringload_formats::Plan, spec: &str) -> Result<(), CliError> {
    let bad = |why: &str| CliError::BadInput(format!("--shard {spec:?}: {why}"));
    let (k, n) = spec
        .split_once('/')
        .ok_or_else(|| bad("expected K/N, e.g. 0/4"))?;
    let (k, n): (usize, usize) = (
        k.trim().parse().map_err(|_| bad("K is not a number"))?,
        n.trim().parse().map_err(|_| bad("N is not a number"))?,
    );
    if n == 0 || k >= n {
        return Err(bad("needs 0 <= K < N"));
    }
    let total = plan.sessions.len();
    plan.sessions = std::mem::take(&mut plan.sessions)
        .into_iter()
        .skip(k)
        .step_by(n)
        .collect();
    if plan.sessions.is_empty() {
        return Err(bad(&format!(
            "the plan has {total} sessions: shard {k} of {n} gets none"
        )));
    }
    Ok(())
}

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
    /// Executor threads, one per CPU (default: every CPU the process may use); with fewer
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
    /// Open loop: poll rather than sleep this long before each due send (precision vs CPU).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "100us")]
    pub spin: Duration,
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
}

/// Parse `0,2-3` into CPU numbers.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, CliError> {
    let bad = || CliError::BadInput(format!("--cpus {s:?}: expected e.g. 1 or 0,2-3"));
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b > 4095 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Parse `30s:1000,60s:5000`.
pub fn parse_stages(s: &str) -> Result<Vec<Stage>, CliError> {
    s.split(',')
        .map(|part| {
            let bad = || CliError::BadInput(format!("--stages: {part:?} is not DURATION:RATE"));
            let (d, l) = part.trim().split_once(':').ok_or_else(bad)?;
            Ok(Stage {
                duration: humantime::parse_duration(d.trim()).map_err(|_| bad())?,
                level: l.trim().parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

impl LoadArgs {
    /// The engine's config for `target_url`; `plan_authority` serves `--keep-host`.
    pub fn config(
        &self,
        target_url: &str,
        flag: &str,
        plan_authority: Option<&str>,
    ) -> Result<RunConfig, CliError> {
        self.config_with(&self.connect, target_url, flag, plan_authority)
    }

    /// The same with other connection options (`compare` gives each side its own).
    pub fn config_with(
        &self,
        connect: &crate::connect_args::ConnectArgs,
        target_url: &str,
        flag: &str,
        plan_authority: Option<&str>,
    ) -> Result<RunConfig, CliError> {
        let mut target = connect.target(target_url, flag)?;
        if self.keep_host {
            target.host_header = plan_authority
                .ok_or_else(|| {
                    CliError::BadInput("--keep-host: the plan has no single captured host".into())
                })?
                .to_string();
        }
        let allowed = ringload_engine::allowed_cpus();
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
            return Err(CliError::BadInput(format!(
                "--connections {} is fewer than the {threads} executor threads",
                self.connections
            )));
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
            (_, Some(speed), _) => LoadModel::Replay { speed },
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
        if !(64..=1 << 20).contains(&self.io_memory_kib) {
            return Err(CliError::BadInput(format!(
                "--io-memory-kib {}: between 64 and 1048576",
                self.io_memory_kib
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
            requests_per_connection: self.requests_per_connection,
            ..RunConfig::new(target)
        };
        cfg.validate()
            .map_err(|e| CliError::BadInput(e.to_string()))?;
        Ok(cfg)
    }
}

/// Write a run's result as JSON and/or HTML where asked.
pub fn write_report(
    report: &crate::report::Report,
    json: Option<&std::path::Path>,
    html: Option<&std::path::Path>,
) -> Result<(), CliError> {
    if let Some(out) = json {
        let text =
            serde_json::to_vec_pretty(report).map_err(|e| CliError::Runtime(e.to_string()))?;
        write_file(out, &text)?;
    }
    if let Some(out) = html {
        write_file(out, crate::html::run_page(report).as_bytes())?;
    }
    Ok(())
}

/// Write a result file; a failure names the file.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes).map_err(|e| CliError::Runtime(format!("{}: {e}", path.display())))
}

/// Run the engine, its errors mapped to exit codes (bad configuration: 2, the rest: 1).
pub fn engine_run(
    plan: &ringload_formats::Plan,
    cfg: &RunConfig,
) -> Result<ringload_engine::Stats, CliError> {
    ringload_engine::run(plan, cfg).map_err(|e| match e {
        ringload_engine::EngineError::Config(m) => CliError::BadInput(m),
        e => CliError::Runtime(e.to_string()),
    })
}

/// A run that never reached `target`, or gave up on it, is a runtime failure (exit 1) naming
/// the last connection error; its report has been printed already.
pub fn check_connected(
    stats: &ringload_engine::Stats,
    target: &str,
    cfg: &RunConfig,
) -> Result<(), CliError> {
    // Connections refused in TLS count as failed attempts too, with the first reason given.
    let last_error = match (stats.tls_errors, stats.last_connect_error) {
        (0, Some(e)) => format!(", last: {}", std::io::Error::from_raw_os_error(e)),
        (0, None) => String::new(),
        (n, _) => format!(
            ", {n} in TLS: {}",
            stats.tls_reasons.first().map_or("", String::as_str)
        ),
    };
    let attempts = stats.connect_errors + stats.tls_errors;
    if stats.gave_up {
        let after = cfg.give_up_after.unwrap_or_default();
        return Err(CliError::Runtime(format!(
            "stopped: no connection to {target} could be opened for {} ({attempts} attempts failed{last_error}); \
             --give-up-after sets how long to keep trying",
            humantime::format_duration(after),
        )));
    }
    if stats.connects == 0 {
        return Err(CliError::Runtime(format!(
            "no connection to {target} could be opened ({attempts} attempts failed{last_error}): is the target up?",
        )));
    }
    Ok(())
}

/// `ringload run`: replay, print the table, write the JSON; exit 4 when the run is invalid.
pub fn execute(args: &RunArgs) -> Result<u8, CliError> {
    let gates: Vec<Gate> = args
        .fail_on
        .iter()
        .map(|g| g.parse())
        .collect::<Result<_, _>>()?;
    let mut plan = crate::plan_io::load(&args.plan)?;
    if let Some(spec) = &args.shard {
        shard_plan(&mut plan, spec)?;
    }
    let mut cfg = args
        .load
        .config(&args.target, "--target", plan.meta.authority.as_deref())?;
    cfg.replay = args.replay.replay(&plan, &args.plan)?;
    let started = std::time::SystemTime::now() + cfg.warmup;
    let stats = engine_run(&plan, &cfg)?;
    let validity = ringload_engine::check_validity(&stats, &cfg);
    let mut report = crate::report::build(
        &stats,
        &cfg,
        &crate::report::Names::of(&plan),
        &args.plan.display().to_string(),
        &args.target,
        &validity,
    );
    report.run.started_at_unix_ms = started
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64);
    crate::out::emit(&crate::report::render_text(&report))?;
    write_report(&report, args.output.as_deref(), args.html.as_deref())?;
    check_connected(&stats, &args.target, &cfg)?;
    if validity.is_err() {
        return Ok(EXIT_INVALID_RUN);
    }
    let mut failed = false;
    for g in &gates {
        let (measured, fails) = g.check(&report);
        if fails {
            crate::out::emit(&format!("THRESHOLD FAILED: {}\n", g.describe(measured)))?;
            failed = true;
        }
    }
    Ok(if failed { EXIT_THRESHOLD } else { EXIT_OK })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_stages_and_targets() {
        assert_eq!(parse_cpus("0,2-3,2").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpus("3-1").is_err());
        assert!(parse_cpus("x").is_err());
        let s = parse_stages("30s:1000, 1m:0").unwrap();
        assert_eq!(s[1].duration, Duration::from_secs(60));
        assert!(parse_stages("30s").is_err());
    }
}

/// `--give-up-after`: a duration, or `never`.
#[derive(Debug, Clone, Copy)]
pub struct GiveUp(pub Option<Duration>);

fn parse_give_up(s: &str) -> Result<GiveUp, String> {
    if s.eq_ignore_ascii_case("never") {
        return Ok(GiveUp(None));
    }
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be positive (or `never`)".into()),
        Ok(d) => Ok(GiveUp(Some(d))),
        Err(e) => Err(format!("{e} (a duration like 10s, or `never`)")),
    }
}

//! `ringload run`: a plan file (or URLs on the command line, quick mode) -> a validated
//! `RunConfig` -> the engine -> a result, printed, written and gated.

use std::path::PathBuf;

use clap::Args;
use ringload_formats::Plan;
use ringload_recorder::source::urls::{QuickRequests, capture};
use ringload_results::{Gate, Names};

use crate::error::{CliError, EXIT_INVALID_RUN};
use crate::launch::{check_connected, engine_run, extent};
use crate::load_args::LoadArgs;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A plan file (`ringload record`), replayed against --target; or one or more URLs of one
    /// server, requested in turn (quick mode: `ringload run http://host:8080/ok -c 64 -d 30s`).
    #[arg(required = true, value_name = "PLAN|URL")]
    pub what: Vec<String>,
    /// Target base URL for a plan, e.g. http://127.0.0.1:8080 (requests keep their plan paths).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
    /// Quick mode: the request method (default GET, or POST with --body).
    #[arg(short, long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Quick mode: the request body, as text or `@FILE`.
    #[arg(long, value_name = "TEXT|@FILE")]
    pub body: Option<String>,
    /// Quick mode: the body's Content-Type.
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub replay: crate::replay::ReplayArgs,
    /// Fail the run (exit 3) when a condition holds: `p99>250ms`, `error-rate>1%`, `rps<1000`,
    /// scoped to a label or segment: `label=POST /api/v1/checkout:p95>400ms`,
    /// `segment=canary:error-rate>0.5%`; repeatable. Every gate is printed with its measured
    /// value.
    #[arg(long = "fail-on", value_name = "GATE")]
    pub fail_on: Vec<String>,
    /// Write the full result (JSON with whole histograms) here; `ringload report` re-renders it.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write an HTML report (self-contained, charts inline) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Replay only worker K's part of N (0-based) of the plan's sessions: every N-th session
    /// from the K-th (merge the workers' results with `ringload merge`). Load options are this
    /// worker's own (give each `--rate TOTAL/N`).
    #[arg(long, value_name = "K/N", alias = "shard")]
    pub worker: Option<String>,
}

/// Keep worker `k`'s part of `n` of the plan's sessions (every n-th from the k-th).
pub fn worker_part(plan: &mut Plan, spec: &str) -> Result<(), CliError> {
    let bad = |why: &str| CliError::BadInput(format!("--worker {spec:?}: {why}"));
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
            "the plan has {total} sessions: worker {k} of {n} gets none"
        )));
    }
    Ok(())
}

/// What `run` replays: the plan, its name in messages and reports, and the target.
struct Source {
    plan: Plan,
    /// SHA-256 of the plan file (none in quick mode).
    sha256: Option<String>,
    /// The plan file, or `command line` in quick mode (errors name it).
    file: PathBuf,
    name: String,
    target: String,
}

fn is_url(s: &str) -> bool {
    s.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    })
}

/// The plan file and --target, or quick mode's one-session plan built from the URLs.
fn source(args: &RunArgs) -> Result<Source, CliError> {
    let quick = args.method.is_some() || args.body.is_some() || args.content_type.is_some();
    if !is_url(&args.what[0]) {
        if args.what.len() > 1 {
            return Err(CliError::BadInput(format!(
                "one plan file at a time ({:?} given); URLs need http:// or https://",
                args.what
            )));
        }
        if quick {
            return Err(CliError::BadInput(
                "--method, --body and --content-type are for URLs (quick mode); a plan holds its \
                 own requests (-H adds headers to them)"
                    .into(),
            ));
        }
        let file = PathBuf::from(&args.what[0]);
        let target = args.target.clone().ok_or_else(|| {
            CliError::BadInput(format!(
                "{}: a plan needs --target URL (the server to replay it against)",
                file.display()
            ))
        })?;
        let (plan, sha256) = crate::plan_io::load(&file)?;
        return Ok(Source {
            plan,
            sha256: Some(sha256),
            name: file.display().to_string(),
            file,
            target,
        });
    }
    if let Some(p) = args.what.iter().find(|w| !is_url(w)) {
        return Err(CliError::BadInput(format!(
            "{p:?}: quick mode takes URLs only (a plan file is run on its own)"
        )));
    }
    if args.target.is_some() {
        return Err(CliError::BadInput(
            "--target is for plan files; quick mode's URLs name their server".into(),
        ));
    }
    let q = QuickRequests {
        urls: args.what.clone(),
        method: args.method.clone().unwrap_or_default(),
        body: args.body.clone(),
        content_type: args.content_type.clone(),
    };
    let (cap, target) = capture(&q)?;
    let opts = ringload_recorder::Options {
        auth: ringload_recorder::AuthOptions {
            mode: ringload_recorder::AuthMode::Keep,
            ..Default::default()
        },
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        ..Default::default()
    };
    let (plan, _) = ringload_recorder::normalise(vec![cap], &opts)?;
    // The result names the plan by its first URL, secrets masked (as in its provenance).
    let first = crate::provenance::mask_url(&args.what[0]);
    let name = match args.what.len() {
        1 => first,
        n => format!("{first} (+{} URLs)", n - 1),
    };
    Ok(Source {
        plan,
        sha256: None,
        file: PathBuf::from("command line"),
        name,
        target,
    })
}

/// `ringload run`: replay, print the table, write the outputs; exit 4 when the run is invalid,
/// 3 when a gate failed.
pub fn execute(args: &RunArgs) -> Result<u8, CliError> {
    crate::out::check_outputs([
        ("--output", args.output.as_deref()),
        ("--html", args.html.as_deref()),
    ])?;
    let gates = Gate::for_results(&args.fail_on)?;
    let Source {
        mut plan,
        sha256,
        file,
        name,
        target,
    } = source(args)?;
    if let Some(spec) = &args.worker {
        worker_part(&mut plan, spec)?;
    }
    let mut cfg = args.load.config("--target", &target, &file, &plan)?;
    cfg.replay = args.replay.replay(&plan, &file)?;
    let interrupt = crate::lifecycle::Interrupt::install()?;
    cfg.interrupt = Some(interrupt.flag());
    let live = std::sync::Arc::new(ringload_engine::live::Live::new(cfg.cpus.len()));
    cfg.live = Some(live.clone());
    let progress =
        crate::lifecycle::ProgressLine::start(live, extent(&cfg), "run".into(), args.load.quiet);
    let started = cfg.start_at.unwrap_or_else(std::time::SystemTime::now) + cfg.warmup;
    let stats = engine_run(&plan, &file, &cfg);
    drop(progress);
    let stats = stats?;
    let validity = ringload_engine::check_validity(&stats, &cfg);
    let mut report =
        ringload_results::build(&stats, &cfg, &Names::of(&plan), &name, &target, &validity);
    report.run.started_at_unix_ms = started
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64);
    report.provenance = vec![crate::provenance::of(
        &plan,
        sha256.as_deref(),
        &target,
        report.run.started_at_unix_ms,
    )];
    crate::out::emit(&ringload_results::render::text::render_text(&report))?;
    crate::out::write_result(&report, args.output.as_deref(), args.html.as_deref())?;
    if let Some(code) = interrupt.exit_code() {
        return Ok(code);
    }
    check_connected(&stats, &target, &cfg)?;
    if validity.is_err() {
        return Ok(EXIT_INVALID_RUN);
    }
    let verdicts: Vec<_> = gates.iter().map(|g| g.check(&report)).collect();
    crate::out::gates_exit(&verdicts)
}

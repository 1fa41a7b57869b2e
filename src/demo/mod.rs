//! `ringload demo`: the whole job on one machine with nothing installed, in seven steps that each
//! say what they show: the built-in shop target (logins with short-lived tokens, a canary for
//! beta testers and 10% of the rest, 503s and delays on inventory reservations); the guide's four
//! scenarios played once by a scripted client through the recording proxy, and what the recorder
//! made of them (labels, segments, the auth profile); the plan replayed in closed loop at the
//! maximum rate, then in open loop at a fixed rate with canary checks and the version split; a
//! comparison direct vs through the sidecar stand-in (`ringload proxy`); an HTML report; and the
//! clean-up of everything it started. `--quick` (~10 s) is what CI runs; the full demo takes
//! about 45 s on 2 cores. Everything listens on loopback ports the system picks.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use ringload_recorder::{Options, SegmentRule};

use crate::error::{CliError, EXIT_INVALID_RUN, EXIT_OK};

mod replays;

const STEPS: usize = 7;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A ~10 s version (shorter runs, same steps): what CI runs.
    #[arg(long)]
    pub quick: bool,
    /// Where demo-report.html and the recorded demo.plan are written.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
    /// Open-loop rate of step 4, requests per second (default 800; 400 with --quick).
    #[arg(long)]
    pub rate: Option<f64>,
    /// How long the open loop of step 4 runs (default 8s; 2s with --quick).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// What the sidecar stand-in of step 5 adds to every request.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "200us", value_name = "D")]
    pub add_latency: Duration,
    /// Also write step 4's result (JSON) here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write the HTML report here instead of OUT_DIR/demo-report.html.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// How long each part runs.
pub(crate) struct Pace {
    token_ttl: Duration,
    closed: Duration,
    open: Duration,
    rate: f64,
    round: Duration,
    rounds: u32,
    compare_rate: f64,
}

impl Pace {
    fn of(args: &DemoArgs) -> Pace {
        let (token_ttl, closed, open, rate, round) = if args.quick {
            (2, 1500, 2000, 400.0, 400)
        } else {
            (4, 5000, 8000, 800.0, 2000)
        };
        Pace {
            token_ttl: Duration::from_secs(token_ttl),
            closed: Duration::from_millis(closed),
            open: args.duration.unwrap_or(Duration::from_millis(open)),
            rate: args.rate.unwrap_or(rate),
            round: Duration::from_millis(round),
            rounds: 6,
            compare_rate: 400.0,
        }
    }
}

fn step(n: usize, what: &str) -> Result<(), CliError> {
    crate::out::emit(&format!("\ndemo [{n}/{STEPS}] {what}\n"))
}

fn runtime(what: &str) -> impl Fn(String) -> CliError + '_ {
    move |e| CliError::Runtime(format!("demo: {what}: {e}"))
}

pub fn demo(args: &DemoArgs) -> Result<u8, CliError> {
    if args
        .duration
        .is_some_and(|d| d.is_zero() || d > ringload_engine::MAX_RUN)
    {
        return Err(CliError::BadInput(format!(
            "--duration {}: between 1s and {}",
            humantime::format_duration(args.duration.unwrap_or_default()),
            humantime::format_duration(ringload_engine::MAX_RUN)
        )));
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0 && rate <= ringload_engine::MAX_RATE)
    {
        return Err(CliError::BadInput(format!(
            "--rate {rate}: between 0 (excluded) and {} requests/s",
            ringload_engine::MAX_RATE
        )));
    }
    if args.add_latency > ringload_proxy::MAX_ADDED_LATENCY {
        return Err(CliError::BadInput(format!(
            "--add-latency {}: at most 10s",
            humantime::format_duration(args.add_latency)
        )));
    }
    let pace = Pace::of(args);
    let html = args
        .html
        .clone()
        .unwrap_or_else(|| args.out_dir.join("demo-report.html"));
    let plan_path = args.out_dir.join("demo.plan");
    crate::out::check_outputs([
        ("--output", args.output.as_deref()),
        ("--html", Some(html.as_path())),
        ("--out-dir", Some(plan_path.as_path())),
    ])?;
    let interrupt = crate::lifecycle::Interrupt::install()?;
    let started = Instant::now();

    // 1. The target.
    let target = ringload_target::spawn(ringload_target::TargetConfig {
        threads: 1,
        shop: Some(ringload_target::ShopConfig {
            token_ttl: pace.token_ttl,
            canary_weight_ppm: 100_000,
            ..ringload_target::ShopConfig::default()
        }),
        ..ringload_target::TargetConfig::default()
    })
    .map_err(|e| runtime("target")(e.to_string()))?;
    let taddr = target.local_addr();
    step(
        1,
        &format!(
            "target: the built-in shop on http://{taddr}: logins minting {}s tokens, beta testers \
             (and 10% of the others) routed to canary-v2, 503s and delays on inventory \
             reservations; shows a service with the guide's behaviours and nothing to install",
            pace.token_ttl.as_secs()
        ),
    )?;

    // 2. Record the scenarios through the recording proxy.
    let recorder = ringload_proxy::spawn(ringload_proxy::ProxyConfig {
        upstream: taddr,
        record: Some(ringload_proxy::RecordConfig::default()),
        description: "ringload demo: the guide's scenarios through the recording proxy".into(),
        ..ringload_proxy::ProxyConfig::default()
    })
    .map_err(|e| runtime("recording proxy")(e.to_string()))?;
    step(
        2,
        &format!(
            "record: a scripted client plays the guide's four scenarios (browse, authenticated \
             shopper, canary, resilience) once through the recording proxy http://{} -> \
             http://{taddr}; shows live traffic becoming a plan (labels, segments, the login as \
             an auth profile)",
            recorder.local_addr()
        ),
    )?;
    let played = ringload_target::shopper::play(recorder.local_addr())
        .map_err(runtime("scripted client"))?;
    let stopped = recorder
        .stop()
        .map_err(|e| runtime("recording proxy")(e.to_string()))?;
    let capture = stopped
        .capture
        .ok_or_else(|| runtime("recording proxy")("no recording".into()))?;
    crate::out::emit(&format!(
        "client: {}\nproxy: {} exchanges recorded; {}\n",
        played.line(),
        capture.exchanges.len(),
        crate::proxy::counters(&stopped.stats)
    ))?;
    let opts = Options {
        segments: vec![SegmentRule {
            name: "canary".into(),
            header: "x-user-segment".into(),
            value: "beta-testers".into(),
        }],
        default_segment: Some("stable".into()),
        expect_headers: vec!["x-upstream-version".into()],
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        tags: vec![("source".into(), "ringload demo".into())],
        ..Options::default()
    };
    let (plan, summary) = ringload_recorder::normalise(vec![capture], &opts)?;
    let bytes = crate::plan_io::save(&plan_path, &plan)?;
    crate::out::emit(&crate::record::render_summary(
        &crate::record::Recorded {
            summary,
            bytes,
            holds_secrets: plan.meta.holds_secrets,
            redacted: plan.meta.redacted,
        },
        &plan_path,
    ))?;
    let mut replays = replays::Replays {
        names: ringload_results::Names::of(&plan),
        plan_name: plan_path.display().to_string(),
        plan: &plan,
        plan_path: &plan_path,
        taddr,
        turl: format!("http://{taddr}"),
        interrupt: &interrupt,
        pace: &pace,
        invalid: false,
        pages: Vec::new(),
    };
    if let Some(code) = replays.closed()? {
        return Ok(code);
    }
    if let Some(code) = replays.open(args.output.as_deref())? {
        return Ok(code);
    }
    if let Some(code) = replays.sidecar(args.add_latency)? {
        return Ok(code);
    }
    let (invalid, pages) = (replays.invalid, replays.pages);

    // 6. The report.
    step(
        6,
        &format!(
            "report: {} (the open loop, the closed loop and the comparison, charts inline, \
             no scripts); shows what to attach to a CI run or a review",
            html.display()
        ),
    )?;
    crate::out::write_file(
        &html,
        ringload_results::render::html::joined(&pages).as_bytes(),
    )?;

    // 7. Clean up.
    let served = target
        .stop()
        .map_err(|e| runtime("target")(e.to_string()))?;
    step(
        7,
        &format!(
            "cleanup: the target, the recording proxy and the sidecar stopped, their ports \
             closed; shows that the demo leaves nothing behind. The target served {} requests \
             ({} answered 503 by design) in {:.0} s; replay the recorded plan yourself: \
             ringload run {} --target URL",
            served.requests,
            served.status_count(503),
            started.elapsed().as_secs_f64(),
            plan_path.display()
        ),
    )?;
    if let Some(code) = interrupt.exit_code() {
        return Ok(code);
    }
    Ok(if invalid { EXIT_INVALID_RUN } else { EXIT_OK })
}

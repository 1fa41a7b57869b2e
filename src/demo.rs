//! `ringload demo`: the whole loop on one machine with nothing installed. Starts the built-in
//! target on a free loopback port, records the bundled shop plan (the guide's endpoints, a
//! canary segment checked against the `x-upstream-version` header, injected delays and 503s),
//! replays it at a fixed rate, prints the report and stops everything it started.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use ringload_engine::{LoadModel, RunConfig, Stop, Target};
use ringload_formats::Expectation;
use ringload_recorder::{Options, SegmentRule};

use crate::error::{CliError, EXIT_INVALID_RUN, EXIT_OK};

const TARGETS: &str = include_str!("demo/shop.targets");
const BODIES: [(&str, &str); 3] = [
    ("cart.json", r#"{"sku":"SKU-100045","quantity":1}"#),
    (
        "checkout.json",
        r#"{"payment_method":"card","shipping":"standard"}"#,
    ),
    (
        "reservation.json",
        r#"{"sku":"SKU-100045","quantity":2,"warehouse":"eu-1"}"#,
    ),
];

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long to replay.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Open-loop rate, requests per second.
    #[arg(long, default_value_t = 400.0)]
    pub rate: f64,
    /// Also write the JSON result here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write an HTML report here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn plan() -> Result<ringload_formats::Plan, CliError> {
    let dir = Scratch(std::env::temp_dir().join(format!("ringload-demo-{}", std::process::id())));
    let io = |e: std::io::Error| CliError::Runtime(format!("{}: {e}", dir.0.display()));
    std::fs::create_dir_all(&dir.0).map_err(io)?;
    for (name, body) in BODIES {
        std::fs::write(dir.0.join(name), body).map_err(io)?;
    }
    let path = dir.0.join("shop.targets");
    std::fs::write(&path, TARGETS).map_err(io)?;
    let capture = ringload_recorder::source::targets::read(&path)?;
    let opts = Options {
        segments: vec![SegmentRule {
            name: "canary".into(),
            header: "x-user-segment".into(),
            value: "beta-testers".into(),
        }],
        default_segment: Some("stable".into()),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        ..Options::default()
    };
    let mut plan = ringload_recorder::normalise(vec![capture], &opts)?.0;
    // The guide's canary check: beta testers must be routed to canary-v2, everyone else to
    // stable. A response from the wrong upstream counts as a validation failure.
    let canary = plan
        .segments
        .iter()
        .position(|s| s == "canary")
        .map(|i| i as u32);
    for r in &mut plan.requests {
        let upstream = if r.segment.is_some() && r.segment == canary {
            "canary-v2"
        } else {
            "stable"
        };
        r.expect = Some(Expectation {
            status: Vec::new(),
            headers: vec![("x-upstream-version".into(), vec![upstream.into()])],
        });
    }
    Ok(plan)
}

pub fn demo(args: &DemoArgs) -> Result<u8, CliError> {
    if args.duration.is_zero() || args.duration > ringload_engine::MAX_RUN {
        return Err(CliError::BadInput(format!(
            "--duration {}: between 1s and {}",
            humantime::format_duration(args.duration),
            humantime::format_duration(ringload_engine::MAX_RUN)
        )));
    }
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= ringload_engine::MAX_RATE) {
        return Err(CliError::BadInput(format!(
            "--rate {}: between 0 (excluded) and {} requests/s",
            args.rate,
            ringload_engine::MAX_RATE
        )));
    }
    crate::out::check_outputs([
        ("--output", args.output.as_deref()),
        ("--html", args.html.as_deref()),
    ])?;
    let plan = plan()?;
    let target = ringload_target::spawn(ringload_target::TargetConfig {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        threads: 1,
        ..ringload_target::TargetConfig::default()
    })
    .map_err(|e| CliError::Runtime(format!("demo target: {e}")))?;
    let addr = target.local_addr();
    crate::out::emit(&format!(
        "demo: built-in target on http://{addr}; replaying {} shop requests at {} req/s for {}\n",
        plan.step_count(),
        args.rate,
        humantime::format_duration(args.duration)
    ))?;
    // The generator takes the last CPU it may use; the target's executor floats.
    let cpus = crate::host::allowed_cpus();
    let cfg = RunConfig {
        connections: 32,
        pipeline: 1,
        cpus: vec![*cpus.last().unwrap_or(&0)],
        stop: Stop::Duration(args.duration),
        load: LoadModel::Rate {
            rate: args.rate,
            arrival: ringload_engine::Arrival::Poisson,
        },
        max_wall: (args.duration + Duration::from_secs(15)).min(ringload_engine::MAX_RUN),
        ..RunConfig::new(Target {
            addr,
            host_header: addr.to_string(),
            tls: None,
        })
    };
    cfg.validate()
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let result = ringload_engine::run(&plan, &cfg);
    let served = target
        .stop()
        .map_err(|e| CliError::Runtime(format!("demo target: {e}")))?;
    let stats = result.map_err(|e| CliError::Runtime(e.to_string()))?;
    let validity = ringload_engine::check_validity(&stats, &cfg);
    let url = format!("http://{addr}");
    let report = ringload_results::build(
        &stats,
        &cfg,
        &ringload_results::Names::of(&plan),
        "(demo shop plan)",
        &url,
        &validity,
    );
    crate::out::emit(&ringload_results::render::text::render_text(&report))?;
    crate::out::emit(&format!(
        "demo: the target served {} requests ({} answered 503 by design); ringload counted {} responses\n",
        served.requests,
        served.status_count(503),
        stats.counts.completed()
    ))?;
    crate::out::write_result(&report, args.output.as_deref(), args.html.as_deref())?;
    Ok(if validity.is_ok() {
        EXIT_OK
    } else {
        EXIT_INVALID_RUN
    })
}

//! `ringload compare`: one plan against a baseline and a candidate target (the service without
//! and with the sidecar or gateway), in interleaved rounds, and the overhead per percentile with
//! its noise.
//!
//! Each round runs both targets once with the same load, the order alternating (baseline first,
//! then candidate first, ...) so that a slow drift of the machine or the targets falls on both
//! sides. For each latency percentile, a round's overhead is candidate minus baseline. Reported:
//! - the median of the rounds' overheads (absolute and relative), and their range;
//! - the noise: the baseline's own round-to-round spread (median absolute deviation of its
//!   percentile over the rounds): an overhead smaller than that is not resolved by this run;
//! - `consistent`: every round agrees on the sign of the overhead (a sign test: with n rounds
//!   the chance of that without a real difference is 2 x 0.5^n, 3% for 6 rounds).
//!
//! The JSON also holds each target's merged result (whole histograms, as `run` writes) and every
//! round's percentiles, so nothing has to be re-measured to look closer.

use std::path::PathBuf;

use clap::Args;
use ringload_results::Gate;

use crate::error::{CliError, EXIT_INVALID_RUN};
use crate::load_args::LoadArgs;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Plan file to replay against both targets.
    pub plan: PathBuf,
    /// The target without the component under test (e.g. the service directly).
    #[arg(long, value_name = "URL")]
    pub baseline: String,
    /// The target with it (e.g. through the sidecar or the gateway).
    #[arg(long, value_name = "URL")]
    pub candidate: String,
    /// Rounds; each runs both targets once, for the duration (or request count) given, the
    /// order alternating. At least 2; 6 or more make the sign test meaningful.
    #[arg(long, default_value_t = 6)]
    pub rounds: u32,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub replay: crate::replay::ReplayArgs,
    /// Fail (exit 3) when the median overhead of a percentile is above a limit
    /// (`p99-overhead>2ms`, `p50-overhead>10%`), or when the candidate's result crosses a
    /// run gate (`p99>250ms`, `segment=canary:error-rate>1%`); repeatable.
    #[arg(long = "fail-on", value_name = "GATE")]
    pub fail_on: Vec<String>,
    /// Write the comparison (JSON, with both targets' whole histograms) here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write an HTML report (self-contained, charts inline) here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub fn execute(args: &CompareArgs) -> Result<u8, CliError> {
    if !(2..=1000).contains(&args.rounds) {
        return Err(CliError::BadInput(format!(
            "--rounds {}: between 2 and 1000",
            args.rounds
        )));
    }
    crate::out::check_outputs([
        ("--output", args.output.as_deref()),
        ("--html", args.html.as_deref()),
    ])?;
    let gates = Gate::for_compare(&args.fail_on)?;
    let (plan, sha256) = crate::plan_io::load(&args.plan)?;
    let replay = args.replay.replay(&plan, &args.plan)?;
    // TLS options serve the https side: "plain vs mTLS" is one command.
    let connect = &args.load.connect;
    let mut base_cfg = args.load.config_with(
        &connect.for_compare_side(&args.baseline, &args.candidate),
        "--baseline",
        &args.baseline,
        &args.plan,
        &plan,
    )?;
    let mut cand_cfg = args.load.config_with(
        &connect.for_compare_side(&args.candidate, &args.baseline),
        "--candidate",
        &args.candidate,
        &args.plan,
        &plan,
    )?;
    base_cfg.replay = replay.clone();
    cand_cfg.replay = replay;
    let interrupt = crate::lifecycle::Interrupt::install()?;
    for cfg in [&mut base_cfg, &mut cand_cfg] {
        cfg.interrupt = Some(interrupt.flag());
    }
    let Some(mut comparison) = crate::rounds::compare_rounds(
        &plan,
        &args.plan,
        (&mut base_cfg, &args.baseline),
        (&mut cand_cfg, &args.candidate),
        args.rounds,
        args.load.quiet,
    )?
    else {
        return match interrupt.exit_code() {
            Some(code) => {
                crate::out::emit(
                    "compare: interrupted before a round completed; nothing to report\n",
                )?;
                Ok(code)
            }
            None => Err(CliError::Runtime("no round completed".into())),
        };
    };
    for (side, target) in [
        (&mut comparison.baseline, &args.baseline),
        (&mut comparison.candidate, &args.candidate),
    ] {
        side.provenance = vec![crate::provenance::of(
            &plan,
            Some(&sha256),
            target,
            side.run.started_at_unix_ms,
        )];
    }
    let invalid = comparison.invalid_reason.clone();
    crate::out::emit(&ringload_results::render::text::render_compare(&comparison))?;
    if let Some(out) = &args.output {
        let text =
            serde_json::to_vec_pretty(&comparison).map_err(|e| CliError::Runtime(e.to_string()))?;
        crate::out::write_file(out, &text)?;
    }
    if let Some(out) = &args.html {
        crate::out::write_file(
            out,
            ringload_results::render::html::compare_page(&comparison).as_bytes(),
        )?;
    }
    if let Some(code) = interrupt.exit_code() {
        return Ok(code);
    }
    if invalid.is_some() {
        return Ok(EXIT_INVALID_RUN);
    }
    let verdicts: Vec<_> = gates.iter().map(|g| g.check_compare(&comparison)).collect();
    crate::out::gates_exit(&verdicts)
}

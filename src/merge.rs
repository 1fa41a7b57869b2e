//! `ringload merge`: workers' result files (`run --worker K/N -o`) read one at a time and merged
//! into one result by [`ringload_results::merge`], printed, written, and gated.

use std::path::PathBuf;

use clap::Args;
use ringload_results::Gate;

use crate::error::{CliError, EXIT_INVALID_RUN};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Result files (`run -o`) of the workers, two or more.
    #[arg(required = true, num_args = 2..)]
    pub results: Vec<PathBuf>,
    /// Write the merged result (same format as `run -o`) here.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write an HTML report of the merged result here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Fail (exit 3) when the merged result crosses a limit, as `run --fail-on` does
    /// (`p99>250ms`, `label=POST /api/v1/checkout:p95>400ms`, `segment=canary:error-rate>0.5%`);
    /// repeatable.
    #[arg(long = "fail-on", value_name = "GATE")]
    pub fail_on: Vec<String>,
}

pub fn execute(args: &MergeArgs) -> Result<u8, CliError> {
    crate::out::check_outputs([
        ("--output", args.output.as_deref()),
        ("--html", args.html.as_deref()),
    ])?;
    let gates = Gate::for_results(&args.fail_on)?;
    let names: Vec<String> = args
        .results
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let merged = ringload_results::merge::merge_with(&names, |i| {
        ringload_results::file::read_file(&args.results[i])
    })?;
    crate::out::emit(&ringload_results::render::text::render_text(&merged))?;
    crate::out::write_result(&merged, args.output.as_deref(), args.html.as_deref())?;
    if !merged.valid {
        return Ok(EXIT_INVALID_RUN);
    }
    let verdicts: Vec<_> = gates.iter().map(|g| g.check(&merged)).collect();
    crate::out::gates_exit(&verdicts)
}

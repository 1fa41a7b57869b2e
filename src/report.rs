//! `ringload report RESULT.json`: a saved result (`run -o`, `merge -o`, `compare -o`) shown
//! again, in any of the forms ringload writes, and gated.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ringload_results::render::{csv, hdr, html, text};
use ringload_results::{Gate, Loaded};

use crate::error::CliError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The table `run` prints.
    Text,
    /// The result itself (as `run -o` writes it).
    Json,
    /// One row per label x segment, Locust's columns (run and merge results).
    Csv,
    /// HdrHistogram interval log: per-second windows, then each label's whole histogram
    /// (run and merge results).
    Hdr,
    /// The self-contained page `run --html` writes.
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A result file written by `run -o`, `merge -o` or `compare -o`.
    pub result: PathBuf,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Fail (exit 3) when the result crosses a limit, as `run --fail-on` does (compare results:
    /// `p99-overhead>2ms` too); repeatable.
    #[arg(long = "fail-on", value_name = "GATE")]
    pub fail_on: Vec<String>,
}

pub fn execute(args: &ReportArgs) -> Result<u8, CliError> {
    crate::out::check_outputs([("--output", args.output.as_deref())])?;
    let name = args.result.display().to_string();
    let bytes = ringload_results::file::read_file(&args.result)?;
    let loaded = ringload_results::file::load(&name, &bytes)?;
    let only_runs = |what: &str| {
        CliError::BadInput(format!(
            "{name}: a comparison has no single run to show as {what}; show it as text, json or \
             html, or save each side with run -o"
        ))
    };
    let rendered: Vec<u8> = match (&loaded, args.format) {
        (Loaded::Run(r), Format::Text) => text::render_text(r).into_bytes(),
        (Loaded::Compare(c), Format::Text) => {
            ringload_results::render::text::render_compare(c).into_bytes()
        }
        (Loaded::Run(r), Format::Json) => pretty(r.as_ref())?,
        (Loaded::Compare(c), Format::Json) => pretty(c.as_ref())?,
        (Loaded::Run(r), Format::Csv) => csv::render(r).into_bytes(),
        (Loaded::Run(r), Format::Hdr) => {
            hdr::render(r).map_err(|e| CliError::BadInput(format!("{name}: {e}")))?
        }
        (Loaded::Run(r), Format::Html) => html::run_page(r).into_bytes(),
        (Loaded::Compare(c), Format::Html) => html::compare_page(c).into_bytes(),
        (Loaded::Compare(_), Format::Csv) => return Err(only_runs("csv")),
        (Loaded::Compare(_), Format::Hdr) => return Err(only_runs("an interval log")),
    };
    let verdicts: Vec<_> = match &loaded {
        Loaded::Run(r) => Gate::for_results(&args.fail_on)?
            .iter()
            .map(|g| g.check(r))
            .collect(),
        Loaded::Compare(c) => Gate::for_compare(&args.fail_on)?
            .iter()
            .map(|g| g.check_compare(c))
            .collect(),
    };
    match &args.output {
        Some(path) => crate::out::write_file(path, &rendered)?,
        None => crate::out::emit(&String::from_utf8_lossy(&rendered))?,
    }
    if verdicts.is_empty() {
        return Ok(crate::error::EXIT_OK);
    }
    crate::out::gates_exit(&verdicts)
}

/// A result as pretty JSON, as `run -o` and `compare -o` write it.
fn pretty<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, CliError> {
    serde_json::to_vec_pretty(v).map_err(|e| CliError::Runtime(e.to_string()))
}

//! The `ringload` command line: parse arguments, run one subcommand, map the outcome to an
//! exit code. This is the only place that prints errors and exits; see `error.rs` for the codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use ringload::error::{self, CliError, EXIT_BAD_INPUT, EXIT_CODES_HELP};
use ringload::{compare, demo, inspect, merge, out, proxy, record, report, run, target};

#[derive(Debug, Parser)]
#[command(name = "ringload", version, about = "Load generator and traffic replayer for service meshes and API gateways", after_help = EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Capture requests (targets file, HAR, pcap, access log, or live through a recording
    /// proxy with --proxy) into a plan file.
    #[command(after_help = EXIT_CODES_HELP)]
    Record(Box<record::RecordArgs>),
    /// Show what a plan holds.
    #[command(after_help = EXIT_CODES_HELP)]
    Inspect {
        plan: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Replay a plan against a target, or load URLs directly (quick mode), and report latency
    /// and errors.
    #[command(after_help = EXIT_CODES_HELP)]
    Run(Box<run::RunArgs>),
    /// Replay a plan against a baseline and a candidate target in interleaved rounds and report
    /// the overhead per percentile with its noise (e.g. without and with a sidecar).
    #[command(after_help = EXIT_CODES_HELP)]
    Compare(Box<compare::CompareArgs>),
    /// Merge the results of workers that ran at the same time (e.g. `run --worker K/N` on
    /// many machines) into one, losslessly (whole histograms).
    #[command(after_help = EXIT_CODES_HELP)]
    Merge(merge::MergeArgs),
    /// Show a saved result again (text, JSON, CSV, HdrHistogram log, HTML) and gate it.
    #[command(after_help = EXIT_CODES_HELP)]
    Report(report::ReportArgs),
    /// The whole job on loopback: record the guide's scenarios through the recording proxy,
    /// replay them (closed and open loop, canary checks), compare direct vs a sidecar stand-in.
    #[command(after_help = EXIT_CODES_HELP)]
    Demo(demo::DemoArgs),
    /// Forward to an upstream without recording, optionally adding latency per request: a
    /// sidecar stand-in to measure what one more hop costs (with `compare`).
    #[command(after_help = EXIT_CODES_HELP)]
    Proxy(proxy::ProxyArgs),
    /// Serve the built-in calibration target (behaviour chosen per request).
    #[command(after_help = ringload_target::HELP)]
    Target(target::TargetArgs),
}

fn run(cli: Cli) -> Result<u8, CliError> {
    match cli.command {
        Command::Record(args) => {
            let r = record::record(&args)?;
            out::emit(&record::render_summary(&r, &args.output))?;
        }
        Command::Inspect { plan, json } => {
            let i = inspect::inspect(&plan)?;
            if json {
                let text = serde_json::to_string_pretty(&i)
                    .map_err(|e| CliError::Runtime(e.to_string()))?;
                out::emit(&format!("{text}\n"))?;
            } else {
                out::emit(&inspect::render(&i))?;
            }
        }
        Command::Run(args) => return run::execute(&args),
        Command::Compare(args) => return compare::execute(&args),
        Command::Merge(args) => return merge::execute(&args),
        Command::Report(args) => return report::execute(&args),
        Command::Target(args) => return target::serve(&args),
        Command::Proxy(args) => return proxy::serve(&args),
        Command::Demo(args) => return demo::demo(&args),
    }
    Ok(error::EXIT_OK)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_BAD_INPUT } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(CliError::BrokenPipe) => ExitCode::from(error::EXIT_OK),
        Err(e) => {
            // Each error's message already names its cause: print it once, on one line.
            eprintln!("ringload: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

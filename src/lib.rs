//! The `ringload` command line as a library: one module per subcommand, the report and result
//! formats they share, and [`fuzz`], the entry points the fuzz targets (`fuzz/`) and their
//! stable smoke test (`tests/fuzz_smoke.rs`) feed bytes through. `main.rs` parses arguments,
//! calls one subcommand and maps its outcome to an exit code.
//!
//! ```text
//! record   sources (files, or the recording proxy: ringload_proxy) -> ringload_recorder
//!          -> plan file                                    inspect  plan file -> summary
//! proxy    ringload_proxy without recording: the sidecar stand-in
//! run      plan -> ringload_engine -> report (text, JSON, HTML)
//! compare  plan x {baseline, candidate} in rounds -> overhead per percentile
//! merge    result files, one at a time -> one result      demo, target: the built-in server
//! ```

pub mod addresses;
pub mod compare;
pub mod connect_args;
pub mod demo;
pub mod error;
pub mod fuzz;
pub mod host;
pub mod inspect;
pub mod launch;
pub mod lifecycle;
pub mod limits;
pub mod load_args;
pub mod load_config;
pub mod merge;
pub mod mesh_args;
pub mod out;
pub mod plan_io;
pub mod provenance;
pub mod proxy;
pub mod record;
pub mod replay;
pub mod report;
pub mod rounds;
pub mod run;
pub mod target;
pub mod users;

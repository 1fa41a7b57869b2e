//! Engine errors. Per-request failures are not errors: they are counted in the stats by class.
//! These are the failures that stop a run from starting or finishing.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The configuration is inconsistent (the CLI validates first; this is the backstop).
    #[error("invalid run configuration: {0}")]
    Config(String),
    /// The plan cannot be replayed as it is (a request beyond the wire budget, a login body
    /// `--users` cannot fill...): the caller names the plan file.
    #[error("{0}")]
    Plan(String),
    /// The target cannot be resolved.
    #[error("cannot resolve target {target}: {source}")]
    Resolve {
        target: String,
        #[source]
        source: std::io::Error,
    },
    /// io_uring cannot be used in this process at all (blocked by seccomp, a sandbox...).
    #[error("io_uring cannot be used here: {0}")]
    Unavailable(String),
    /// An io_uring could not be created or set up (kernel too old, memlock limit...).
    #[error("cannot start the io_uring on cpu {cpu}: {message}")]
    Ring { cpu: usize, message: String },
    /// A glommio executor could not start.
    #[error("cannot start executor on cpu {cpu}: {message}")]
    Executor { cpu: usize, message: String },
    /// The ring failed mid-run.
    #[error("io_uring failure on cpu {cpu}: {source}")]
    Io {
        cpu: usize,
        #[source]
        source: std::io::Error,
    },
    /// An executor thread panicked (a bug).
    #[error("executor thread on cpu {0} panicked")]
    Panicked(usize),
}

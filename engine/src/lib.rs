//! ringload's engine: replays a plan against a target, thread-per-core, on io_uring.
//!
//! ```text
//! runtime   one glommio executor per CPU, started together, stats merged at the end
//!   schedule  the load model: which request is due when (closed loop, rate, replay, stages)
//!   driver    a private io_uring per executor owning its sockets: connect, send, multishot recv
//!     conn      per-connection state: requests in flight, the response decoder, the send batch
//!     requests  the plan's requests encoded to wire bytes once, before the run
//!   stats     HdrHistograms (intended-time latency, service time, schedule lag), counts, windows
//! ```
//! HTTP/1.1 framing is the sans-IO `ringload_http1` decoder; only the driver touches sockets.
//! Time is read once per loop turn and passed down.

mod config;
mod conn;
mod driver;
mod error;
mod requests;
mod ring;
mod runtime;
mod schedule;
pub mod stats;

pub use config::{
    Arrival, LoadModel, MAX_RATE, MAX_REQUESTS, MAX_RUN, MAX_SPIN, MAX_STAGES, MAX_WAIT, RunConfig,
    Stage, Stop, Target,
};
pub use driver::MAX_ATTEMPTS;
pub use error::EngineError;
pub use runtime::{allowed_cpus, check_validity, expected_wall, replay_rate, run};
pub use stats::{Counts, ERROR_CLASSES, ErrorClass, KeyStats, Stats, Window};

//! ringload's engine: replays a plan against a target, thread-per-core, on io_uring.
//!
//! ```text
//! runtime   one glommio executor per CPU, started together, stats merged at the end
//!   clone     `--clone N`: every session copied N times, staggered, fresh item ids per copy
//!   driver    the io_uring shell: a private ring per executor owning its sockets (connect,
//!             send, multishot recv), turning completions into shard events
//!     shard     the sans-IO core: queue, connections and what is in flight on them, timeouts,
//!               reconnects, re-sends, tokens minted per session (auth); every outcome counted
//!       schedule  the load model: which request is due when (closed loop, rate, replay, stages)
//!       requests  the plan's requests encoded to wire bytes once, before the run; fresh
//!                 request and trace ids (`ids`) written over their places at each send
//!       mesh      what the hops say: who answered a failure, how long the upstream took
//!   stats     HdrHistograms (intended-time latency, service time, schedule lag), counts, windows
//! ```
//! HTTP/1.1 framing is the sans-IO `ringload_http1` decoder; only the driver touches sockets,
//! and only the driver reads the clock (once per loop turn, passed down as `now`).

mod clone;
mod config;
mod driver;
mod error;
mod ids;
pub mod live;
pub mod mesh;
mod requests;
mod ring;
mod runtime;
mod schedule;
mod shard;
pub mod stats;
pub mod tls;

pub use clone::{MAX_CLONED_STEPS, MAX_REWRITTEN_BYTES};
pub use config::{
    Arrival, Cloning, ExpectRule, ExpectScope, LoadModel, MAX_CLONES, MAX_RATE, MAX_REQUESTS,
    MAX_RUN, MAX_SPIN, MAX_STAGES, MAX_WAIT, Replay, RunConfig, Shape, Stage, Stop, Target, Users,
};
pub use error::EngineError;
pub use mesh::{MeshOptions, Origin, OriginRule};
pub use requests::{MAX_HEAD, MAX_HEADS_TOTAL};
pub use ring::check as check_io_uring;
pub use runtime::{check_validity, expected_wall, replay_rate, run};
pub use shard::MAX_ATTEMPTS;
pub use stats::{
    Counts, ERROR_CLASSES, ErrorClass, KeyLayout, KeyStats, N_ERROR_CLASSES, Origins, Row, Split,
    Stats, UpstreamTimes, Window,
};

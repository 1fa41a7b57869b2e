//! ringload's recorder: turns captured or described traffic into a plan.
//!
//! ```text
//! source::{targets, har, pcap, access_log}   file -> Capture (Exchanges + skip counts)
//!        -> normalise::normalise             labels, segments, sessions, offsets, redaction
//!        -> ringload_formats::Plan           written by the CLI with write_plan
//! ```
//! Sources know only their file format; everything users configure about the shape of a plan
//! (`--segment`, `--label-rule`, `--session-by`, `--host`, `--exclude`, `--redact`) happens once,
//! in [`normalise`], the same way for every source. The recorder never talks to the engine.

pub mod error;
pub mod exchange;
pub mod normalise;
pub mod redact;
pub mod source;

pub use error::RecordError;
pub use exchange::{Capture, Exchange, Position};
pub use normalise::{LabelRule, Options, SegmentRule, SessionBy, Summary, normalise};

//! ringload's recorder: turns captured or described traffic into a plan.
//!
//! ```text
//! source::{targets, har, pcap, access_log}   file -> Capture (Exchanges with what was seen
//!                                            of their responses, + skip counts)
//!        -> normalise::normalise             auth::detect (logins, profiles, slots), labels,
//!                                            segments, expectations, sessions, offsets,
//!                                            redaction
//!        -> ringload_formats::Plan           written by the CLI with write_plan
//! ```
//! Sources know only their file format; everything users configure about the shape of a plan
//! (`--segment`, `--label-rule`, `--session-by`, `--host`, `--exclude`, `--redact`, `--auth`,
//! `--expect-header`, `--expect-status`) happens once, in [`normalise`], the same way for every
//! source. The recorder never talks to the engine.

pub mod auth;
pub mod error;
pub mod exchange;
pub mod label;
pub mod normalise;
pub mod redact;
pub mod source;

pub use auth::{AuthMode, AuthOptions, ManualLogin};
pub use error::RecordError;
pub use exchange::{Capture, Exchange, Position};
pub use normalise::{
    AuthSummary, ExpectedHeader, LabelRule, Options, ProfileSummary, SegmentRule, SegmentValues,
    SessionBy, Summary, normalise,
};

//! Capture sources. Each reads one kind of file and returns a [`crate::Capture`]: requests in
//! capture order with whatever timing, connection and response status the source knows, and the
//! items it skipped, counted by reason. Sources never template labels, choose sessions, tag
//! segments or redact: `normalise` does that the same way for all of them.

pub mod access_log;
pub mod har;
pub mod pcap;
pub mod targets;

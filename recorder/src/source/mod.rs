//! Capture sources. Each reads one kind of file and returns a [`crate::Capture`]: requests in
//! capture order with whatever timing, connection and response status the source knows, and the
//! items it skipped, counted by reason. Sources never template labels, choose sessions, tag
//! segments or redact: `normalise` does that the same way for all of them.

pub mod access_log;
pub mod har;
pub mod pcap;
pub mod targets;
pub mod urls;

/// Read a file, at most `limit + 1` bytes whatever its kind (a pipe or `/dev/zero` has no size
/// to check first): more than `limit` means too large.
pub(crate) fn read_at_most(path: &std::path::Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

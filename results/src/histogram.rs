//! Histograms in result files: HdrHistogram V2 (uncompressed) in standard base64, the form
//! HdrHistogram's own tools read. One encoder, and one bounded decoder (both in
//! [`crate::sparse`], so a forged header cannot make it allocate) for every reader here.

use hdrhistogram::Histogram;

use crate::sparse::Sparse;
pub use crate::sparse::encode;

/// Significant digits of whole-run histograms (groups, connect and handshake times).
pub const DIGITS: u8 = 3;

/// A whole-run histogram read back from [`encode`]'s form, or why it is not one of ringload's.
pub fn decode(b64: &str) -> Result<Histogram<u64>, String> {
    decode_with(b64, DIGITS)
}

/// [`decode`] for histograms kept with `digits` significant digits (per-second windows: 1).
pub fn decode_with(b64: &str, digits: u8) -> Result<Histogram<u64>, String> {
    Ok(Sparse::decode(b64, digits)?.histogram(digits))
}

//! Histograms in result files: HdrHistogram V2 (uncompressed) in standard base64, the form
//! HdrHistogram's own tools read. One encoder, and one bounded decoder (through
//! [`crate::sparse`], so a forged header cannot make it allocate) for every reader here.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};

use crate::sparse::Sparse;

/// Significant digits of whole-run histograms (groups, connect and handshake times).
pub const DIGITS: u8 = 3;

/// The base64 V2 form of `h` (empty when the serializer refuses, which it does not for the
/// histograms ringload keeps).
pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    match V2Serializer::new().serialize(h, &mut buf) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
        Err(_) => String::new(),
    }
}

/// A whole-run histogram read back from [`encode`]'s form, or why it is not one of ringload's.
pub fn decode(b64: &str) -> Result<Histogram<u64>, String> {
    decode_with(b64, DIGITS)
}

/// [`decode`] for histograms kept with `digits` significant digits (per-second windows: 1).
pub fn decode_with(b64: &str, digits: u8) -> Result<Histogram<u64>, String> {
    Ok(Sparse::decode(b64, digits)?.histogram(digits))
}

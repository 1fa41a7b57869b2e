//! The container every ringload file shares, and the only module that touches bincode.
//!
//! ```text
//! offset size  field
//!  0      8    magic            b"RLPLAN\r\n" (plan) / b"RLRSLT\r\n" (result)
//!  8      2    version  u16 LE  payload schema version, dispatched on by the reader
//! 10      2    flags    u16 LE  bits 0-7 informational, bits 8-15 required (unknown => reject)
//! 12      4    reserved         zero
//! 16      8    length   u64 LE  payload length in bytes
//! 24      n    payload          bincode 2, standard config (little endian, varint integers)
//! 24+n    4    checksum u32 LE  CRC-32 (IEEE) of bytes 0..24+n
//! ```
//! Reading never trusts a length before checking it: the payload is read through a `Take` (so a
//! lying length on a short file allocates only what the file holds), and bincode decodes with a
//! byte limit proportional to the real payload (at most 64x, allowing for the in-memory
//! expansion of compact varints), so no claimed length inside the payload can make the reader
//! allocate more than that.

use std::io::{Read, Write};

use serde::{Serialize, de::DeserializeOwned};

use crate::FormatError;

pub const HEADER_LEN: usize = 24;
const CHECKSUM_LEN: usize = 4;
/// Largest payload a ringload file may hold (1 GiB).
pub const MAX_PAYLOAD: u64 = 1 << 30;
/// Flags a reader must understand to read the file; unknown ones are rejected.
pub const REQUIRED_FLAGS_MASK: u16 = 0xff00;

/// A file kind: its magic and the latest version this build writes.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    pub magic: [u8; 8],
    pub latest: u16,
}

/// The decoded fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub flags: u16,
    pub payload_len: u64,
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encode `value` as a payload.
pub fn encode_payload<T: Serialize>(value: &T) -> Result<Vec<u8>, FormatError> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| FormatError::Encode(e.to_string()))
}

/// Write header, payload and checksum.
pub fn write_file<W: Write>(
    mut w: W,
    kind: Kind,
    flags: u16,
    payload: &[u8],
) -> Result<u64, FormatError> {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(&kind.magic);
    header[8..10].copy_from_slice(&kind.latest.to_le_bytes());
    header[10..12].copy_from_slice(&flags.to_le_bytes());
    header[16..24].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header);
    crc.update(payload);
    w.write_all(&header)?;
    w.write_all(payload)?;
    w.write_all(&crc.finalize().to_le_bytes())?;
    w.flush()?;
    Ok((HEADER_LEN + payload.len() + CHECKSUM_LEN) as u64)
}

/// Read and check the whole container; returns the header and the verified payload bytes.
pub fn read_file<R: Read>(mut r: R, kind: Kind) -> Result<(Header, Vec<u8>), FormatError> {
    let mut header = [0u8; HEADER_LEN];
    read_exact_or(&mut r, &mut header, "shorter than the 24-byte header")?;
    if header[..8] != kind.magic {
        return Err(FormatError::BadMagic {
            expected: kind.name,
        });
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    let flags = u16::from_le_bytes([header[10], header[11]]);
    let payload_len = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
    if version == 0 || version > kind.latest {
        return Err(FormatError::UnknownVersion {
            kind: kind.name,
            found: version,
            supported: kind.latest,
        });
    }
    if flags & REQUIRED_FLAGS_MASK != 0 {
        return Err(FormatError::UnknownRequiredFlags(
            flags & REQUIRED_FLAGS_MASK,
        ));
    }
    if payload_len > MAX_PAYLOAD {
        return Err(FormatError::TooLarge(payload_len, MAX_PAYLOAD));
    }
    let mut payload = Vec::new();
    (&mut r).take(payload_len).read_to_end(&mut payload)?;
    if (payload.len() as u64) < payload_len {
        return Err(FormatError::Truncated(
            "payload shorter than its stated length",
        ));
    }
    let mut stored = [0u8; CHECKSUM_LEN];
    read_exact_or(&mut r, &mut stored, "checksum missing")?;
    let stored = u32::from_le_bytes(stored);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header);
    crc.update(&payload);
    let computed = crc.finalize();
    if stored != computed {
        return Err(FormatError::Checksum { stored, computed });
    }
    let mut probe = [0u8; 1];
    if r.read(&mut probe)? != 0 {
        return Err(FormatError::TrailingBytes);
    }
    Ok((
        Header {
            version,
            flags,
            payload_len,
        },
        payload,
    ))
}

fn read_exact_or<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), FormatError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FormatError::Truncated(what),
        _ => FormatError::Io(e),
    })
}

/// How much larger than its encoding a decoded payload may be. bincode counts a container's
/// claim in in-memory bytes (a 3-byte step decodes into a 24-byte struct; an empty session is
/// 1 byte on disk and 24 in memory), so the limit must allow that expansion.
const EXPANSION: u64 = 32;

/// A slice reader that knows where it is, so a decoding error can say where it happened.
struct Counting<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl bincode::de::read::Reader for Counting<'_> {
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let left = self.bytes.len() - self.pos;
        if out.len() > left {
            self.pos = self.bytes.len();
            return Err(bincode::error::DecodeError::UnexpectedEnd {
                additional: out.len() - left,
            });
        }
        out.copy_from_slice(&self.bytes[self.pos..self.pos + out.len()]);
        self.pos += out.len();
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.bytes.get(self.pos..self.pos.checked_add(n)?)
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.bytes.len());
    }
}

/// What a bincode decoding error means, in words (bincode's own `Display` is its `Debug`).
fn describe(e: &bincode::error::DecodeError) -> String {
    use bincode::error::DecodeError as E;
    match e {
        E::UnexpectedEnd { .. } => "the payload ends in the middle of a value".into(),
        E::LimitExceeded => "a length claims more than the file can hold".into(),
        E::InvalidIntegerType { .. } | E::NonZeroTypeIsZero { .. } => {
            "an integer of the wrong kind".into()
        }
        E::UnexpectedVariant {
            type_name, found, ..
        } => format!("an unknown tag {found} for {}", short_type(type_name)),
        E::Utf8 { inner } => format!("a string is not valid UTF-8 ({inner})"),
        E::InvalidCharEncoding(_) => "an invalid character".into(),
        E::InvalidBooleanValue(b) => format!("a boolean of value {b} (0 or 1 expected)"),
        E::ArrayLengthMismatch { required, found } => {
            format!("an array of {found} items where {required} are expected")
        }
        E::OutsideUsizeRange(n) => format!("a length of {n}, more than this machine can address"),
        E::Io { inner, .. } => inner.to_string(),
        E::Other(m) => (*m).to_string(),
        E::OtherString(m) => m.clone(),
        _ => "a value of a kind ringload files do not hold".into(),
    }
}

/// `core::option::Option<u32>` -> `Option`.
fn short_type(name: &str) -> &str {
    let base = name.split('<').next().unwrap_or(name);
    base.rsplit("::").next().unwrap_or(base)
}

/// Decode a payload with a bincode byte limit of at most 64 times its length (see module docs).
/// An error says at which byte of the file (header included) decoding stopped, and why.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FormatError> {
    macro_rules! with_limits {
        ($($bits:literal)*) => {{
            let need = (payload.len() as u64).max(1).next_power_of_two() * EXPANSION;
            $(
                if need <= (1u64 << $bits) {
                    let mut reader = Counting { bytes: payload, pos: 0 };
                    let r = bincode::serde::decode_from_reader(
                        &mut reader,
                        config().with_limit::<{ 1usize << $bits }>(),
                    );
                    return finish(r, reader.pos, payload.len());
                }
            )*
            Err(FormatError::TooLarge(payload.len() as u64, MAX_PAYLOAD))
        }};
    }
    fn finish<T>(
        r: Result<T, bincode::error::DecodeError>,
        used: usize,
        len: usize,
    ) -> Result<T, FormatError> {
        let at = HEADER_LEN + used;
        match r {
            Ok(v) if used == len => Ok(v),
            Ok(_) => Err(FormatError::Decode(format!(
                "byte {at}: {} bytes left over after the payload",
                len - used
            ))),
            Err(e) => Err(FormatError::Decode(format!(
                "byte {at}: the payload does not decode: {}",
                describe(&e)
            ))),
        }
    }
    with_limits!(10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36)
}

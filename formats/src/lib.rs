//! ringload's file formats: the **plan** (what to send) and, later, the **result** (what was
//! measured), both in one container: magic, version, flags, length, a bincode payload and a
//! CRC-32. The byte layout and compatibility rules are in `FORMAT.md` next to this crate.
//!
//! Flow: the recorder builds a [`Plan`] with a [`PlanBuilder`] and writes it with
//! [`write_plan`]; the engine reads it back with [`read_plan`], which checks magic, version,
//! length, checksum and every cross reference before returning. This crate does no I/O of its
//! own beyond the `Read`/`Write` it is handed.
//!
//! ```
//! use ringload_formats::{Metadata, PlanBuilder, Request, Session, Step, read_plan, write_plan};
//! let mut b = PlanBuilder::new(Metadata::default());
//! let label = b.label("GET /health");
//! let id = b.request(Request { method: "GET".into(), target: "/health".into(), label, ..Default::default() });
//! b.session(Session { steps: vec![Step { request: id, offset_us: 0, connection: 0 }] });
//! let plan = b.finish();
//! let mut bytes = Vec::new();
//! write_plan(&mut bytes, &plan).unwrap();
//! assert_eq!(read_plan(&bytes[..]).unwrap(), plan);
//! ```

mod container;
mod error;
mod plan;
pub mod summary;
mod wire;

use std::io::{Read, Write};

pub use container::{HEADER_LEN, Header, MAX_PAYLOAD};
pub use error::FormatError;
pub use plan::{
    AuthProfile, AuthProfileId, AuthSlot, Expectation, LabelId, MAX_OFFSET_US, MAX_TIMEOUT_US,
    Metadata, Plan, PlanBuilder, Request, RequestId, SegmentId, Session, StatusRule, Step, Text,
    TokenLocation, TokenPlace,
};

/// The plan container kind.
pub const PLAN: container::Kind = container::Kind {
    name: "plan",
    magic: *b"RLPLAN\r\n",
    latest: 2,
};

/// Write `plan` in the latest format; returns the bytes written.
pub fn write_plan<W: Write>(w: W, plan: &Plan) -> Result<u64, FormatError> {
    let payload = wire::encode(plan)?;
    container::write_file(w, PLAN, wire::flags(plan), &payload)
}

/// Read a plan of any supported version, fully checked.
pub fn read_plan<R: Read>(r: R) -> Result<Plan, FormatError> {
    let (header, payload) = container::read_file(r, PLAN)?;
    wire::decode(header.version, header.flags, &payload)
}

/// [`read_plan`], and the SHA-256 of every byte of the file (read to its end), in hex: the
/// plan's identity a result records (`sha256sum` prints the same).
pub fn read_plan_digest<R: Read>(r: R) -> Result<(Plan, String), FormatError> {
    use sha2::Digest as _;
    struct Hashing<R> {
        inner: R,
        hash: sha2::Sha256,
    }
    impl<R: Read> Read for Hashing<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.hash.update(&buf[..n]);
            Ok(n)
        }
    }
    let mut h = Hashing {
        inner: r,
        hash: sha2::Sha256::new(),
    };
    let plan = read_plan(&mut h)?;
    std::io::copy(&mut h, &mut std::io::sink()).map_err(FormatError::Io)?;
    let digest = h.hash.finalize();
    Ok((plan, digest.iter().map(|b| format!("{b:02x}")).collect()))
}

//! Capture file readers: classic pcap and pcapng, streamed record by record.
//!
//! Both formats are read from any `Read` through one reusable buffer, so the memory used is
//! one record (capped at [`MAX_RECORD`]) whatever the file size. Each call to
//! [`CaptureReader::next_packet`] yields one [`Packet`] borrowing that buffer: its 1-based
//! number (as Wireshark counts frames), timestamp in microseconds, link type and captured
//! bytes. Non-packet pcapng blocks (statistics, name resolution, custom) are skipped.
//!
//! Errors name the packet number (the packet being read, i.e. one past the last good one)
//! or the byte offset for file-level problems, so a truncated file says where it ends.

use std::io::{self, Read};

/// Largest record/block accepted. tcpdump's default snap length is 256 KiB; anything far
/// beyond that is a corrupt length field, and refusing it keeps one bad field from
/// allocating gigabytes.
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// Most pcapng interfaces tracked in one section (each costs a few bytes; a corrupt file
/// declaring millions should fail, not grow).
const MAX_INTERFACES: usize = 4096;

/// A captured frame, borrowing the reader's buffer.
#[derive(Debug)]
pub struct Packet<'a> {
    /// 1-based frame number.
    pub number: u64,
    /// Capture time, microseconds since the Unix epoch (`None` for pcapng simple packet
    /// blocks, which carry no timestamp).
    pub ts_us: Option<i64>,
    /// LINKTYPE_* value of the interface the frame was captured on.
    pub link_type: u32,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub orig_len: u32,
}

/// Why the capture file could not be read.
#[derive(Debug)]
pub enum FileError {
    Io(io::Error),
    /// Structural problem. `packet` is the number of the packet being read when it was
    /// found (`None` before the first packet); `byte` is the file offset.
    Malformed {
        packet: Option<u64>,
        byte: u64,
        message: String,
    },
    /// Not a pcap/pcapng file at all.
    NotACapture(String),
}

impl From<io::Error> for FileError {
    fn from(e: io::Error) -> Self {
        FileError::Io(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }
    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }
    fn u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        match self {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        }
    }
}

/// pcapng interface description: what the EPBs referring to it need.
#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: u32,
    snap_len: u32,
    /// Timestamp units per second (10^6 by default).
    units_per_sec: u64,
    /// Seconds added to every timestamp (if_tsoffset).
    offset_sec: i64,
}

#[derive(Debug)]
enum Format {
    Pcap {
        endian: Endian,
        nanos: bool,
        link_type: u32,
    },
    PcapNg {
        endian: Endian,
        interfaces: Vec<Interface>,
        /// Timestamp of the previous packet, for simple packet blocks.
        last_ts: Option<i64>,
    },
}

/// Streaming reader of pcap or pcapng, detected from the first four bytes.
#[derive(Debug)]
pub struct CaptureReader<R> {
    input: R,
    format: Format,
    buf: Vec<u8>,
    /// Frames returned so far.
    packets: u64,
    /// File offset of the next unread byte.
    offset: u64,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean EOF before the first byte,
/// `Err(UnexpectedEof)` on EOF after some bytes.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Where an enhanced or obsolete packet block's data starts in its body.
const BLOCK_DATA: usize = 20;

/// What an enhanced or obsolete packet block says of its packet.
struct BlockPacket {
    ts_us: i64,
    link_type: u32,
    caplen: usize,
    orig_len: u32,
}

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAPNG_SHB: u32 = 0x0a0d_0d0a;
const PCAPNG_BOM: u32 = 0x1a2b_3c4d;

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and detects the format.
    pub fn new(mut input: R) -> Result<Self, FileError> {
        let mut magic = [0u8; 4];
        match read_full(&mut input, &mut magic) {
            Ok(true) => {}
            Ok(false) => return Err(FileError::NotACapture("the file is empty".into())),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(FileError::NotACapture(
                    "the file is shorter than a capture header".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        let le = u32::from_le_bytes(magic);
        let be = u32::from_be_bytes(magic);
        let mut reader = CaptureReader {
            input,
            format: Format::Pcap {
                endian: Endian::Little,
                nanos: false,
                link_type: 0,
            },
            buf: Vec::with_capacity(64 * 1024),
            packets: 0,
            offset: 4,
        };
        if le == PCAPNG_SHB {
            // The byte order comes from the SHB's byte-order magic.
            reader.format = Format::PcapNg {
                endian: Endian::Little,
                interfaces: Vec::new(),
                last_ts: None,
            };
            reader.read_shb_rest()?;
            return Ok(reader);
        }
        let (endian, nanos) = match (le, be) {
            (PCAP_MAGIC_US, _) => (Endian::Little, false),
            (PCAP_MAGIC_NS, _) => (Endian::Little, true),
            (_, PCAP_MAGIC_US) => (Endian::Big, false),
            (_, PCAP_MAGIC_NS) => (Endian::Big, true),
            _ => {
                return Err(FileError::NotACapture(format!(
                    "unknown magic number {be:#010x} (not pcap or pcapng)"
                )));
            }
        };
        let mut rest = [0u8; 20];
        reader.fill(&mut rest, "pcap file header")?;
        // version(2+2), thiszone(4), sigfigs(4), snaplen(4), network(4)
        let major = endian.u16(&rest[0..2]);
        if major != 2 {
            return Err(FileError::NotACapture(format!(
                "unsupported pcap version {major}.{}",
                endian.u16(&rest[2..4])
            )));
        }
        // The upper bits of the link-type field carry FCS information; the type is the
        // low 16 bits (pcap-savefile(5)).
        let link_type = endian.u32(&rest[16..20]) & 0xffff;
        reader.format = Format::Pcap {
            endian,
            nanos,
            link_type,
        };
        Ok(reader)
    }

    /// `pcap` or `pcapng`.
    pub fn format_name(&self) -> &'static str {
        match self.format {
            Format::Pcap { .. } => "pcap",
            Format::PcapNg { .. } => "pcapng",
        }
    }

    /// Frames returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    fn malformed(&self, message: String) -> FileError {
        FileError::Malformed {
            packet: Some(self.packets + 1),
            byte: self.offset,
            message,
        }
    }

    /// Fills `out` completely or fails with "truncated <what>".
    fn fill(&mut self, out: &mut [u8], what: &str) -> Result<(), FileError> {
        match read_full(&mut self.input, out) {
            Ok(true) => {
                self.offset += out.len() as u64;
                Ok(())
            }
            Ok(false) => Err(self.malformed(format!("file ends inside the {what}"))),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.malformed(format!("file ends inside the {what}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads `len` bytes into the shared buffer.
    fn fill_buf(&mut self, len: usize, what: &str) -> Result<(), FileError> {
        if len > MAX_RECORD {
            return Err(self.malformed(format!(
                "{what} length {len} exceeds the {MAX_RECORD}-byte limit (corrupt file?)"
            )));
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(len, 0);
        let r = self.fill(&mut buf, what);
        self.buf = buf;
        r
    }

    /// Returns the next frame, `Ok(None)` at a clean end of file.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, FileError> {
        match self.format {
            Format::Pcap {
                endian,
                nanos,
                link_type,
            } => self.next_pcap(endian, nanos, link_type),
            Format::PcapNg { .. } => self.next_pcapng(),
        }
    }

    fn next_pcap(
        &mut self,
        endian: Endian,
        nanos: bool,
        link_type: u32,
    ) -> Result<Option<Packet<'_>>, FileError> {
        let mut hdr = [0u8; 16];
        match read_full(&mut self.input, &mut hdr) {
            Ok(true) => self.offset += 16,
            Ok(false) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(self.malformed("file ends inside a packet record header".into()));
            }
            Err(e) => return Err(e.into()),
        }
        let sec = endian.u32(&hdr[0..4]) as i64;
        let frac = endian.u32(&hdr[4..8]) as i64;
        let caplen = endian.u32(&hdr[8..12]) as usize;
        let orig_len = endian.u32(&hdr[12..16]);
        let ts_us = sec * 1_000_000 + if nanos { frac / 1000 } else { frac };
        self.fill_buf(caplen, "packet record")?;
        self.packets += 1;
        Ok(Some(Packet {
            number: self.packets,
            ts_us: Some(ts_us),
            link_type,
            data: &self.buf,
            orig_len,
        }))
    }

    /// After the SHB block type has been read: reads the rest of the section header.
    fn read_shb_rest(&mut self) -> Result<(), FileError> {
        let mut len = [0u8; 4];
        self.fill(&mut len, "section header block")?;
        self.read_shb_after_type(len)
    }

    /// The last 4 bytes of `self.buf` must repeat the block's total length.
    fn check_trailer(&self, endian: Endian, total: usize) -> Result<(), FileError> {
        let n = self.buf.len();
        if n < 4 || endian.u32(&self.buf[n - 4..]) as usize != total {
            return Err(self.malformed(
                "pcapng block's trailing length does not match its header (corrupt file?)".into(),
            ));
        }
        Ok(())
    }

    fn next_pcapng(&mut self) -> Result<Option<Packet<'_>>, FileError> {
        loop {
            let mut head = [0u8; 8];
            match read_full(&mut self.input, &mut head) {
                Ok(true) => self.offset += 8,
                Ok(false) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(self.malformed("file ends inside a pcapng block header".into()));
                }
                Err(e) => return Err(e.into()),
            }
            let Format::PcapNg { endian, .. } = self.format else {
                return Ok(None);
            };
            let block_type = endian.u32(&head[0..4]);
            if block_type == PCAPNG_SHB {
                // A new section: its own byte order and interfaces. The length field
                // can only be interpreted once the byte order is known, so re-read.
                let mut b = [0u8; 4];
                b.copy_from_slice(&head[4..8]);
                self.read_shb_after_type(b)?;
                continue;
            }
            let total = endian.u32(&head[4..8]) as usize;
            if total < 12 || !total.is_multiple_of(4) {
                return Err(self.malformed(format!("pcapng block length {total} is invalid")));
            }
            self.fill_buf(total - 8, "pcapng block")?;
            self.check_trailer(endian, total)?;
            let body_len = total - 12;
            match block_type {
                1 => self.interface_block(endian, body_len)?,
                6 => {
                    let p = self.enhanced_packet(endian, body_len)?;
                    if let Format::PcapNg { last_ts, .. } = &mut self.format {
                        *last_ts = Some(p.ts_us);
                    }
                    return Ok(Some(self.block_packet(p)));
                }
                3 => {
                    // Simple packet block: original length, then data up to the snap
                    // length of interface 0; no timestamp.
                    let Format::PcapNg {
                        ref interfaces,
                        last_ts,
                        ..
                    } = self.format
                    else {
                        return Ok(None);
                    };
                    let Some(iface) = interfaces.first().copied() else {
                        return Err(self.malformed(
                            "simple packet block before any interface description".into(),
                        ));
                    };
                    if body_len < 4 {
                        return Err(self.malformed("simple packet block too short".into()));
                    }
                    let orig_len = endian.u32(&self.buf[0..4]);
                    let mut caplen = (orig_len as usize).min(body_len - 4);
                    if iface.snap_len != 0 {
                        caplen = caplen.min(iface.snap_len as usize);
                    }
                    self.packets += 1;
                    return Ok(Some(Packet {
                        number: self.packets,
                        ts_us: last_ts,
                        link_type: iface.link_type,
                        data: &self.buf[4..4 + caplen],
                        orig_len,
                    }));
                }
                2 => {
                    // Obsolete packet block: like an EPB with a 16-bit interface id.
                    let p = self.obsolete_packet(endian, body_len)?;
                    return Ok(Some(self.block_packet(p)));
                }
                // Name resolution, statistics, custom, decryption secrets...: not ours.
                _ => {}
            }
        }
    }

    fn read_shb_after_type(&mut self, len_bytes: [u8; 4]) -> Result<(), FileError> {
        let mut bom = [0u8; 4];
        self.fill(&mut bom, "section header block")?;
        let endian = if u32::from_le_bytes(bom) == PCAPNG_BOM {
            Endian::Little
        } else if u32::from_be_bytes(bom) == PCAPNG_BOM {
            Endian::Big
        } else {
            return Err(FileError::NotACapture(
                "pcapng section header has no valid byte-order magic".into(),
            ));
        };
        let total = endian.u32(&len_bytes) as usize;
        if total < 28 || !total.is_multiple_of(4) {
            return Err(self.malformed(format!("section header block length {total} is invalid")));
        }
        self.fill_buf(total - 12, "section header block")?;
        let major = endian.u16(&self.buf[0..2]);
        if major != 1 {
            return Err(FileError::NotACapture(format!(
                "unsupported pcapng version {major}"
            )));
        }
        self.check_trailer(endian, total)?;
        self.format = Format::PcapNg {
            endian,
            interfaces: Vec::new(),
            last_ts: None,
        };
        Ok(())
    }

    fn interface_block(&mut self, endian: Endian, body_len: usize) -> Result<(), FileError> {
        if body_len < 8 {
            return Err(self.malformed("interface description block too short".into()));
        }
        let link_type = endian.u16(&self.buf[0..2]) as u32;
        let snap_len = endian.u32(&self.buf[4..8]);
        let mut iface = Interface {
            link_type,
            snap_len,
            units_per_sec: 1_000_000,
            offset_sec: 0,
        };
        // Options: code(2) len(2) value padded to 4.
        let mut pos = 8;
        while pos + 4 <= body_len {
            let code = endian.u16(&self.buf[pos..pos + 2]);
            let len = endian.u16(&self.buf[pos + 2..pos + 4]) as usize;
            let val_start = pos + 4;
            let val_end = val_start + len;
            if code == 0 || val_end > body_len {
                break;
            }
            let val = &self.buf[val_start..val_end];
            match (code, len) {
                (9, 1) => {
                    // if_tsresol: MSB clear = 10^-n, set = 2^-n.
                    let v = val[0];
                    let units = if v & 0x80 == 0 {
                        10u64.checked_pow(u32::from(v))
                    } else {
                        1u64.checked_shl(u32::from(v & 0x7f))
                    };
                    match units {
                        Some(u) if u > 0 => iface.units_per_sec = u,
                        _ => {
                            return Err(self.malformed(format!(
                                "interface timestamp resolution {v:#04x} is out of range"
                            )));
                        }
                    }
                }
                (14, 8) => iface.offset_sec = endian.u64(val) as i64,
                _ => {}
            }
            pos = val_start + len.div_ceil(4) * 4;
        }
        let Format::PcapNg { interfaces, .. } = &mut self.format else {
            return Ok(());
        };
        if interfaces.len() >= MAX_INTERFACES {
            return Err(self.malformed(format!(
                "more than {MAX_INTERFACES} interfaces in one section"
            )));
        }
        interfaces.push(iface);
        Ok(())
    }

    fn interface(&self, id: usize) -> Result<Interface, FileError> {
        match &self.format {
            Format::PcapNg { interfaces, .. } => interfaces.get(id).copied().ok_or_else(|| {
                self.malformed(format!("packet refers to undeclared interface {id}"))
            }),
            Format::Pcap { .. } => Err(self.malformed("not a pcapng file".into())),
        }
    }

    /// Converts a pcapng timestamp to microseconds since the epoch.
    fn timestamp(iface: Interface, ts: u64) -> i64 {
        let us = if iface.units_per_sec == 1_000_000 {
            ts as i128
        } else {
            ts as i128 * 1_000_000 / iface.units_per_sec as i128
        };
        let us = us + iface.offset_sec as i128 * 1_000_000;
        us.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    /// EPB body: iface(4) ts_hi(4) ts_lo(4) caplen(4) origlen(4) data options.
    fn enhanced_packet(&self, endian: Endian, body_len: usize) -> Result<BlockPacket, FileError> {
        let iface = (body_len >= 4).then(|| endian.u32(&self.buf[0..4]) as usize);
        self.packet_block(endian, body_len, iface, "enhanced packet block")
    }

    /// OPB body: iface(2) drops(2) ts_hi(4) ts_lo(4) caplen(4) origlen(4) data options.
    fn obsolete_packet(&self, endian: Endian, body_len: usize) -> Result<BlockPacket, FileError> {
        let iface = (body_len >= 2).then(|| endian.u16(&self.buf[0..2]) as usize);
        self.packet_block(endian, body_len, iface, "packet block")
    }

    /// The fields EPB and OPB share after their interface id: timestamp at 4..12, captured
    /// length at 12..16, original length at 16..20, data from 20.
    fn packet_block(
        &self,
        endian: Endian,
        body_len: usize,
        iface: Option<usize>,
        what: &str,
    ) -> Result<BlockPacket, FileError> {
        let (Some(iface), true) = (iface, body_len >= BLOCK_DATA) else {
            return Err(self.malformed(format!("{what} too short")));
        };
        let b = &self.buf;
        let iface = self.interface(iface)?;
        let ts = (u64::from(endian.u32(&b[4..8])) << 32) | u64::from(endian.u32(&b[8..12]));
        let caplen = endian.u32(&b[12..16]) as usize;
        let orig_len = endian.u32(&b[16..20]);
        if caplen > body_len - BLOCK_DATA {
            return Err(self.malformed(format!("captured length {caplen} exceeds the {what}")));
        }
        Ok(BlockPacket {
            ts_us: Self::timestamp(iface, ts),
            link_type: iface.link_type,
            caplen,
            orig_len,
        })
    }

    /// The packet of an EPB or OPB just read (its data is in the buffer from `BLOCK_DATA`).
    fn block_packet(&mut self, p: BlockPacket) -> Packet<'_> {
        self.packets += 1;
        Packet {
            number: self.packets,
            ts_us: Some(p.ts_us),
            link_type: p.link_type,
            data: &self.buf[BLOCK_DATA..BLOCK_DATA + p.caplen],
            orig_len: p.orig_len,
        }
    }
}

#[cfg(test)]
mod tests;

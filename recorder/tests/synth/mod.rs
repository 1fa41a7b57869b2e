//! Synthetic capture writer shared by the integration tests and the `pcap_ingest` bench:
//! classic pcap files with hand-built IPv4/IPv6 + TCP packets on a chosen link type, and a
//! small TCP connection model (handshake, data with correct sequence numbers, FIN), so
//! tests can reorder, duplicate or drop segments on purpose.
//!
//! Checksums are left zero: the reader does not verify them (tcpdump on loopback usually
//! records unchecked checksums anyway because of offload).

#![allow(dead_code)]

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;

/// Link types the writer can frame packets in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    Sll,
    Sll2,
    Null,
    Raw,
}

impl Link {
    fn linktype(self) -> u32 {
        match self {
            Link::Ethernet => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Null => 0,
            Link::Raw => 101,
        }
    }
}

/// One TCP segment, before framing.
#[derive(Debug, Clone)]
pub struct Segment {
    pub ts_us: i64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
}

/// Frames `seg` as link + IP + TCP bytes into `out`.
pub fn frame(link: Link, seg: &Segment, out: &mut Vec<u8>) {
    let v6 = seg.src.is_ipv6();
    let ethertype: u16 = if v6 { 0x86dd } else { 0x0800 };
    match link {
        Link::Ethernet => {
            out.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1]);
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
        Link::Sll => {
            out.extend_from_slice(&[0, 0, 0, 772u16.to_be_bytes()[1], 0, 6]);
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&ethertype.to_be_bytes());
        }
        Link::Sll2 => {
            out.extend_from_slice(&ethertype.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0, 0, 1, 3, 4, 0, 6]);
            out.extend_from_slice(&[0; 8]);
        }
        Link::Null => {
            let fam: u32 = if v6 { 30 } else { 2 };
            out.extend_from_slice(&fam.to_le_bytes());
        }
        Link::Raw => {}
    }
    let tcp_len = 20 + seg.payload.len();
    match (seg.src.ip(), seg.dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.push(0x45);
            out.push(0);
            out.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&(tcp_len as u16).to_be_bytes());
            out.extend_from_slice(&[6, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed IP versions"),
    }
    out.extend_from_slice(&seg.src.port().to_be_bytes());
    out.extend_from_slice(&seg.dst.port().to_be_bytes());
    out.extend_from_slice(&seg.seq.to_be_bytes());
    out.extend_from_slice(&seg.ack.to_be_bytes());
    out.push(5 << 4);
    out.push(seg.flags);
    out.extend_from_slice(&65535u16.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&seg.payload);
}

/// Classic pcap writer (microsecond timestamps, little endian).
pub struct PcapWriter<W: Write> {
    out: W,
    link: Link,
    frame: Vec<u8>,
    pub packets: u64,
}

impl<W: Write> PcapWriter<W> {
    pub fn new(mut out: W, link: Link) -> io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?;
        out.write_all(&262_144u32.to_le_bytes())?;
        out.write_all(&link.linktype().to_le_bytes())?;
        Ok(PcapWriter {
            out,
            link,
            frame: Vec::with_capacity(2048),
            packets: 0,
        })
    }

    /// Writes `seg`, keeping only the first `snap` bytes of the frame if given.
    pub fn write_cut(&mut self, seg: &Segment, snap: Option<usize>) -> io::Result<()> {
        self.frame.clear();
        frame(self.link, seg, &mut self.frame);
        let orig = self.frame.len();
        let cap = snap.map_or(orig, |s| s.min(orig));
        let sec = seg.ts_us.div_euclid(1_000_000) as u32;
        let usec = seg.ts_us.rem_euclid(1_000_000) as u32;
        self.out.write_all(&sec.to_le_bytes())?;
        self.out.write_all(&usec.to_le_bytes())?;
        self.out.write_all(&(cap as u32).to_le_bytes())?;
        self.out.write_all(&(orig as u32).to_le_bytes())?;
        self.out.write_all(&self.frame[..cap])?;
        self.packets += 1;
        Ok(())
    }

    pub fn write(&mut self, seg: &Segment) -> io::Result<()> {
        self.write_cut(seg, None)
    }

    pub fn finish(self) -> W {
        self.out
    }
}

/// A TCP connection model producing correctly numbered segments.
#[derive(Debug, Clone)]
pub struct Tcp {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub cseq: u32,
    pub sseq: u32,
}

impl Tcp {
    pub fn new(client: &str, server: &str, cisn: u32, sisn: u32) -> Self {
        Tcp {
            client: client.parse().expect("client addr"),
            server: server.parse().expect("server addr"),
            cseq: cisn,
            sseq: sisn,
        }
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self, ts: i64) -> Vec<Segment> {
        let v = vec![
            self.seg(ts, true, SYN, Vec::new()),
            self.seg(ts, false, SYN | ACK, Vec::new()),
        ];
        self.cseq = self.cseq.wrapping_add(1);
        self.sseq = self.sseq.wrapping_add(1);
        let mut v = v;
        v.push(self.seg(ts, true, ACK, Vec::new()));
        v
    }

    fn seg(&self, ts: i64, from_client: bool, flags: u8, payload: Vec<u8>) -> Segment {
        let (src, dst, seq, ack) = if from_client {
            (self.client, self.server, self.cseq, self.sseq)
        } else {
            (self.server, self.client, self.sseq, self.cseq)
        };
        Segment {
            ts_us: ts,
            src,
            dst,
            seq,
            ack,
            flags,
            payload,
        }
    }

    /// Data from the client, split into segments of at most `mss` bytes.
    pub fn client(&mut self, ts: i64, data: &[u8], mss: usize) -> Vec<Segment> {
        self.data(ts, true, data, mss)
    }

    /// Data from the server, split into segments of at most `mss` bytes.
    pub fn server(&mut self, ts: i64, data: &[u8], mss: usize) -> Vec<Segment> {
        self.data(ts, false, data, mss)
    }

    fn data(&mut self, ts: i64, from_client: bool, data: &[u8], mss: usize) -> Vec<Segment> {
        let mut out = Vec::new();
        for chunk in data.chunks(mss.max(1)) {
            out.push(self.seg(ts, from_client, ACK | PSH, chunk.to_vec()));
            let s = if from_client {
                &mut self.cseq
            } else {
                &mut self.sseq
            };
            *s = s.wrapping_add(chunk.len() as u32);
        }
        out
    }

    /// FIN from both sides (client first) and the last ACK.
    pub fn close(&mut self, ts: i64) -> Vec<Segment> {
        let mut v = vec![self.seg(ts, true, FIN | ACK, Vec::new())];
        self.cseq = self.cseq.wrapping_add(1);
        v.push(self.seg(ts, false, FIN | ACK, Vec::new()));
        self.sseq = self.sseq.wrapping_add(1);
        v.push(self.seg(ts, true, ACK, Vec::new()));
        v
    }

    pub fn reset(&mut self, ts: i64) -> Segment {
        self.seg(ts, true, RST, Vec::new())
    }
}

/// Writes segments to an in-memory pcap.
pub fn pcap_bytes(link: Link, segs: &[Segment]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), link).expect("vec write");
    for s in segs {
        w.write(s).expect("vec write");
    }
    w.finish()
}

/// A deterministic pseudo-random generator (xorshift64*), so tests and the bench need no
/// extra dependency and are reproducible.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

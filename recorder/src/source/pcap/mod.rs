//! pcap / pcapng capture source: tcpdump, dumpcap and Wireshark files -> HTTP/1.x exchanges.
//!
//! ```text
//! file::CaptureReader   records (pcap or pcapng; number, timestamp, link type, bytes)
//!   -> link::decap      strip Ethernet / SLL / SLL2 / NULL / raw-IP headers
//!   -> etherparse       IPv4 / IPv6 (lax: snap-length-cut packets are noticed), TCP
//!   -> flow table       connection by 4-tuple; client side from the SYN, the selected
//!                       ports or the first bytes; a new SYN on a used 4-tuple starts a
//!                       new connection
//!   -> tcp::Reassembler per direction: order, retransmissions, holes -> gap
//!   -> http::HttpConn   requests (RequestDecoder) paired with responses (ResponseDecoder)
//! ```
//! Exchanges come out sorted by the packet that carried each request's first byte, which
//! is capture order. Memory is bounded per connection (head limit, 8 MiB body, 4 MiB of
//! out-of-order data, 1 MiB of unpaired response bytes); finished connections are freed as
//! soon as both FINs (or an RST) are seen.
//!
//! What cannot be read is counted in [`Capture::skipped`] by reason (non-TCP packets,
//! non-HTTP streams such as TLS, streams with missing data, requests cut by the end of the
//! capture...). File-level problems (truncated file, unsupported link type, no HTTP at
//! all) are errors naming the packet number.

mod file;
mod http;
mod link;
mod tcp;

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::Path;

use etherparse::LaxIpSlice;
use etherparse::{IpNumber, TcpSlice};

use crate::error::RecordError;
use crate::exchange::{Capture, Position};
use file::{CaptureReader, FileError};
use http::{HttpConn, Sink};
use link::L3;
use tcp::{Origin, Push, Reassembler};

/// Options of the pcap source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PcapOptions {
    /// Server ports to read (`--port`). Empty: every TCP connection, HTTP detected by
    /// content. When set, other connections are ignored, and the side using one of these
    /// ports is the server even if the capture missed the handshake.
    pub ports: Vec<u16>,
}

const SKIP_NON_IP: &str = "non-IP frame";
const SKIP_NON_TCP: &str = "non-TCP packet";
const SKIP_BAD_IP: &str = "malformed IP/TCP header";
const SKIP_FRAGMENT: &str = "IP fragment (not reassembled)";
const SKIP_OTHER_PORT: &str = "TCP packet on a port not selected with --port";
const SKIP_SHORT_FRAME: &str = "frame shorter than its link header";

/// Reads a pcap or pcapng file.
pub fn read(path: &Path, opts: &PcapOptions) -> Result<Capture, RecordError> {
    let io_err = |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(io_err)?;
    let reader = BufReader::with_capacity(1 << 20, f);
    read_from(reader, path, opts)
}

/// Reads pcap or pcapng bytes; `path` is only used in errors and the description. Public for the
/// fuzz targets, which feed it bytes without a file.
pub fn parse(bytes: &[u8], path: &Path, opts: &PcapOptions) -> Result<Capture, RecordError> {
    read_from(bytes, path, opts)
}

fn map_file_error(path: &Path, e: FileError) -> RecordError {
    match e {
        FileError::Io(source) => RecordError::Io {
            path: path.to_path_buf(),
            source,
        },
        FileError::Malformed {
            packet,
            byte,
            message,
        } => RecordError::Malformed {
            path: path.to_path_buf(),
            at: match packet {
                Some(n) => Position::Packet(n),
                None => Position::Byte(byte),
            },
            message: match packet {
                Some(_) => format!("{message} (file byte {byte})"),
                None => message,
            },
        },
        FileError::NotACapture(message) => RecordError::Unsupported {
            path: path.to_path_buf(),
            message: format!("not a pcap/pcapng capture: {message}"),
        },
    }
}

/// One TCP connection.
struct Flow {
    /// Which endpoint of the key is the client (0 = `a`, 1 = `b`), once known.
    client_side: Option<usize>,
    /// Reassembly of what endpoint 0 sends and what endpoint 1 sends.
    dirs: [Reassembler; 2],
    /// Direction reached its FIN, hit a gap, or was otherwise closed.
    closed: [bool; 2],
    http: Option<HttpConn>,
}

impl Flow {
    fn new() -> Self {
        Flow {
            client_side: None,
            dirs: [Reassembler::new(), Reassembler::new()],
            closed: [false; 2],
            http: None,
        }
    }

    fn has_data(&self) -> bool {
        self.dirs.iter().any(|d| d.delivered() > 0 || d.has_hole())
    }

    /// End of capture, or the flow is replaced/reset: settle what is pending.
    fn finish(&mut self, sink: &mut Sink, reset: bool) {
        let (Some(http), Some(client)) = (self.http.as_mut(), self.client_side) else {
            return;
        };
        for side in 0..2 {
            if self.closed[side] {
                continue;
            }
            let is_client = side == client;
            if self.dirs[side].has_hole() {
                if is_client {
                    http.client_gap(sink);
                } else {
                    http.server_gap(sink);
                }
            } else if reset {
                if is_client {
                    http.client_eof(sink);
                } else {
                    http.server_eof(sink);
                }
            }
            self.closed[side] = true;
        }
        http.capture_end(sink);
    }
}

type Key = (IpAddr, u16, IpAddr, u16);

/// Canonical key of a 4-tuple and which endpoint of it sent this packet.
fn key_of(src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (Key, usize) {
    if (src, sport) <= (dst, dport) {
        ((src, sport, dst, dport), 0)
    } else {
        ((dst, dport, src, sport), 1)
    }
}

struct Reader<'o> {
    opts: &'o PcapOptions,
    flows: HashMap<Key, Flow>,
    next_id: u64,
    sink: Sink,
    other_skips: Vec<(&'static str, u64)>,
    tcp_packets: u64,
}

fn count(list: &mut Vec<(&'static str, u64)>, reason: &'static str) {
    match list.iter_mut().find(|(r, _)| *r == reason) {
        Some((_, n)) => *n += 1,
        None => list.push((reason, 1)),
    }
}

impl Reader<'_> {
    fn packet(&mut self, number: u64, ts_us: Option<i64>, l3: &[u8], frame_cut: bool) {
        let Ok((ip, _ext_err)) = LaxIpSlice::from_slice(l3) else {
            count(&mut self.other_skips, SKIP_BAD_IP);
            return;
        };
        let payload = ip.payload();
        if payload.ip_number != IpNumber::TCP {
            count(&mut self.other_skips, SKIP_NON_TCP);
            return;
        }
        if payload.fragmented {
            count(&mut self.other_skips, SKIP_FRAGMENT);
            return;
        }
        let Ok(tcp) = TcpSlice::from_slice(payload.payload) else {
            count(&mut self.other_skips, SKIP_BAD_IP);
            return;
        };
        self.tcp_packets += 1;
        let (src, dst) = (ip.source_addr(), ip.destination_addr());
        let (sport, dport) = (tcp.source_port(), tcp.destination_port());
        let ports = &self.opts.ports;
        if !ports.is_empty() && !ports.contains(&sport) && !ports.contains(&dport) {
            count(&mut self.other_skips, SKIP_OTHER_PORT);
            return;
        }
        let cut = frame_cut || payload.incomplete;
        let (key, side) = key_of(src, sport, dst, dport);
        let (syn, ack, fin, rst) = (tcp.syn(), tcp.ack(), tcp.fin(), tcp.rst());
        let seq = tcp.sequence_number();
        let data = tcp.payload();

        // A fresh SYN on a 4-tuple that already carried a connection: port reuse.
        if syn
            && !ack
            && let Some(old) = self.flows.get_mut(&key)
            && (old.has_data() || old.closed.iter().any(|c| *c))
        {
            old.finish(&mut self.sink, true);
            self.flows.remove(&key);
        }
        // Bare ACKs/FINs/RSTs of a connection already settled (or never seen) must not
        // create a flow: every finished connection would otherwise leave one behind.
        if !syn && data.is_empty() && !self.flows.contains_key(&key) {
            return;
        }
        let flow = self.flows.entry(key).or_insert_with(Flow::new);
        if syn {
            flow.dirs[side].syn(seq);
            if flow.client_side.is_none() {
                flow.client_side = Some(if ack { 1 - side } else { side });
            }
        }
        if flow.client_side.is_none() && !data.is_empty() {
            flow.client_side = Some(if ports.contains(&dport) {
                side
            } else if ports.contains(&sport) || data.starts_with(b"HTTP/") {
                1 - side
            } else {
                side
            });
        }
        let Some(client_side) = flow.client_side else {
            return;
        };
        if flow.closed[side] {
            if rst {
                self.end_flow(key, true);
            }
            return;
        }
        let is_client = side == client_side;
        if flow.http.is_none() && (!data.is_empty() || fin) {
            let client_ip = if is_client { src } else { dst };
            // Connections are numbered when they first carry data, in capture order.
            flow.http = Some(HttpConn::new(self.next_id, client_ip));
            self.next_id += 1;
        }
        let Flow {
            dirs, http, closed, ..
        } = flow;
        let Some(http) = http.as_mut() else {
            if rst {
                self.end_flow(key, true);
            }
            return;
        };
        let sink = &mut self.sink;
        if cut && !data.is_empty() {
            // The capture kept only part of this segment: the stream has a hole we know
            // about now.
            if is_client {
                http.client_gap(sink);
            } else {
                http.server_gap(sink);
            }
            closed[side] = true;
        } else {
            let origin = Origin {
                ts_us,
                packet: number,
            };
            let pushed = dirs[side].push(seq, data, fin, origin, |bytes, org| {
                if is_client {
                    http.client_data(bytes, org, sink);
                } else {
                    http.server_data(bytes, sink);
                }
            });
            match pushed {
                Push::Ok => {}
                Push::Finished => {
                    if is_client {
                        http.client_eof(sink);
                    } else {
                        http.server_eof(sink);
                    }
                    closed[side] = true;
                }
                Push::Gap => {
                    if is_client {
                        http.client_gap(sink);
                    } else {
                        http.server_gap(sink);
                    }
                    closed[side] = true;
                }
            }
        }
        if rst || (closed[0] && closed[1]) {
            self.end_flow(key, rst);
        }
    }

    fn end_flow(&mut self, key: Key, reset: bool) {
        if let Some(mut flow) = self.flows.remove(&key) {
            flow.finish(&mut self.sink, reset);
        }
    }
}

fn read_from<R: std::io::Read>(
    input: R,
    path: &Path,
    opts: &PcapOptions,
) -> Result<Capture, RecordError> {
    let mut cap = CaptureReader::new(input).map_err(|e| map_file_error(path, e))?;
    let mut reader = Reader {
        opts,
        flows: HashMap::new(),
        next_id: 0,
        sink: Sink::default(),
        other_skips: Vec::new(),
        tcp_packets: 0,
    };
    let mut link_types: Vec<u32> = Vec::new();
    loop {
        let packet = match cap.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => return Err(map_file_error(path, e)),
        };
        if !link_types.contains(&packet.link_type) {
            if !link::supported(packet.link_type) {
                return Err(RecordError::Unsupported {
                    path: path.to_path_buf(),
                    message: format!(
                        "packet {}: link type {} ({}) is not supported (supported: Ethernet, \
                         Linux cooked SLL/SLL2, NULL/loopback, raw IPv4/IPv6)",
                        packet.number,
                        packet.link_type,
                        link::name(packet.link_type)
                    ),
                });
            }
            link_types.push(packet.link_type);
        }
        let frame_cut = (packet.data.len() as u64) < u64::from(packet.orig_len);
        match link::decap(packet.link_type, packet.data) {
            L3::Ip(l3) => reader.packet(packet.number, packet.ts_us, l3, frame_cut),
            L3::Other => count(&mut reader.other_skips, SKIP_NON_IP),
            L3::Short => count(&mut reader.other_skips, SKIP_SHORT_FRAME),
        }
    }
    let packets = cap.packets_read();
    let links: Vec<&str> = link_types.iter().map(|l| link::name(*l)).collect();
    let description = format!(
        "{} ({}, {}, {packets} packets)",
        path.display(),
        cap.format_name(),
        links.join(" + ")
    );
    let keys: Vec<Key> = reader.flows.keys().copied().collect();
    for key in keys {
        reader.end_flow(key, false);
    }
    let connections = reader.next_id;
    let tcp_packets = reader.tcp_packets;
    let Reader {
        sink, other_skips, ..
    } = reader;
    let Sink {
        exchanges,
        dropped,
        skipped,
        budget,
    } = sink;
    let mut keep = vec![true; exchanges.len()];
    for i in dropped {
        if let Some(k) = keep.get_mut(i) {
            *k = false;
        }
    }
    let mut exchanges: Vec<_> = exchanges
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect();
    // Heads complete in packet order per connection, but a request whose head spans
    // packets is pushed when its last byte arrives: order by the first byte's packet.
    exchanges.sort_by_key(|e| match e.position {
        Some(Position::Packet(n)) => n,
        _ => u64::MAX,
    });
    let mut out = Capture {
        kind: "pcap",
        description,
        path: path.to_path_buf(),
        exchanges,
        skipped: Vec::new(),
        notes: budget.note().into_iter().collect(),
    };
    for (reason, n) in other_skips.into_iter().chain(skipped) {
        out.skipped.push((reason.to_string(), n));
    }
    if out.exchanges.is_empty() {
        let mut reason = format!(
            "no HTTP/1.x request in {packets} packets ({tcp_packets} TCP packets, \
             {connections} TCP connections)"
        );
        if !out.skipped.is_empty() {
            let list: Vec<String> = out
                .skipped
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect();
            reason.push_str(&format!("; skipped: {}", list.join(", ")));
        }
        return Err(RecordError::Empty {
            path: path.to_path_buf(),
            reason,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: [&[u8]; 3] = [
        include_bytes!("../../../tests/fixtures/curl_keepalive_chunked_pipelined.pcap"),
        include_bytes!("../../../tests/fixtures/dumpcap_any.pcapng"),
        include_bytes!("../../../tests/fixtures/tcpdump_any_sll2.pcap"),
    ];

    fn run(bytes: &[u8]) {
        let _ = read_from(bytes, Path::new("fuzz.pcap"), &PcapOptions::default());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                    magic in 0usize..5) {
            // Half the time, start with a real magic number so the record parsers run.
            let mut input = match magic {
                0 => 0xa1b2_c3d4u32.to_le_bytes().to_vec(),
                1 => 0xa1b2_3c4du32.to_be_bytes().to_vec(),
                2 => vec![0x0a, 0x0d, 0x0d, 0x0a],
                _ => Vec::new(),
            };
            input.extend_from_slice(&bytes);
            run(&input);
        }

        #[test]
        fn mutated_fixtures_never_panic(which in 0usize..3,
                                        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..16),
                                        cut in any::<usize>(), do_cut in any::<bool>()) {
            let mut bytes = FIXTURES[which].to_vec();
            for (at, v) in edits {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            if do_cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            run(&bytes);
        }
    }
}

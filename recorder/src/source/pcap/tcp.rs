//! TCP reassembly of one direction of one connection.
//!
//! Segments are pushed in capture order with their sequence numbers; bytes come out in
//! stream order exactly once, through a callback, tagged with the packet that carried them.
//!
//! - Sequence numbers are mapped to 64-bit stream offsets relative to the next expected
//!   byte (signed 32-bit distance), so streams longer than 4 GiB and sequence wrap-around
//!   need no special case.
//! - Retransmissions and overlaps: bytes before the next expected offset are dropped (the
//!   first copy wins, as most stacks do).
//! - Out-of-order segments wait in a map keyed by offset until the hole before them is
//!   filled. Their total size is capped ([`MAX_OUT_OF_ORDER`]): past it the hole is taken
//!   to be data the capture missed and the direction reports [`Push::Gap`].
//! - A direction picked up mid-stream (no SYN seen) starts at its first data segment.
//!
//! In-order segments are handed to the callback straight from the caller's packet buffer;
//! only out-of-order data is copied.

use std::collections::BTreeMap;

/// Most out-of-order bytes buffered per direction before the stream is declared broken.
pub const MAX_OUT_OF_ORDER: usize = 4 * 1024 * 1024;

/// Which packet carried some bytes: for request timestamps and positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub ts_us: Option<i64>,
    pub packet: u64,
}

#[derive(Debug)]
struct Held {
    data: Vec<u8>,
    origin: Origin,
}

/// Outcome of [`Reassembler::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Accepted (delivered or held).
    Ok,
    /// The end of the stream (FIN) has been reached: every byte before it was delivered.
    Finished,
    /// Too much data waits behind a hole: the capture lost bytes; stop using this stream.
    Gap,
}

/// One direction's reassembly state.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of the next expected byte; `None` until the first SYN or data.
    next_seq: Option<u32>,
    /// Stream offset of `next_seq`.
    next_off: u64,
    held: BTreeMap<u64, Held>,
    held_bytes: usize,
    /// Stream offset at which the FIN sits, once seen.
    fin_off: Option<u64>,
    finished: bool,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes delivered so far.
    pub fn delivered(&self) -> u64 {
        self.next_off
    }

    /// Data is waiting behind a hole (meaningful at the end of a stream: a gap).
    pub fn has_hole(&self) -> bool {
        !self.held.is_empty()
    }

    /// A SYN from this direction: the stream starts at `seq + 1`. A SYN for a stream
    /// that already started is a retransmission and ignored.
    pub fn syn(&mut self, seq: u32) {
        if self.next_seq.is_none() {
            self.next_seq = Some(seq.wrapping_add(1));
        }
    }

    /// Pushes one segment. `deliver` receives every newly in-order byte run.
    pub fn push<F: FnMut(&[u8], Origin)>(
        &mut self,
        seq: u32,
        payload: &[u8],
        fin: bool,
        origin: Origin,
        mut deliver: F,
    ) -> Push {
        if self.finished {
            return Push::Finished;
        }
        let next_seq = match self.next_seq {
            Some(s) => s,
            None if payload.is_empty() && !fin => return Push::Ok,
            None => {
                self.next_seq = Some(seq);
                seq
            }
        };
        // Signed distance from the next expected byte.
        let dist = i64::from(seq.wrapping_sub(next_seq) as i32);
        let off = self.next_off as i64 + dist;
        if fin {
            let end = off + payload.len() as i64;
            if end >= self.next_off as i64 {
                self.fin_off = Some(end as u64);
            }
        }
        let end = off + payload.len() as i64;
        if !payload.is_empty() && end > self.next_off as i64 {
            if off <= self.next_off as i64 {
                // In order (possibly overlapping what we already have).
                let skip = (self.next_off as i64 - off) as usize;
                let fresh = &payload[skip..];
                self.advance(fresh.len());
                deliver(fresh, origin);
                self.drain_held(&mut deliver);
            } else {
                let off = off as u64;
                let keep = match self.held.get(&off) {
                    Some(h) => h.data.len() < payload.len(),
                    None => true,
                };
                if keep {
                    if let Some(old) = self.held.insert(
                        off,
                        Held {
                            data: payload.to_vec(),
                            origin,
                        },
                    ) {
                        self.held_bytes -= old.data.len();
                    }
                    self.held_bytes += payload.len();
                    if self.held_bytes > MAX_OUT_OF_ORDER {
                        self.held.clear();
                        self.held_bytes = 0;
                        return Push::Gap;
                    }
                }
            }
        }
        match self.fin_off {
            Some(f) if self.next_off >= f => {
                self.finished = true;
                Push::Finished
            }
            _ => Push::Ok,
        }
    }

    fn advance(&mut self, n: usize) {
        self.next_off += n as u64;
        if let Some(s) = self.next_seq.as_mut() {
            *s = s.wrapping_add(n as u32);
        }
    }

    /// Delivers held segments that the stream has now reached.
    fn drain_held<F: FnMut(&[u8], Origin)>(&mut self, deliver: &mut F) {
        while let Some(entry) = self.held.first_entry() {
            let off = *entry.key();
            if off > self.next_off {
                break;
            }
            let h = entry.remove();
            self.held_bytes -= h.data.len();
            let skip = (self.next_off - off) as usize;
            if skip < h.data.len() {
                let fresh = &h.data[skip..];
                self.advance(fresh.len());
                deliver(fresh, h.origin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(packet: u64) -> Origin {
        Origin {
            ts_us: Some(packet as i64),
            packet,
        }
    }

    fn run(r: &mut Reassembler, segs: &[(u32, &[u8], bool)]) -> (Vec<u8>, Vec<u64>, Push) {
        let mut out = Vec::new();
        let mut origins = Vec::new();
        let mut last = Push::Ok;
        for (i, (seq, data, fin)) in segs.iter().enumerate() {
            last = r.push(*seq, data, *fin, o(i as u64 + 1), |b, org| {
                out.extend_from_slice(b);
                origins.push(org.packet);
            });
        }
        (out, origins, last)
    }

    #[test]
    fn in_order_with_syn_and_fin() {
        let mut r = Reassembler::new();
        r.syn(99);
        let (out, _, last) = run(&mut r, &[(100, b"hello ", false), (106, b"world", true)]);
        assert_eq!(out, b"hello world");
        assert_eq!(last, Push::Finished);
        assert!(!r.has_hole());
    }

    #[test]
    fn retransmission_and_overlap_deliver_once() {
        let mut r = Reassembler::new();
        r.syn(0);
        let (out, _, _) = run(
            &mut r,
            &[
                (1, b"abcd", false),
                (1, b"abcd", false),
                (3, b"cdef", false),
                (7, b"g", false),
            ],
        );
        assert_eq!(out, b"abcdefg");
    }

    #[test]
    fn out_of_order_waits_for_the_hole() {
        let mut r = Reassembler::new();
        r.syn(10);
        let (out, origins, _) = run(
            &mut r,
            &[
                (15, b"world", false),
                (11, b"hell", false),
                (20, b"!", false),
            ],
        );
        assert_eq!(out, b"hellworld!");
        // "world" keeps the packet that carried it.
        assert_eq!(origins, vec![2, 1, 3]);
        assert!(!r.has_hole());
    }

    #[test]
    fn sequence_wraparound() {
        let mut r = Reassembler::new();
        r.syn(u32::MAX - 2);
        let (out, _, _) = run(&mut r, &[(u32::MAX - 1, b"ab", false), (0, b"cd", false)]);
        assert_eq!(out, b"abcd");
        assert_eq!(r.delivered(), 4);
    }

    #[test]
    fn hole_is_reported_and_gap_when_too_much_waits() {
        let mut r = Reassembler::new();
        r.syn(0);
        let (out, _, _) = run(&mut r, &[(1, b"ab", false), (10, b"zz", false)]);
        assert_eq!(out, b"ab");
        assert!(r.has_hole());
        let big = vec![0u8; MAX_OUT_OF_ORDER];
        let p = r.push(100, &big, false, o(9), |_, _| {});
        assert_eq!(p, Push::Gap);
    }

    #[test]
    fn mid_stream_pickup_starts_at_first_data() {
        let mut r = Reassembler::new();
        let (out, _, _) = run(&mut r, &[(5000, b"GET", false), (4990, b"old", false)]);
        assert_eq!(out, b"GET");
    }

    #[test]
    fn fin_before_missing_data_finishes_when_filled() {
        let mut r = Reassembler::new();
        r.syn(0);
        let (_, _, last) = run(&mut r, &[(3, b"cd", true)]);
        assert_eq!(last, Push::Ok);
        let (out, _, last) = run(&mut r, &[(1, b"ab", false)]);
        assert_eq!(out, b"abcd");
        assert_eq!(last, Push::Finished);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any segmentation, with neighbours swapped and segments repeated, of a stream
        /// reassembles to exactly that stream.
        #[test]
        fn reorder_and_duplicates_reassemble_exactly(
            data in proptest::collection::vec(any::<u8>(), 1..3000),
            isn in any::<u32>(),
            cuts in proptest::collection::vec(1usize..400, 1..40),
            swaps in proptest::collection::vec((any::<usize>(), any::<bool>()), 0..30),
        ) {
            let mut segs = Vec::new();
            let (mut at, mut i) = (0usize, 0usize);
            while at < data.len() {
                let n = cuts[i % cuts.len()].min(data.len() - at);
                segs.push((isn.wrapping_add(1).wrapping_add(at as u32), data[at..at + n].to_vec()));
                at += n;
                i += 1;
            }
            for (k, dup) in swaps {
                let j = k % segs.len();
                if dup {
                    let s = segs[j].clone();
                    segs.insert(j, s);
                } else if j + 1 < segs.len() {
                    segs.swap(j, j + 1);
                }
            }
            let mut r = Reassembler::new();
            r.syn(isn);
            let mut out = Vec::new();
            for (n, (seq, payload)) in segs.iter().enumerate() {
                let origin = Origin { ts_us: None, packet: n as u64 };
                let p = r.push(*seq, payload, false, origin, |b, _| out.extend_from_slice(b));
                prop_assert_ne!(p, Push::Gap);
            }
            prop_assert_eq!(out, data);
            prop_assert!(!r.has_hole());
        }
    }
}

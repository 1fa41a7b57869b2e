//! Capturing selected response header values without allocating per response.
//!
//! The engine checks expectations such as `x-upstream-version in {stable,
//! canary-v2}` on every response, and reads what the hops said (`server`,
//! `x-envoy-upstream-service-time`, `server-timing`). Fields are named once
//! ([`CaptureSpec`], compiled into a [`CaptureSet`] that every connection's
//! decoder shares); for each final response the value of each named field is
//! copied into a buffer allocated with the decoder, at most the spec's `cap`
//! bytes (longer values are cut and flagged). A list-valued field may be joined
//! over its repeated lines (`join`); otherwise the first occurrence wins. No heap
//! allocation happens per response.

use std::sync::Arc;

use crate::head::name_is;

/// Bytes of a captured header value kept by default; longer values are truncated.
pub const CAPTURE_VALUE_CAP: usize = 64;
/// The most bytes one capture may keep.
pub const MAX_CAPTURE_VALUE_CAP: usize = 1024;

/// One header field a decoder captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSpec<'a> {
    /// The field name (ASCII case-insensitive).
    pub name: &'a str,
    /// Value bytes kept, at most [`MAX_CAPTURE_VALUE_CAP`]; 0 records presence only.
    pub cap: usize,
    /// Repeated fields are joined with `", "`, as a list-valued field means (RFC 9110 §5.3,
    /// e.g. `Server-Timing`); otherwise the first occurrence wins, so a repeated field cannot
    /// silently change what an expectation sees.
    pub join: bool,
}

impl<'a> CaptureSpec<'a> {
    /// The first value of `name`, up to [`CAPTURE_VALUE_CAP`] bytes.
    pub fn first(name: &'a str) -> Self {
        CaptureSpec {
            name,
            cap: CAPTURE_VALUE_CAP,
            join: false,
        }
    }
}

/// A captured header value, borrowed from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured<'a> {
    /// The value (optional whitespace trimmed), at most the capture's `cap` bytes.
    pub value: &'a [u8],
    /// The value on the wire was longer than the capture's `cap`.
    pub truncated: bool,
}

/// Where a field's value is kept: its bytes in the decoder's buffer, and how it repeats.
#[derive(Debug, Clone, Copy)]
struct Shape {
    start: usize,
    cap: usize,
    join: bool,
}

#[derive(Debug, Default)]
struct SetInner {
    /// Lower-cased names.
    names: Vec<Box<str>>,
    shapes: Vec<Shape>,
    /// Bytes of every value together.
    total: usize,
    /// Bit `n % 64` set when some name is `n` bytes long: most fields of a response are told
    /// apart by their length alone, without a look at the names.
    lengths: u64,
}

/// The fields to capture, compiled once and shared by every decoder built from it
/// ([`crate::ResponseDecoder::with_capture_set`]): a decoder then holds only its values (the
/// caps' bytes) and a few bytes of state per field.
#[derive(Debug, Clone, Default)]
pub struct CaptureSet(Arc<SetInner>);

impl CaptureSet {
    pub fn new(specs: &[CaptureSpec<'_>]) -> Self {
        let mut total = 0;
        let shapes = specs
            .iter()
            .map(|s| {
                let cap = s.cap.min(MAX_CAPTURE_VALUE_CAP);
                let shape = Shape {
                    start: total,
                    cap,
                    join: s.join,
                };
                total += cap;
                shape
            })
            .collect();
        CaptureSet(Arc::new(SetInner {
            names: specs
                .iter()
                .map(|s| s.name.to_ascii_lowercase().into_boxed_str())
                .collect(),
            shapes,
            total,
            lengths: specs.iter().fold(0, |m, s| m | length_bit(s.name.len())),
        }))
    }

    /// Fields in the set.
    pub fn len(&self) -> usize {
        self.0.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.names.is_empty()
    }
}

/// One field's value in the current response.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Bytes kept (at most `MAX_CAPTURE_VALUE_CAP`).
    len: u16,
    present: bool,
    truncated: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Captures {
    set: CaptureSet,
    slots: Vec<Slot>,
    /// Every field's bytes, one after the other (as the set's shapes say).
    buf: Box<[u8]>,
}

impl Captures {
    pub(crate) fn new(set: &CaptureSet) -> Self {
        Captures {
            set: set.clone(),
            slots: vec![Slot::default(); set.len()],
            buf: vec![0; set.0.total].into_boxed_slice(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        for s in &mut self.slots {
            s.present = false;
        }
    }

    /// Offers one header field of the current final response.
    pub(crate) fn offer(&mut self, name: &str, value: &[u8]) {
        let set = &*self.set.0;
        if set.lengths & length_bit(name.len()) == 0 {
            return;
        }
        for ((n, shape), slot) in set.names.iter().zip(&set.shapes).zip(&mut self.slots) {
            if !name_is(name, n) {
                continue;
            }
            let v = value.trim_ascii();
            let buf = &mut self.buf[shape.start..shape.start + shape.cap];
            if !slot.present {
                *slot = Slot {
                    len: 0,
                    present: true,
                    truncated: false,
                };
                slot.append(buf, v);
            } else if shape.join {
                slot.append(buf, b", ");
                slot.append(buf, v);
            }
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<Captured<'_>> {
        let s = self.slots.get(index)?;
        let start = self.set.0.shapes[index].start;
        s.present.then(|| Captured {
            value: &self.buf[start..start + s.len as usize],
            truncated: s.truncated,
        })
    }
}

fn length_bit(len: usize) -> u64 {
    1 << (len % 64)
}

impl Slot {
    /// Append as much of `v` as fits in `buf` (this field's bytes).
    fn append(&mut self, buf: &mut [u8], v: &[u8]) {
        let len = self.len as usize;
        let take = v.len().min(buf.len() - len);
        buf[len..len + take].copy_from_slice(&v[..take]);
        // At most `MAX_CAPTURE_VALUE_CAP` (1024): fits.
        self.len = (len + take) as u16;
        self.truncated |= take < v.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&'static str]) -> Captures {
        let specs: Vec<CaptureSpec> = names.iter().map(|n| CaptureSpec::first(n)).collect();
        Captures::new(&CaptureSet::new(&specs))
    }

    #[test]
    fn first_occurrence_trimmed_and_truncated() {
        let mut c = names(&["X-Upstream-Version", "x-long"]);
        c.offer("x-upstream-version", b" canary-v2 ");
        c.offer("X-UPSTREAM-VERSION", b"stable");
        let long = [b'a'; 100];
        c.offer("x-long", &long);
        assert_eq!(
            c.get(0),
            Some(Captured {
                value: b"canary-v2",
                truncated: false
            })
        );
        assert_eq!(
            c.get(1),
            Some(Captured {
                value: &long[..CAPTURE_VALUE_CAP],
                truncated: true
            })
        );
        assert_eq!(c.get(2), None);
        c.clear();
        assert_eq!(c.get(0), None);
    }

    #[test]
    fn sizes_presence_only_and_joined_lists() {
        let mut c = Captures::new(&CaptureSet::new(&[
            CaptureSpec {
                name: "server-timing",
                cap: 24,
                join: true,
            },
            CaptureSpec {
                name: "l5d-proxy-error",
                cap: 0,
                join: false,
            },
            CaptureSpec {
                name: "huge",
                cap: 1 << 20,
                join: false,
            },
        ]));
        assert_eq!(c.buf.len(), 24 + MAX_CAPTURE_VALUE_CAP, "caps are capped");
        c.offer("Server-Timing", b"db;dur=5");
        c.offer("l5d-proxy-error", b"service in fail-fast");
        c.offer("server-timing", b" app;dur=12.5 ");
        let st = c.get(0).unwrap();
        assert_eq!(st.value, b"db;dur=5, app;dur=12.5");
        assert!(!st.truncated);
        assert_eq!(
            c.get(1),
            Some(Captured {
                value: b"",
                truncated: true
            }),
            "present, value not kept"
        );
        c.offer("server-timing", b"total;dur=20");
        let st = c.get(0).unwrap();
        assert_eq!(st.value, b"db;dur=5, app;dur=12.5, ", "cut at 24 bytes");
        assert!(st.truncated);
        // The next response starts afresh.
        c.clear();
        c.offer("server-timing", b"app;dur=1");
        assert_eq!(c.get(0).unwrap().value, b"app;dur=1");
        assert!(!c.get(0).unwrap().truncated);
        assert_eq!(c.get(1), None);
    }
}

//! Capturing selected response header values without allocating.
//!
//! The engine checks expectations such as `x-upstream-version in {stable,
//! canary-v2}` on every response. Names are given once when the decoder is
//! built; for each final response the first occurrence of each named field is
//! copied into a fixed inline buffer of [`CAPTURE_VALUE_CAP`] bytes (longer
//! values are cut and flagged). No heap allocation happens per response.

use crate::head::name_is;

/// Bytes of a captured header value kept inline; longer values are truncated.
pub const CAPTURE_VALUE_CAP: usize = 64;

/// A captured header value, borrowed from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured<'a> {
    /// The value (optional whitespace trimmed), at most [`CAPTURE_VALUE_CAP`] bytes.
    pub value: &'a [u8],
    /// The value on the wire was longer than [`CAPTURE_VALUE_CAP`].
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    present: bool,
    truncated: bool,
    len: usize,
    buf: [u8; CAPTURE_VALUE_CAP],
}

const EMPTY_SLOT: Slot = Slot {
    present: false,
    truncated: false,
    len: 0,
    buf: [0; CAPTURE_VALUE_CAP],
};

#[derive(Debug, Clone, Default)]
pub(crate) struct Captures {
    /// Lower-cased names, allocated once at construction.
    names: Vec<Box<str>>,
    slots: Vec<Slot>,
}

impl Captures {
    pub(crate) fn new(names: &[&str]) -> Self {
        Captures {
            names: names
                .iter()
                .map(|n| n.to_ascii_lowercase().into_boxed_str())
                .collect(),
            slots: vec![EMPTY_SLOT; names.len()],
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        for s in &mut self.slots {
            s.present = false;
        }
    }

    /// Offers one header field of the current final response.
    pub(crate) fn offer(&mut self, name: &str, value: &[u8]) {
        for (n, slot) in self.names.iter().zip(self.slots.iter_mut()) {
            // First occurrence wins: a repeated field cannot silently change
            // what an expectation sees.
            if !slot.present && name_is(name, n) {
                let v = value.trim_ascii();
                let len = v.len().min(CAPTURE_VALUE_CAP);
                slot.buf[..len].copy_from_slice(&v[..len]);
                slot.len = len;
                slot.truncated = v.len() > CAPTURE_VALUE_CAP;
                slot.present = true;
            }
        }
    }

    pub(crate) fn get(&self, index: usize) -> Option<Captured<'_>> {
        let s = self.slots.get(index)?;
        s.present.then(|| Captured {
            value: &s.buf[..s.len],
            truncated: s.truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_trimmed_and_truncated() {
        let mut c = Captures::new(&["X-Upstream-Version", "x-long"]);
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
}

//! Responses of one segment counted by the value of one header ([`Split`]: `--split`, and the
//! headers expectations name), so a canary's share shows per segment.

use super::Stats;

/// Distinct values kept per split counter; more are counted as `other`.
pub const MAX_SPLIT_VALUES: usize = 16;

/// Responses of one segment counted by the value of one header (a canary split).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// Value and count, in order of first appearance.
    pub values: Vec<(Vec<u8>, u64)>,
    /// Responses with a value beyond the first [`MAX_SPLIT_VALUES`].
    pub other: u64,
    /// Responses without the header.
    pub missing: u64,
}

impl Split {
    #[inline]
    fn count(&mut self, value: Option<&[u8]>) {
        let Some(v) = value else {
            self.missing += 1;
            return;
        };
        if let Some(e) = self.values.iter_mut().find(|e| e.0 == v) {
            e.1 += 1;
        } else if self.values.len() < MAX_SPLIT_VALUES {
            self.values.push((v.to_vec(), 1));
        } else {
            self.other += 1;
        }
    }

    pub fn add(&mut self, o: &Split) {
        for (v, n) in &o.values {
            if let Some(e) = self.values.iter_mut().find(|e| &e.0 == v) {
                e.1 += n;
            } else if self.values.len() < MAX_SPLIT_VALUES {
                self.values.push((v.clone(), *n));
            } else {
                self.other += n;
            }
        }
        self.other += o.other;
        self.missing += o.missing;
    }
}

impl Stats {
    /// Count responses per segment (`segments` + none) by `headers` header values.
    pub fn with_splits(mut self, segments: usize, headers: usize) -> Self {
        self.split_headers = headers;
        self.splits = vec![Split::default(); (segments + 1) * headers];
        self
    }

    /// A response of `segment` (its slot; the last is none) had `value` for split header `h`.
    #[inline]
    pub fn split(&mut self, segment: usize, h: usize, value: Option<&[u8]>) {
        if let Some(s) = self.splits.get_mut(segment * self.split_headers + h) {
            s.count(value);
        }
    }
}

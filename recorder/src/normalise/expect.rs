//! `--expect-header`: the values each segment's captured responses had for a header, collected
//! over all kept exchanges, then handed to each request whose own response had the header.

use std::collections::{BTreeMap, BTreeSet};

use ringload_formats::Text;

use super::options::Options;
use super::summary::{ExpectedHeader, SegmentValues};
use crate::exchange::Exchange;

/// Per segment (`None`: no segment): the values seen, and how many requests' responses had
/// the header.
type ValuesBySegment = BTreeMap<Option<String>, (BTreeSet<String>, u64)>;

/// `--expect-header`: per header name and segment, the values captured responses had.
pub(super) struct ExpectedHeaders<'o> {
    names: &'o [String],
    /// One map per name.
    seen: Vec<ValuesBySegment>,
}

impl<'o> ExpectedHeaders<'o> {
    pub(super) fn collect(
        kept: &[Exchange],
        logins: &[bool],
        segments: &[Option<&str>],
        opts: &'o Options,
    ) -> Self {
        let names = &opts.expect_headers[..];
        let mut seen = vec![BTreeMap::new(); names.len()];
        for (i, ex) in kept.iter().enumerate() {
            if logins[i] {
                continue;
            }
            for (k, name) in names.iter().enumerate() {
                let values = response_values(ex, name);
                if values.is_empty() {
                    continue;
                }
                let entry: &mut (BTreeSet<String>, u64) =
                    seen[k].entry(segments[i].map(str::to_string)).or_default();
                entry.0.extend(values);
                entry.1 += 1;
            }
        }
        ExpectedHeaders { names, seen }
    }

    /// Header expectations of one request: for each name its response had, the values its
    /// segment's responses had.
    pub(super) fn for_exchange(
        &self,
        ex: &Exchange,
        segment: Option<&str>,
    ) -> Vec<(Text, Vec<Text>)> {
        let mut out = Vec::new();
        for (k, name) in self.names.iter().enumerate() {
            if response_values(ex, name).is_empty() {
                continue;
            }
            if let Some((values, _)) = self.seen[k].get(&segment.map(str::to_string)) {
                out.push((
                    name.as_str().into(),
                    values.iter().map(|v| v.as_str().into()).collect(),
                ));
            }
        }
        out
    }

    pub(super) fn summary(&self) -> Vec<ExpectedHeader> {
        self.names
            .iter()
            .zip(&self.seen)
            .map(|(name, per)| ExpectedHeader {
                name: name.clone(),
                segments: per
                    .iter()
                    .map(|(seg, (values, n))| SegmentValues {
                        segment: seg.clone(),
                        values: values.iter().cloned().collect(),
                        requests: *n,
                    })
                    .collect(),
            })
            .collect()
    }
}

fn response_values(ex: &Exchange, name: &str) -> Vec<String> {
    ex.response_headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

//! An HdrHistogram interval log of a run, as HdrHistogram's own tools read it (Java's
//! `HistogramLogReader` and `HistogramLogProcessor`, the `hdrhistogram` crate's
//! `IntervalLogIterator`, the plotters wrk2 users feed):
//!
//! - one untagged interval per result window (per second, or the widened window of a long
//!   run), its latency histogram as the run kept it (1 significant digit per window, see
//!   `formats/RESULT.md`);
//! - then one tagged histogram per label x segment over the whole run (3 digits), tag
//!   `label` or `label|segment` with spaces written `_` and commas `;` (tags may hold neither).
//!
//! Values are microseconds: `HistogramLogProcessor -outputValueUnitRatio 1000` shows
//! milliseconds. Histograms are V2 compressed, the only encoding Java's reader takes.
//! `StartTime`/`BaseTime` are when measuring began, when the result says.

use std::time::Duration;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use crate::histogram::{decode, decode_with};
use crate::model::Report;

/// The interval log of `r`; `Err` names a histogram of the result that cannot be read.
pub fn render(r: &Report) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let mut b = IntervalLogWriterBuilder::new();
    b.add_comment("[Histogram log format version 1.3]");
    b.add_comment(&format!(
        "ringload {}: {} against {}; values in microseconds",
        r.tool_version,
        one_line(&r.plan),
        one_line(&r.run.target)
    ));
    if let Some(ms) = r.run.started_at_unix_ms {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(ms);
        b.with_start_time(t).with_base_time(t);
    }
    let mut log = b
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut out, &mut ser)
        .map_err(|e| e.to_string())?;
    let width = Duration::from_secs(u64::from(r.window_s.max(1)));
    for w in &r.windows {
        let h = decode_with(&w.histogram, ringload_engine::stats::WINDOW_DIGITS)
            .map_err(|e| format!("windows[second {}]: {e}", w.second))?;
        log.write_histogram(&h, width * w.second as u32, width, None)
            .map_err(|e| e.to_string())?;
    }
    let whole = Duration::from_secs_f64(r.summary.duration_s.max(0.0));
    for g in r.labels.iter() {
        let h = decode(&g.histogram).map_err(|e| format!("labels[{:?}]: {e}", g.label))?;
        let mut tag = g.label.clone().unwrap_or_default();
        if let Some(s) = &g.segment {
            tag = format!("{tag}|{s}");
        }
        if g.auth {
            tag = format!("login:{tag}");
        }
        let tag = tag_text(&tag);
        log.write_histogram(&h, Duration::ZERO, whole, Tag::new(&tag))
            .map_err(|e| e.to_string())?;
    }
    drop(log);
    Ok(out)
}

/// A tag's text: no space, comma or line break (the log's separators).
pub fn tag_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' | '\t' => '_',
            ',' => ';',
            '\r' | '\n' => '_',
            c => c,
        })
        .collect()
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

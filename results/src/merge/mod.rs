//! `ringload merge`: results of runs that went on at the same time (shards of one plan on many
//! workers, `run --shard K/N`) merged into one, losslessly: counts add up, and every latency
//! figure comes from the sum of the workers' whole histograms (never from averaging
//! percentiles), per label x segment, per segment, per second, for service time and lag.
//!
//! Rates add up (the workers sent at the same time); the duration is the longest worker's.
//!
//! Files are read one at a time, twice: first each one's start and duration (checked, so that
//! the per-second windows can be lined up and a bad file named before any histogram is read),
//! then everything else, added into accumulators that keep histograms as their non-zero
//! buckets (`sparse`). Memory is bounded by budgets over all files together, refused with a
//! message naming the budget (see `formats/RESULT.md`): file size, label groups, seconds,
//! histogram buckets, names.
//!
//! The flow, in [`merge_with`]: decode each file's head and line the workers up (`timeline`),
//! decode each whole file and add it in (`add`, into `acc`'s accumulators, charged to
//! `budget`), then build the merged result (`finish`). Here: `Merger`, everything summed so
//! far, and [`merge_with`]. In the children:
//!
//! - `budget`: the limits on one result and on all files together, the budget charged as they grow
//! - `timeline`: the first pass, each file's start and duration checked and lined up in time
//! - `acc`: the accumulators of groups and seconds, and of groups by key in first-seen order
//! - `add`: the += of one parsed file into the `Merger`
//! - `finish`: the merged [`Report`] built from the sums

mod acc;
mod add;
mod budget;
mod finish;
mod timeline;

use std::collections::BTreeMap;

use crate::ResultsError;
use crate::json::parse_json;
use crate::model::Report;
use crate::sparse::Sparse;
use acc::{Acc, Ordered, WindowAcc};
use budget::Budget;
use timeline::{HeadIn, timeline};

pub use budget::{MAX_BUCKETS, MAX_GROUPS, MAX_NAME_BYTES, MAX_TOTAL_GROUPS, MAX_WINDOWS};

/// Everything summed so far.
#[derive(Default)]
struct Merger {
    budget: Budget,
    files: usize,
    summary: Acc,
    /// In the order the first result lists them (then any new ones in their order).
    labels: Ordered<(Option<String>, Option<String>, bool)>,
    /// Width of the merged windows: the widest any file used (long runs widen theirs).
    window_s: u32,
    segments: Ordered<Option<String>>,
    windows: BTreeMap<usize, WindowAcc>,
    service: Sparse,
    lag: Sparse,
    status: BTreeMap<String, u64>,
    resent: u64,
    dropped: u64,
    logins: u64,
    send_rate: f64,
    duration: f64,
    interrupted: bool,
    /// Every file's provenance, in the order given.
    provenance: Vec<crate::model::Provenance>,
    /// Connection and TLS costs, summed like the latencies.
    connect: Sparse,
    tls: Option<(u64, u64, Sparse, Vec<String>)>,
    /// Requests per connection, and captured connections that waited for one.
    per_conn: Sparse,
    conn_waits: u64,
    bytes_in: u64,
    bytes_out: u64,
    opened: u64,
    closes: u64,
    unsolicited: u64,
    connections: usize,
    threads: usize,
    targets: Vec<String>,
    invalid: Vec<String>,
    /// What the merged result takes from the first file.
    first: Option<First>,
}

/// The first file's plan and run description, which the merged result keeps.
#[derive(Default)]
struct First {
    plan: String,
    pipeline: usize,
    load: String,
    stop: String,
    warmup_s: f64,
    timeout_s: f64,
}

/// Merge the results named `names`, reading file `i`'s bytes with `read(i)` (twice: once for
/// its start and duration, once for the rest), one file at a time. Public for the fuzz target.
pub fn merge_with(
    names: &[String],
    mut read: impl FnMut(usize) -> Result<Vec<u8>, ResultsError>,
) -> Result<Report, ResultsError> {
    let mut heads = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let head: HeadIn = parse_json(name, &read(i)?)?;
        heads.push((name.clone(), head));
    }
    let timeline = timeline(&heads)?;
    let window_s = heads.iter().map(|h| h.1.window_s).max().unwrap_or(1);
    drop(heads);
    let mut m = Merger {
        window_s,
        ..Merger::default()
    };
    for (i, name) in names.iter().enumerate() {
        let r: Report = parse_json(name, &read(i)?)?;
        m.add(name, r, timeline.shifts[i])
            .map_err(ResultsError::Invalid)?;
    }
    Ok(m.finish(timeline))
}

#[cfg(test)]
mod tests;

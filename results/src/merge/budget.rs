//! The merge's budgets and checks: what one result, and all files together, may hold
//! (group, second, bucket and name counts, documented in `formats/RESULT.md`), the `Budget`
//! charged as the accumulators grow, and the refusals that name the budget.

use crate::sparse::Sparse;

/// Most split headers a group may hold.
pub(super) const MAX_SPLIT_HEADERS: usize = 64;
/// Widest window a result may use (a power of two, seconds).
pub(super) const MAX_WINDOW_S: u32 = 1 << 20;

/// Most label x segment and segment groups one result may hold.
pub const MAX_GROUPS: usize = 10_000;
/// Most distinct groups over all files together (each holds a merged histogram).
pub const MAX_TOTAL_GROUPS: usize = 20_000;
/// Most seconds a result, or the merged one, may span (two days: a run lasts at most one,
/// workers start apart by less than that when they ran together).
pub const MAX_WINDOWS: usize = 2 * 86_400;
/// Most non-zero histogram buckets held over all merged histograms (16 bytes each: 64 MiB).
pub const MAX_BUCKETS: usize = 4 << 20;
/// Most bytes of label, segment, target and plan names held over all files.
pub const MAX_NAME_BYTES: usize = 16 << 20;
/// Most status codes in one result.
pub(super) const MAX_STATUS: usize = 1000;
/// A result's start before this (2020-01-01) or after 2100 is not a time a run took place.
pub(super) const EARLIEST_START_MS: u64 = 1_577_836_800_000;
pub(super) const LATEST_START_MS: u64 = 4_102_444_800_000;
/// Longest duration a result may state (a day of sending and a day of drain, with room).
pub(super) const MAX_DURATION_S: f64 = 7.0 * 86_400.0;

/// Budgets over all files, charged as accumulators grow.
#[derive(Default)]
pub(super) struct Budget {
    buckets: usize,
    names: usize,
}

impl Budget {
    fn buckets(&mut self, before: usize, after: usize, name: &str) -> Result<(), String> {
        self.buckets = (self.buckets + after).saturating_sub(before);
        if self.buckets > MAX_BUCKETS {
            return Err(format!(
                "{name}: the merged histograms would hold more than {MAX_BUCKETS} buckets \
                 ({} MiB, the merge budget)",
                (MAX_BUCKETS * 16) >> 20
            ));
        }
        Ok(())
    }

    pub(super) fn name(&mut self, bytes: usize, name: &str) -> Result<(), String> {
        self.names = self.names.saturating_add(bytes);
        if self.names > MAX_NAME_BYTES {
            return Err(format!(
                "{name}: label, segment, target and plan names over {} MiB in all files \
                 (the merge budget)",
                MAX_NAME_BYTES >> 20
            ));
        }
        Ok(())
    }
}

/// Add a histogram (`what`: its JSON path in `name`) into `dst`, charging the budget.
pub(super) fn add_histogram(
    dst: &mut Sparse,
    b64: &str,
    digits: u8,
    name: &str,
    what: &str,
    budget: &mut Budget,
) -> Result<(), String> {
    let h = Sparse::decode(b64, digits).map_err(|e| format!("{name}: {what}: {e}"))?;
    let before = dst.len();
    dst.add(&h).map_err(|e| format!("{name}: {what}: {e}"))?;
    budget.buckets(before, dst.len(), name)
}

/// A number a result states must be finite and not negative.
pub(super) fn check_number(v: f64, name: &str, what: &str) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name}: {what}: {v} is not a finite number >= 0"))
    }
}

pub(super) fn too_many_groups(name: &str) -> String {
    format!(
        "{name}: the files hold more than {MAX_TOTAL_GROUPS} distinct label and segment groups \
         together (the merge budget)"
    )
}

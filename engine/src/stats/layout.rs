//! How stats rows are numbered ([`KeyLayout`]) and what each one counts ([`Row`]).

/// What one stats row counts: the requests of a label in a segment (or in none), or the
/// logins of an auth profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Row {
    Step { label: u32, segment: Option<u32> },
    Login { profile: u32 },
}

/// How rows are numbered: the steps' `label * (segments + 1) + segment` (the last slot for no
/// segment), then one per auth profile. The engine indexes its rows by this number; readers
/// ask [`KeyLayout::row`] what a number means instead of doing the arithmetic themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyLayout {
    pub labels: u32,
    pub segments: u32,
    pub profiles: u32,
}

impl KeyLayout {
    /// Rows in all.
    pub fn len(&self) -> usize {
        self.labels as usize * (self.segments as usize + 1) + self.profiles as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of `row`.
    pub fn key(&self, row: Row) -> u32 {
        match row {
            Row::Step { label, segment } => {
                label * (self.segments + 1) + segment.unwrap_or(self.segments)
            }
            Row::Login { profile } => self.labels * (self.segments + 1) + profile,
        }
    }

    /// What row `key` is.
    pub fn row(&self, key: u32) -> Row {
        let steps = self.labels * (self.segments + 1);
        if key >= steps {
            return Row::Login {
                profile: key - steps,
            };
        }
        let (label, s) = (key / (self.segments + 1), key % (self.segments + 1));
        Row::Step {
            label,
            segment: (s < self.segments).then_some(s),
        }
    }

    /// The segment slot of a step row (`segments` for none), for per-segment counters.
    pub fn segment_slot(&self, key: u32) -> usize {
        (key % (self.segments + 1)) as usize
    }
}

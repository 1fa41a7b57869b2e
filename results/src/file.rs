//! Reading result files: bounded in size, parsed with errors that name the file, the JSON path,
//! line and column, and told apart by their `format` field (a run's or merge's result, or a
//! comparison).

use serde::Deserialize;

use crate::ResultsError;
use crate::compare::{COMPARE_FORMAT, Comparison};
use crate::json::{parse_as, parse_json};
use crate::model::{FORMAT, Report};

/// Largest result file read (a day-long run with per-second windows is some 40 MB).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// A result file of either kind.
#[derive(Debug)]
pub enum Loaded {
    /// `run` or `merge` (`ringload-result/1`).
    Run(Box<Report>),
    /// `compare` (`ringload-compare/1`).
    Compare(Box<Comparison>),
}

/// A result file's bytes, at most [`MAX_FILE_BYTES`].
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, ResultsError> {
    use std::io::Read as _;
    let name = path.display();
    let f = std::fs::File::open(path).map_err(|e| ResultsError::Invalid(format!("{name}: {e}")))?;
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ResultsError::Invalid(format!("{name}: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ResultsError::Invalid(format!(
            "{name}: larger than the {} MiB a result file may be",
            MAX_FILE_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// Read a result of either kind (`name` names it in errors). A run result is checked as
/// `merge` checks its inputs, so that renderers and gates see only numbers that make sense.
pub fn load(name: &str, bytes: &[u8]) -> Result<Loaded, ResultsError> {
    #[derive(Deserialize)]
    struct Kind {
        format: String,
    }
    let kind: Kind = parse_as(name, bytes, "result")?;
    match kind.format.as_str() {
        FORMAT => {
            // Merge's reader checks every number and bounds every histogram; what it builds
            // is dropped: the file is shown as it was written.
            crate::merge::merge_with(&[name.to_string()], |_| Ok(bytes.to_vec()))?;
            Ok(Loaded::Run(Box::new(parse_json(name, bytes)?)))
        }
        COMPARE_FORMAT => {
            let c: Comparison = parse_as(name, bytes, COMPARE_FORMAT)?;
            Ok(Loaded::Compare(Box::new(c)))
        }
        other => Err(ResultsError::Invalid(format!(
            "{name}: format: {other:?} is neither a run result ({FORMAT}) nor a comparison \
             ({COMPARE_FORMAT})"
        ))),
    }
}

//! Reading and writing plan files on disk (the formats crate only sees `Read`/`Write`).

use std::fs::OpenOptions;
use std::io::{BufReader, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ringload_formats::{FormatError, Plan, read_plan_digest, write_plan};

use crate::error::CliError;

/// Read a plan to inspect or replay: a plan without a single step is refused here, for every
/// command alike (ringload never writes one; there is nothing to show or send). With it, the
/// file's SHA-256 in hex (a result's provenance names the plan by it).
pub fn load(path: &Path) -> Result<(Plan, String), CliError> {
    let err = |source| CliError::Plan {
        path: path.to_path_buf(),
        source,
    };
    let f = std::fs::File::open(path).map_err(|e| err(FormatError::Io(e)))?;
    let (plan, sha256) = read_plan_digest(BufReader::new(f)).map_err(err)?;
    if plan.step_count() == 0 {
        return Err(CliError::BadInput(format!(
            "{}: the plan has no steps (nothing to inspect or replay)",
            path.display()
        )));
    }
    Ok((plan, sha256))
}

/// Write atomically (temp file + rename), mode 0600 when the plan holds secrets.
pub fn save(path: &Path, plan: &Plan) -> Result<u64, CliError> {
    let err = |source| CliError::Plan {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("plan.tmp");
    let mode = if plan.meta.holds_secrets {
        0o600
    } else {
        0o644
    };
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| err(FormatError::Io(e)))?;
    let written = write_plan(BufWriter::new(f), plan).map_err(err);
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, path).map_err(|e| err(FormatError::Io(e)))?;
    Ok(written)
}

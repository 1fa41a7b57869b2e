//! `--users FILE`: the accounts sessions log in as, a CSV whose header names login body fields
//! (`username,password`), read whole (at most [`MAX_USERS_BYTES`]) before anything is sent.

use std::path::Path;

use ringload_engine::Users;

use crate::error::CliError;

/// Largest `--users` file read.
pub const MAX_USERS_BYTES: u64 = 64 << 20;

/// A CSV with a header row; every row has every column.
pub fn read(path: &Path) -> Result<Users, CliError> {
    let name = path.display();
    let bad = |why: String| CliError::BadInput(format!("--users {name}: {why}"));
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if meta.len() > MAX_USERS_BYTES {
        return Err(bad(format!("larger than {} MiB", MAX_USERS_BYTES >> 20)));
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad(e.to_string()))?;
    let columns: Vec<String> = r
        .headers()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    if columns.is_empty() || columns.iter().any(String::is_empty) {
        return Err(bad(
            "the first line must name the columns (e.g. username,password)".into(),
        ));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(format!("line {}: {e}", i + 2)))?;
        if rec.len() != columns.len() {
            return Err(bad(format!(
                "line {}: {} fields, the header has {}",
                i + 2,
                rec.len(),
                columns.len()
            )));
        }
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(bad("no rows after the header".into()));
    }
    Ok(Users { columns, rows })
}

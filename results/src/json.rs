//! JSON read with errors that name the file, the JSON path (escaped, at most 100
//! characters), the line and the column, and what kind of file was expected.

use serde::de::DeserializeOwned;

use crate::ResultsError;
use crate::model::FORMAT;

/// Parse a run result's JSON, an error naming the file, the JSON path and the line and column.
pub fn parse_json<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, ResultsError> {
    parse_as(name, bytes, FORMAT)
}

pub fn parse_as<T: DeserializeOwned>(
    name: &str,
    bytes: &[u8],
    kind: &str,
) -> Result<T, ResultsError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // Keys are the file's: control characters escaped (one line), at most 100 characters.
        let raw = e.path().to_string();
        let mut path: String = raw.chars().take(100).flat_map(char::escape_debug).collect();
        if raw.chars().nth(100).is_some() {
            path.push_str("...");
        }
        let inner = e.into_inner();
        // serde_json ends its messages with " at line L column C": said once, below.
        let text = inner.to_string();
        let what = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(w, _)| w);
        let place = if path == "." || path.is_empty() {
            String::new()
        } else {
            format!("{path}: ")
        };
        ResultsError::Invalid(format!(
            "{name}: {place}{what} (line {}, column {}); not a ringload {kind} file",
            inner.line(),
            inner.column()
        ))
    })
}

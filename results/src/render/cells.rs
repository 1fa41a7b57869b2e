//! Table cells shared by the text and HTML renderers and what the hops said (`hops`): named
//! non-zero counts and names cut to a column's width.

/// The counts that are not 0, named: `reset=3 timeout=1` (with `sep` `=`), empty when every one
/// is 0.
pub fn nonzero_counts(counts: &[(&str, u64)], sep: &str) -> String {
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k}{sep}{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` cut to `n` characters, the last one an ellipsis when it was longer.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

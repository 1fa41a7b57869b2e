//! A [`crate::Report`] or [`crate::Comparison`] shown: as a terminal table (`text`), a
//! self-contained page (`html`), Locust-style CSV rows (`csv`) or an HdrHistogram interval log
//! (`hdr`). JSON is the model itself (`serde_json`). The page's charts: `svg` draws a line
//! chart, `charts` computes the ones the result does not hold ready (percentile spectrum,
//! failures per second by class). `hops` shows what the hops said (failure origins, upstream
//! time and overhead) and `provenance` where the result came from, for `text` and `html`.

pub mod cells;
mod charts;
pub mod csv;
pub mod hdr;
pub mod hops;
pub mod html;
pub mod provenance;
mod svg;
pub mod text;

/// `; N captured connections waited for a free one`, when some did (text and HTML).
fn waits_note(s: &crate::model::Summary) -> String {
    if s.connection_waits == 0 {
        return String::new();
    }
    format!(
        "; {} captured connections waited for a free one",
        s.connection_waits
    )
}

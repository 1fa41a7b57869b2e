//! A [`crate::Report`] or [`crate::Comparison`] shown: as a terminal table (`text`), a
//! self-contained page (`html`), Locust-style CSV rows (`csv`) or an HdrHistogram interval log
//! (`hdr`). JSON is the model itself (`serde_json`). `hops` shows what the hops said (failure
//! origins, upstream time and overhead) for `text` and `html`.

pub mod csv;
pub mod hdr;
pub mod hops;
pub mod html;
pub mod text;

//! The HAR 1.2 JSON shape serde reads: `log` with its version, creator and entries, and of each
//! entry the request, response and connection fields the conversion uses (others are ignored).

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub(super) struct HarFile {
    pub(super) log: Log,
}

#[derive(Deserialize)]
pub(super) struct Log {
    pub(super) version: Option<String>,
    pub(super) creator: Option<Creator>,
    pub(super) entries: Option<Vec<Value>>,
}

#[derive(Deserialize)]
pub(super) struct Creator {
    pub(super) name: Option<String>,
    pub(super) version: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Entry {
    pub(super) started_date_time: String,
    pub(super) request: Request,
    pub(super) response: Option<Response>,
    pub(super) connection: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Request {
    pub(super) method: String,
    pub(super) url: String,
    #[serde(default)]
    pub(super) headers: Vec<NameValue>,
    pub(super) post_data: Option<PostData>,
}

#[derive(Deserialize)]
pub(super) struct NameValue {
    pub(super) name: String,
    #[serde(default)]
    pub(super) value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostData {
    pub(super) mime_type: Option<String>,
    pub(super) text: Option<String>,
    pub(super) params: Option<Vec<Param>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Param {
    pub(super) name: String,
    pub(super) value: Option<String>,
    pub(super) file_name: Option<String>,
    pub(super) content_type: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Response {
    pub(super) status: Option<i64>,
    #[serde(default)]
    pub(super) headers: Vec<NameValue>,
    pub(super) content: Option<Content>,
}

#[derive(Deserialize)]
pub(super) struct Content {
    pub(super) text: Option<String>,
    pub(super) encoding: Option<String>,
}

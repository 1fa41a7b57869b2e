//! What a captured request becomes in the plan: hop-by-hop and framing headers dropped, the
//! slotted or stripped credential removed, secrets redacted.

use ringload_formats::{Text, TokenPlace};

use super::options::Options;
use crate::auth;
use crate::exchange::Exchange;
use crate::redact;

/// Headers that describe one hop or the framing, never replayed as captured.
const DROPPED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// A request's headers, target and body as the plan stores them: hop-by-hop and framing
/// headers dropped, the credentials at `removed` taken out, then secrets redacted (`--redact`;
/// `user_fields` of a login become placeholders too).
pub(super) fn prepare(
    ex: &Exchange,
    removed: Option<&[&TokenPlace]>,
    opts: &Options,
    user_fields: &[String],
) -> (Vec<(String, String)>, String, Vec<u8>) {
    let mut headers: Vec<(String, String)> = ex
        .headers
        .iter()
        .filter(|(n, _)| !n.starts_with(':') && !DROPPED.iter().any(|d| n.eq_ignore_ascii_case(d)))
        .cloned()
        .collect();
    let mut target = ex.path.clone();
    for place in removed.unwrap_or_default() {
        auth::remove_credential(&mut headers, &mut target, place);
    }
    let mut body = ex.body.clone();
    if opts.redact {
        redact::headers(&mut headers);
        target = redact::target(&target);
        body = redact::fields(&headers, &body, user_fields);
        body = redact::body(&headers, &body);
    }
    (headers, target, body)
}

pub(super) fn texts(headers: Vec<(String, String)>) -> Vec<(Text, Text)> {
    headers
        .into_iter()
        .map(|(n, v)| (n.into(), v.into()))
        .collect()
}

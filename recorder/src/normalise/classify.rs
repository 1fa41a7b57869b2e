//! Per-exchange decisions made from the exchange and the options alone: kept or skipped
//! (`--host`, `--exclude`), its segment (`--segment`, `--default-segment`), its connection across
//! captures, and its session key (`--session-by`).

use super::options::{Options, SessionBy};
use crate::exchange::Exchange;

pub(super) fn filter(ex: &Exchange, opts: &Options) -> Option<&'static str> {
    if !opts.hosts.is_empty() {
        let auth = ex.authority.as_deref().unwrap_or("");
        let host = auth.rsplit_once(':').map_or(auth, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                auth
            }
        });
        if !opts
            .hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(auth) || h.eq_ignore_ascii_case(host))
        {
            return Some("other host (--host)");
        }
    }
    if opts.exclude.iter().any(|re| re.is_match(&ex.path)) {
        return Some("excluded (--exclude)");
    }
    None
}

/// The captured connection of `ex`, which came from capture number `capture`: each source numbers
/// its own connections from 0, so those of later captures get the capture's number in their top
/// byte (the first capture's are kept as they are; a HAR's hashed ids may lose a bit or two).
pub(super) fn connection_of(ex: &Exchange, capture: usize) -> Option<u64> {
    ex.connection.map(|c| c ^ ((capture as u64) << 56))
}

pub(super) fn session_key(ex: &Exchange, connection: Option<u64>, by: &SessionBy) -> String {
    let header = |name: &str| {
        ex.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    match by {
        SessionBy::Connection => connection.map_or(String::new(), |c| c.to_string()),
        SessionBy::ClientIp => ex.client.clone().unwrap_or_default(),
        SessionBy::Header(n) => header(n).unwrap_or("").to_string(),
        SessionBy::Cookie(name) => ex
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| k == name)
            .map_or(String::new(), |(_, v)| v.to_string()),
    }
}

/// The segment of a request: the first `--segment` rule its headers match, else
/// `--default-segment`.
pub(super) fn segment_of<'o>(headers: &[(String, String)], opts: &'o Options) -> Option<&'o str> {
    opts.segments
        .iter()
        .find(|r| {
            headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(&r.header) && v.trim() == r.value)
        })
        .map(|r| r.name.as_str())
        .or(opts.default_segment.as_deref())
}

//! What recording did, for the summary printed after `record`: requests, skips, labels, the
//! auth profiles found, and the `--expect-header` values per segment.

use std::collections::BTreeMap;

use ringload_formats::TokenLocation;

use crate::auth::{self, FoundProfile};

/// What recording did, for the summary printed after `record`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Requests kept, per source kind.
    pub requests: BTreeMap<String, u64>,
    /// Items skipped, by reason (sources' and normalisation's).
    pub skipped: BTreeMap<String, u64>,
    /// Steps per label.
    pub labels: BTreeMap<String, u64>,
    pub sessions: u64,
    pub steps: u64,
    pub distinct_requests: u64,
    pub auth: AuthSummary,
    /// `--expect-header` values per segment.
    pub expected_headers: Vec<ExpectedHeader>,
}

/// What auth detection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthSummary {
    pub profiles: Vec<ProfileSummary>,
    /// Sessions (and steps) that still carry a token no captured login handed out.
    pub outside_sessions: u64,
    pub outside_steps: u64,
    /// Steps whose credentials `--auth strip` removed.
    pub stripped_steps: u64,
}

/// One auth profile, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileSummary {
    pub name: String,
    /// `METHOD path` of the login request.
    pub login: String,
    /// `json /access_token`, `cookie sid`, `header X-Auth-Token`.
    pub token_at: String,
    /// `Authorization: Bearer`, `cookie sid`, `query access_token`.
    pub send_as: String,
    pub expires_in_s: Option<u64>,
    pub user_fields: Vec<String>,
    /// Captured logins of this shape (not steps).
    pub logins: u64,
    /// Steps that got the slot.
    pub steps: u64,
    pub by_hand: bool,
}

impl ProfileSummary {
    pub(super) fn of(p: &FoundProfile) -> Self {
        ProfileSummary {
            name: p.name.clone(),
            login: format!(
                "{} {}",
                p.login.method,
                p.login.path.split('?').next().unwrap_or("")
            ),
            token_at: location_text(&p.token_at),
            send_as: auth::place_text(&p.send_as),
            expires_in_s: p.expires_in_s,
            user_fields: p.user_fields.clone(),
            logins: p.logins,
            steps: p.steps,
            by_hand: p.by_hand,
        }
    }
}

/// `json /access_token`, `header X-Auth-Token`, `cookie sid`.
pub fn location_text(l: &TokenLocation) -> String {
    match l {
        TokenLocation::JsonPointer(p) => format!("json {p}"),
        TokenLocation::Header(h) => format!("header {h}"),
        TokenLocation::Cookie(c) => format!("cookie {c}"),
    }
}

/// The values one `--expect-header` had, per segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedHeader {
    pub name: String,
    pub segments: Vec<SegmentValues>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentValues {
    /// `None`: requests in no segment.
    pub segment: Option<String>,
    pub values: Vec<String>,
    /// Requests whose response had the header.
    pub requests: u64,
}

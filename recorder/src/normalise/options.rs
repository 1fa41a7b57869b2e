//! What normalisation can be told: `--segment` rules, `--session-by`, and the [`Options`] the CLI
//! builds once from its arguments.

use regex::Regex;

use crate::auth::AuthOptions;
use crate::error::RecordError;
use crate::label::LabelRule;

/// `--segment NAME=HEADER:VALUE`: requests carrying `HEADER: VALUE` are tagged `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRule {
    pub name: String,
    pub header: String,
    pub value: String,
}

impl std::str::FromStr for SegmentRule {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            RecordError::Option(format!(
                "--segment {s:?}: expected NAME=HEADER:VALUE, e.g. canary=x-user-segment:beta-testers"
            ))
        };
        let (name, rest) = s.split_once('=').ok_or_else(bad)?;
        let (header, value) = rest.split_once(':').ok_or_else(bad)?;
        if name.trim().is_empty() || header.trim().is_empty() {
            return Err(bad());
        }
        Ok(SegmentRule {
            name: name.trim().to_string(),
            header: header.trim().to_string(),
            value: value.trim().to_string(),
        })
    }
}

/// `--session-by`: what groups requests into sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SessionBy {
    /// The captured connection (default); requests without one form a single session.
    #[default]
    Connection,
    Header(String),
    Cookie(String),
    ClientIp,
}

impl std::str::FromStr for SessionBy {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            None if s == "connection" => Ok(SessionBy::Connection),
            None if s == "client-ip" => Ok(SessionBy::ClientIp),
            Some(("header", n)) if !n.is_empty() => Ok(SessionBy::Header(n.to_string())),
            Some(("cookie", n)) if !n.is_empty() => Ok(SessionBy::Cookie(n.to_string())),
            _ => Err(RecordError::Option(format!(
                "--session-by {s:?}: expected connection, client-ip, header:NAME or cookie:NAME"
            ))),
        }
    }
}

/// Everything normalisation can be told; built once from CLI arguments.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub segments: Vec<SegmentRule>,
    /// Segment of requests that match no `--segment` rule (e.g. `stable`); none by default.
    pub default_segment: Option<String>,
    pub label_rules: Vec<LabelRule>,
    pub session_by: SessionBy,
    /// Keep only requests addressed to these hosts (port optional), case-insensitive.
    pub hosts: Vec<String>,
    /// Drop requests whose path+query matches any of these.
    pub exclude: Vec<Regex>,
    pub redact: bool,
    /// `--auth`, `--auth-login`: what happens to credentials.
    pub auth: AuthOptions,
    /// `--expect-header NAME`: store, per segment, the values captured responses had.
    pub expect_headers: Vec<String>,
    /// `--expect-status`: store the captured status class as each request's expectation.
    pub expect_status: bool,
    pub tags: Vec<(String, String)>,
    /// Written into the plan's metadata.
    pub tool_version: String,
    pub created_unix_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_parsing() {
        let s: SegmentRule = "canary=x-user-segment:beta-testers".parse().unwrap();
        assert_eq!(
            (s.name.as_str(), s.header.as_str(), s.value.as_str()),
            ("canary", "x-user-segment", "beta-testers")
        );
        assert!("canary".parse::<SegmentRule>().is_err());
        assert_eq!(
            "cookie:sid".parse::<SessionBy>().unwrap(),
            SessionBy::Cookie("sid".into())
        );
        assert!("cookie:".parse::<SessionBy>().is_err());
    }
}

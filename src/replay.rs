//! What a replay changes in a plan's requests and checks (shared by `run` and `compare`):
//! header overrides, tokens (`--auth-token`, `--users`), expectations and splits, and what the
//! hops' answers mean (`mesh_args`).

use std::path::{Path, PathBuf};

use clap::Args;
use ringload_engine::{ExpectRule, ExpectScope, Replay};
use ringload_formats::{Plan, StatusRule};

use crate::error::CliError;

#[derive(Debug, Args, Default)]
pub struct ReplayArgs {
    /// Replace or add a header on every request, e.g. `-H 'Authorization: Bearer x'`
    /// (repeatable). An override of an auth profile's header fills that slot for everyone.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Put this token in every auth slot instead of logging in.
    #[arg(long, value_name = "TOKEN")]
    pub auth_token: Option<String>,
    /// Accounts for the sessions' logins: a CSV file with a header row whose columns name
    /// login body fields (e.g. `username,password`); session N logs in with row N (in turn).
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Add or override an expectation, e.g. `segment=canary:x-upstream-version=canary-v2`,
    /// `label=GET /api/v1/orders:status=2xx`, `status=2xx,304` (all requests); values are
    /// separated by `|` (repeatable). A broken expectation is a `validation` failure.
    #[arg(long, value_name = "[SCOPE:]RULE")]
    pub expect: Vec<String>,
    /// Report, per segment, the share of responses by this header's value (repeatable; every
    /// header an expectation names is split too).
    #[arg(long, value_name = "HEADER")]
    pub split: Vec<String>,
    #[command(flatten)]
    pub mesh: crate::mesh_args::MeshArgs,
}

impl ReplayArgs {
    /// The engine's replay settings for `plan` (read from `plan_path`), checked before anything
    /// is sent.
    pub fn replay(&self, plan: &Plan, plan_path: &Path) -> Result<Replay, CliError> {
        let headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<_, _>>()?;
        let users = self.users.as_deref().map(crate::users::read).transpose()?;
        let expect = self
            .expect
            .iter()
            .map(|e| parse_expect(e))
            .collect::<Result<_, _>>()?;
        for s in &self.split {
            if !is_token(s) {
                return Err(CliError::BadInput(format!(
                    "--split {s:?}: not a header name"
                )));
            }
        }
        if let Some(t) = &self.auth_token
            && (t.is_empty() || t.bytes().any(|b| b == b'\r' || b == b'\n'))
        {
            return Err(CliError::BadInput(
                "--auth-token: empty or holds a line break".into(),
            ));
        }
        // A `-H` override of a profile's header fills its slots: that profile needs no login.
        let needs_login = plan.auth_profiles.iter().find(|p| {
            !matches!(&p.send_as, ringload_formats::TokenPlace::Header { name, .. }
                if headers.iter().any(|(h, _): &(String, String)| h.eq_ignore_ascii_case(name)))
        });
        if plan.meta.redacted
            && users.is_none()
            && self.auth_token.is_none()
            && let Some(p) = needs_login
        {
            let login = &plan.requests[p.login as usize];
            return Err(CliError::BadInput(format!(
                "{}: recorded with --redact, its login ({} {}) holds placeholders instead of \
                 credentials: give --users FILE (a CSV with columns {}) or --auth-token TOKEN",
                plan_path.display(),
                login.method,
                login.target,
                if p.user_fields.is_empty() {
                    "named after the login body's fields".to_string()
                } else {
                    p.user_fields.join(",")
                }
            )));
        }
        Ok(Replay {
            headers,
            auth_token: self.auth_token.clone(),
            users,
            expect,
            split: self.split.clone(),
            mesh: self.mesh.options()?,
        })
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `Name: value`.
fn parse_header(h: &str) -> Result<(String, String), CliError> {
    let bad = |why: &str| CliError::BadInput(format!("-H {h:?}: {why}"));
    let (n, v) = h
        .split_once(':')
        .ok_or_else(|| bad("expected NAME: VALUE"))?;
    let (n, v) = (n.trim(), v.trim());
    if !is_token(n) {
        return Err(bad("not a header name"));
    }
    if v.bytes().any(|b| b == b'\r' || b == b'\n') {
        return Err(bad("the value holds a line break"));
    }
    if ["host", "content-length", "transfer-encoding"]
        .iter()
        .any(|x| n.eq_ignore_ascii_case(x))
    {
        return Err(bad("ringload writes this header itself"));
    }
    Ok((n.to_string(), v.to_string()))
}

/// `[label=LABEL:|segment=NAME:]status=2xx,304` or `[...:]HEADER=V1|V2`. The scope ends at the
/// last `:` followed by `NAME=` (labels hold colons, as in `GET /products/:id`).
pub fn parse_expect(e: &str) -> Result<ExpectRule, CliError> {
    let bad = |why: &str| {
        CliError::BadInput(format!(
            "--expect {e:?}: {why} (e.g. segment=canary:x-upstream-version=canary-v2, \
             label=GET /api/v1/orders:status=2xx)"
        ))
    };
    let rule_start = |s: &str| s.split_once('=').is_some_and(|(name, _)| is_token(name));
    let (scope, rule) = if e.starts_with("label=") || e.starts_with("segment=") {
        let split = e
            .match_indices(':')
            .rev()
            .map(|(i, _)| i)
            .find(|&i| rule_start(&e[i + 1..]))
            .ok_or_else(|| bad("no rule after the scope"))?;
        let (scope, rule) = (&e[..split], &e[split + 1..]);
        let scope = match scope.split_once('=') {
            Some(("label", l)) if !l.is_empty() => ExpectScope::Label(l.to_string()),
            Some(("segment", s)) if !s.is_empty() => ExpectScope::Segment(s.to_string()),
            _ => return Err(bad("the scope is label=LABEL or segment=NAME")),
        };
        (scope, rule)
    } else {
        (ExpectScope::All, e)
    };
    let (name, values) = rule
        .split_once('=')
        .ok_or_else(|| bad("expected NAME=VALUE"))?;
    if name.eq_ignore_ascii_case("status") {
        let rules = values
            .split([',', '|'])
            .map(|v| parse_status(v.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("statuses are codes (200) or classes (2xx)"))?;
        return Ok(ExpectRule {
            scope,
            status: Some(rules),
            header: None,
        });
    }
    if !is_token(name) {
        return Err(bad("not a header name"));
    }
    let values: Vec<String> = values.split('|').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(bad("an empty value"));
    }
    Ok(ExpectRule {
        scope,
        status: None,
        header: Some((name.to_string(), values)),
    })
}

fn parse_status(v: &str) -> Option<StatusRule> {
    match v.as_bytes() {
        [c @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => Some(StatusRule::Class(c - b'0')),
        _ => v
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .map(StatusRule::Exact),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_scopes_and_rules() {
        let r = parse_expect("segment=canary:x-upstream-version=canary-v2").unwrap();
        assert_eq!(r.scope, ExpectScope::Segment("canary".into()));
        assert_eq!(
            r.header,
            Some(("x-upstream-version".into(), vec!["canary-v2".into()]))
        );
        let r = parse_expect("label=GET /api/v1/products/:id:status=2xx,304").unwrap();
        assert_eq!(
            r.scope,
            ExpectScope::Label("GET /api/v1/products/:id".into())
        );
        assert_eq!(
            r.status,
            Some(vec![StatusRule::Class(2), StatusRule::Exact(304)])
        );
        let r = parse_expect("x-v=a|b").unwrap();
        assert_eq!(r.scope, ExpectScope::All);
        assert_eq!(r.header, Some(("x-v".into(), vec!["a".into(), "b".into()])));
        for bad in [
            "segment=canary",
            "status=9xx",
            "label=:status=2xx",
            "x-v=",
            "=1",
        ] {
            assert!(parse_expect(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Authorization: Bearer a:b").unwrap(),
            ("Authorization".into(), "Bearer a:b".into())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("Host: x").is_err());
        assert!(parse_header("bad name: x").is_err());
    }
}

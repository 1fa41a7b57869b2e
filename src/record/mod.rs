//! `ringload record`: sources -> normalisation -> plan file, then a summary.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use ringload_recorder::auth::{parse_send_as, parse_token_at};
use ringload_recorder::source::{access_log, har, pcap, targets};
use ringload_recorder::{
    AuthMode, AuthOptions, LabelRule, ManualLogin, Options, SegmentRule, SessionBy, Summary,
};

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Vegeta-style targets file (`METHOD URL`, `Name: value` headers, `@body`); repeatable.
    #[arg(long, value_name = "FILE")]
    pub targets: Vec<PathBuf>,
    /// HAR 1.2 file (browser devtools, Playwright recordHar); repeatable.
    #[arg(long, value_name = "FILE")]
    pub har: Vec<PathBuf>,
    /// pcap or pcapng capture (tcpdump); repeatable.
    #[arg(long, value_name = "FILE")]
    pub pcap: Vec<PathBuf>,
    /// With --pcap: only TCP streams to these server ports (default: any, HTTP detected).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// Gateway access log; repeatable. See --log-format.
    #[arg(long = "access-log", value_name = "FILE")]
    pub access_log: Vec<PathBuf>,
    /// Access log format: nginx-combined, nginx-json or envoy.
    #[arg(long, value_name = "FORMAT", default_value = "nginx-combined")]
    pub log_format: String,
    /// nginx-json field map, e.g. `method=request_method`; repeatable.
    #[arg(long = "log-field", value_name = "KEY=FIELD")]
    pub log_fields: Vec<String>,
    /// Output plan file.
    #[arg(short, long, value_name = "PLAN")]
    pub output: PathBuf,
    /// Tag requests carrying HEADER: VALUE as segment NAME; repeatable.
    #[arg(long = "segment", value_name = "NAME=HEADER:VALUE")]
    pub segments: Vec<String>,
    /// Segment of requests that match no --segment rule (e.g. stable).
    #[arg(long, value_name = "NAME")]
    pub default_segment: Option<String>,
    /// Label requests whose `METHOD path?query` matches REGEX as LABEL ($1 expands); repeatable.
    #[arg(long = "label-rule", value_name = "REGEX=LABEL")]
    pub label_rules: Vec<String>,
    /// Group requests into sessions by: connection, client-ip, header:NAME, cookie:NAME.
    #[arg(long, value_name = "KEY", default_value = "connection")]
    pub session_by: String,
    /// Keep only requests to this host (port optional); repeatable.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// Drop requests whose path+query matches this regex; repeatable.
    #[arg(long, value_name = "PATH-REGEX")]
    pub exclude: Vec<String>,
    /// Replace credentials (Authorization, cookies, password-like fields) by placeholders; a
    /// login keeps its shape with placeholders in its user fields (replay it with --users).
    #[arg(long)]
    pub redact: bool,
    /// Credentials: detect (logins found in the capture become auth profiles; requests that
    /// carried their tokens get a slot filled at replay), keep (as captured), strip (token-like
    /// credentials removed, no slots).
    #[arg(long, value_name = "MODE", default_value = "detect")]
    pub auth: String,
    /// A login defined by hand: a targets-style file with one request (e.g. the token
    /// endpoint's POST with its form body). It slots every request carrying the credential
    /// --auth-send-as names.
    #[arg(long, value_name = "FILE")]
    pub auth_login: Option<PathBuf>,
    /// With --auth-login: where the token is in its response: a JSON pointer, cookie:NAME or
    /// header:NAME.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/access_token",
        requires = "auth_login"
    )]
    pub auth_token_path: String,
    /// With --auth-login: where the token goes: bearer (Authorization: Bearer), header:NAME,
    /// header:NAME:SCHEME, cookie:NAME or query:NAME.
    #[arg(
        long,
        value_name = "PLACE",
        default_value = "bearer",
        requires = "auth_login"
    )]
    pub auth_send_as: String,
    /// Store, per segment, the values this response header had in the capture as the
    /// expectation of the segment's requests whose responses had it; repeatable.
    #[arg(long = "expect-header", value_name = "NAME")]
    pub expect_headers: Vec<String>,
    /// Store each request's captured status class (2xx, 4xx...) as its expectation (by
    /// default a replay counts any status below 400 as ok).
    #[arg(long)]
    pub expect_status: bool,
    /// Free-form `key=value` tag stored in the plan (e.g. mesh=istio); repeatable.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub proxy: crate::proxy::RecordProxyArgs,
}

fn key_value(s: &str, what: &str) -> Result<(String, String), CliError> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| CliError::BadInput(format!("{what} {s:?}: expected KEY=VALUE")))
}

impl RecordArgs {
    fn options(&self) -> Result<Options, CliError> {
        let exclude = self
            .exclude
            .iter()
            .map(|r| {
                ringload_recorder::normalise::compile_regex("--exclude", r).map_err(CliError::from)
            })
            .collect::<Result<_, _>>()?;
        Ok(Options {
            segments: self
                .segments
                .iter()
                .map(|s| s.parse::<SegmentRule>())
                .collect::<Result<_, _>>()?,
            default_segment: self.default_segment.clone(),
            label_rules: self
                .label_rules
                .iter()
                .map(|s| s.parse::<LabelRule>())
                .collect::<Result<_, _>>()?,
            session_by: self.session_by.parse::<SessionBy>()?,
            hosts: self.hosts.clone(),
            exclude,
            redact: self.redact,
            auth: self.auth_options()?,
            expect_headers: self
                .expect_headers
                .iter()
                .map(|h| {
                    let ok = !h.is_empty()
                        && h.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    ok.then(|| h.clone()).ok_or_else(|| {
                        CliError::BadInput(format!("--expect-header {h:?}: not a header name"))
                    })
                })
                .collect::<Result<_, _>>()?,
            expect_status: self.expect_status,
            tags: self
                .tags
                .iter()
                .map(|t| key_value(t, "--tag"))
                .collect::<Result<_, _>>()?,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        })
    }
}

impl RecordArgs {
    fn auth_options(&self) -> Result<AuthOptions, CliError> {
        let mode = self.auth.parse::<AuthMode>()?;
        let manual = match &self.auth_login {
            None => None,
            Some(path) => {
                let cap = targets::read(path)?;
                if cap.exchanges.len() != 1 {
                    return Err(CliError::BadInput(format!(
                        "{}: --auth-login expects one login request, found {}",
                        path.display(),
                        cap.exchanges.len()
                    )));
                }
                Some(ManualLogin {
                    request: cap.exchanges.into_iter().next().expect("one request"),
                    token_at: parse_token_at(&self.auth_token_path)?,
                    send_as: parse_send_as(&self.auth_send_as)?,
                })
            }
        };
        if mode != AuthMode::Detect && manual.is_some() {
            return Err(CliError::BadInput(format!(
                "--auth-login defines a login for slots: it needs --auth detect, not --auth {}",
                self.auth
            )));
        }
        Ok(AuthOptions { mode, manual })
    }
}

/// What `record` did, for printing.
pub struct Recorded {
    pub summary: Summary,
    pub bytes: u64,
    pub holds_secrets: bool,
    pub redacted: bool,
}

pub fn record(args: &RecordArgs) -> Result<Recorded, CliError> {
    let opts = args.options()?;
    crate::out::check_writable("--output", &args.output)?;
    let proxy = args.proxy.config()?;
    let mut captures = Vec::new();
    for p in &args.targets {
        captures.push(targets::read(p)?);
    }
    for p in &args.har {
        captures.push(har::read(p)?);
    }
    let pcap_opts = pcap::PcapOptions {
        ports: args.ports.clone(),
    };
    for p in &args.pcap {
        captures.push(pcap::read(p, &pcap_opts)?);
    }
    if !args.access_log.is_empty() {
        let format = args
            .log_format
            .parse::<access_log::LogFormat>()
            .map_err(|e| CliError::BadInput(format!("--log-format: {e}")))?;
        let fields = args
            .log_fields
            .iter()
            .map(|f| key_value(f, "--log-field"))
            .collect::<Result<_, _>>()?;
        let log_opts = access_log::AccessLogOptions { format, fields };
        for p in &args.access_log {
            captures.push(access_log::read(p, &log_opts)?);
        }
    }
    if let Some(cfg) = proxy {
        let capture = args.proxy.record(cfg)?;
        if capture.exchanges.is_empty() {
            let reason = if capture.skipped.is_empty() {
                "no client sent a whole exchange through it".to_string()
            } else {
                let why: Vec<String> = capture
                    .skipped
                    .iter()
                    .map(|(r, n)| format!("{n} {r}"))
                    .collect();
                format!("none recorded: {}", why.join("; "))
            };
            return Err(ringload_recorder::RecordError::Empty {
                path: capture.path,
                reason,
            }
            .into());
        }
        captures.push(capture);
    }
    if captures.is_empty() {
        return Err(CliError::BadInput(
            "record needs a source: --targets, --har, --pcap, --access-log or --proxy".into(),
        ));
    }
    let (plan, summary) = ringload_recorder::normalise(captures, &opts)?;
    let bytes = crate::plan_io::save(&args.output, &plan)?;
    Ok(Recorded {
        summary,
        bytes,
        holds_secrets: plan.meta.holds_secrets,
        redacted: plan.meta.redacted,
    })
}

mod summary;
pub use summary::render_summary;

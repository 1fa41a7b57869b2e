//! A result's provenance (see `ringload_results::Provenance`): the plan's digest and tags, the
//! command line with its secrets masked, and this machine's facts (`ringload_host::facts`).

use ringload_formats::Plan;
use ringload_recorder::redact;
use ringload_results::Provenance;

/// The provenance of a run of `plan` (read from a file whose SHA-256 is `plan_sha256`, or
/// built from the command line) against `target`, measured from `started_at_unix_ms`.
pub fn of(
    plan: &Plan,
    plan_sha256: Option<&str>,
    target: &str,
    started_at_unix_ms: Option<u64>,
) -> Provenance {
    let facts = ringload_host::facts();
    Provenance {
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        command: masked(std::env::args()),
        plan_sha256: plan_sha256.map(str::to_string),
        plan_tags: plan.meta.tags.iter().cloned().collect(),
        target: mask_url(target),
        started_at_unix_ms,
        host: facts.host,
        kernel: facts.kernel,
        cpu_model: facts.cpu_model,
        cpus: facts.cpus,
        cpus_allowed: facts.cpus_allowed,
    }
}

/// How one argument's value is masked.
type Mask = fn(&str) -> String;

/// Options whose value may hold a secret, and how each value is masked: a header line
/// (`Name: value`), a request body (`@FILE` names a file and is kept).
const MASKED_OPTIONS: &[(&[&str], Mask)] =
    &[(&["-H", "--header"], mask_header), (&["--body"], mask_body)];

/// `arg` as option `name`: `Some(None)` when the value is the next argument, `Some(Some((prefix,
/// value)))` when it is joined (`--name=VALUE`, or `-HVALUE` for a short option).
fn split_option<'a>(arg: &'a str, name: &str) -> Option<Option<(&'a str, &'a str)>> {
    if arg == name {
        return Some(None);
    }
    let short = name.len() == 2 && arg.len() > 2 && arg.starts_with(name);
    let at = if short {
        2
    } else if arg.starts_with(name) && arg[name.len()..].starts_with('=') {
        name.len() + 1
    } else {
        return None;
    };
    Some(Some(arg.split_at(at)))
}

/// The command line with secrets masked: the values of credential headers given with `-H`
/// (`Authorization`, `Cookie`, `X-Api-Key`...), secret fields of inline bodies and of URL
/// queries (`password`, `token`, `api_key`...), and URL passwords (`user:pass@`). Options are
/// recognised as `-H VALUE`, `-HVALUE`, `--header VALUE` and `--header=VALUE`.
pub fn masked(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut pending: Option<Mask> = None;
    for arg in args {
        if let Some(mask) = pending.take() {
            out.push(mask(&arg));
            continue;
        }
        let option = MASKED_OPTIONS.iter().find_map(|(names, mask)| {
            names
                .iter()
                .find_map(|n| split_option(&arg, n))
                .map(|joined| (joined, *mask))
        });
        let masked = match option {
            Some((None, mask)) => {
                pending = Some(mask);
                arg.clone()
            }
            Some((Some((prefix, value)), mask)) => format!("{prefix}{}", mask(value)),
            None => mask_url(&arg),
        };
        out.push(masked);
    }
    out
}

/// `Authorization: Bearer x` -> `Authorization: REDACTED`; other headers as given.
fn mask_header(line: &str) -> String {
    match line.split_once(':') {
        Some((name, _)) if redact::is_secret_header(name.trim()) => {
            format!("{name}: {}", redact::PLACEHOLDER)
        }
        _ => line.to_string(),
    }
}

/// Secret fields of an inline JSON or form body masked; `@FILE` kept.
fn mask_body(body: &str) -> String {
    if body.starts_with('@') {
        return body.to_string();
    }
    let kind = if body.trim_start().starts_with(['{', '[']) {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let headers = [("content-type".to_string(), kind.to_string())];
    String::from_utf8_lossy(&redact::body(&headers, body.as_bytes())).into_owned()
}

/// An argument that is a URL: its password and secret query fields masked; anything else as
/// given.
pub fn mask_url(arg: &str) -> String {
    let Some((scheme, rest)) = arg.split_once("://") else {
        return arg.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{}@{host}", redact::PLACEHOLDER),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{}", redact::target(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(args: &[&str]) -> Vec<String> {
        masked(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn credential_headers_in_every_spelling_are_masked() {
        assert_eq!(
            m(&[
                "ringload",
                "run",
                "-H",
                "Authorization: Bearer abc",
                "-Hcookie: sid=1",
                "--header=X-Api-Key: k",
                "--header",
                "x-user-segment: beta",
                "http://h/",
            ]),
            [
                "ringload",
                "run",
                "-H",
                "Authorization: REDACTED",
                "-Hcookie: REDACTED",
                "--header=X-Api-Key: REDACTED",
                "--header",
                "x-user-segment: beta",
                "http://h/",
            ]
        );
    }

    #[test]
    fn bodies_and_urls_lose_their_secrets_only() {
        assert_eq!(
            m(&[
                "--body",
                r#"{"username":"ann","password":"hunter2"}"#,
                "--body=grant_type=password&password=x&scope=a",
                "--body",
                "@login.json",
                "https://ann:pw@gw.example:8443/api?token=t&page=2",
                "--target",
                "http://ann@h:80",
                "-c",
                "64",
            ]),
            [
                "--body",
                r#"{"password":"REDACTED","username":"ann"}"#,
                "--body=grant_type=password&password=REDACTED&scope=a",
                "--body",
                "@login.json",
                "https://ann:REDACTED@gw.example:8443/api?token=REDACTED&page=2",
                "--target",
                "http://ann@h:80",
                "-c",
                "64",
            ]
        );
    }
}

//! URLs given on the command line (`ringload run URL [URL...]`, the wrk/oha habit): one
//! session that requests each URL in turn, with one method, body and content type for all.
//! Every URL must name the same scheme and authority: that is the target the run connects to.

use crate::error::RecordError;
use crate::exchange::{Capture, Exchange};

/// What quick mode sends; built once from CLI arguments.
#[derive(Debug, Clone, Default)]
pub struct QuickRequests {
    pub urls: Vec<String>,
    /// `GET` when empty and no body, `POST` when empty with a body (as curl does).
    pub method: String,
    /// `--body TEXT`, or `--body @FILE` read here (at most [`super::targets::MAX_BODY`]).
    pub body: Option<String>,
    pub content_type: Option<String>,
}

/// Most URLs one command line may list.
pub const MAX_URLS: usize = 1024;

/// The capture of `q`, and the target base URL (`scheme://authority`) its URLs share.
pub fn capture(q: &QuickRequests) -> Result<(Capture, String), RecordError> {
    let bad = |m: String| RecordError::Option(m);
    if q.urls.is_empty() || q.urls.len() > MAX_URLS {
        return Err(bad(format!("1 to {MAX_URLS} URLs, not {}", q.urls.len())));
    }
    let body = match q.body.as_deref() {
        None => Vec::new(),
        Some(b) => match b.strip_prefix('@') {
            Some(file) => super::targets::read_body(std::path::Path::new("."), file)
                .map_err(|why| bad(format!("--body @{file}: {why}")))?,
            None => b.as_bytes().to_vec(),
        },
    };
    let method = match q.method.trim() {
        "" if q.body.is_some() => "POST".to_string(),
        "" => "GET".to_string(),
        m if m.bytes().all(|b| b.is_ascii_alphabetic()) && m.len() <= 32 => m.to_ascii_uppercase(),
        m => return Err(bad(format!("--method {m:?}: not an HTTP method"))),
    };
    let mut headers = Vec::new();
    if let Some(ct) = &q.content_type {
        if ct.bytes().any(|b| b < b' ' && b != b'\t' || b == 0x7f) {
            return Err(bad(format!("--content-type {ct:?}: control characters")));
        }
        headers.push(("Content-Type".to_string(), ct.trim().to_string()));
    }
    let mut base: Option<String> = None;
    let mut cap = Capture {
        kind: "urls",
        path: "command line".into(),
        description: "URLs on the command line".into(),
        ..Capture::default()
    };
    for url in &q.urls {
        let parts =
            ringload_http1::url::split(url).map_err(|why| bad(format!("{url:?}: {why}")))?;
        let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
            return Err(bad(format!(
                "{url:?}: an absolute URL is needed here (http://host[:port]/path)"
            )));
        };
        let this = format!("{scheme}://{authority}");
        match &base {
            Some(b) if *b != this => {
                return Err(bad(format!(
                    "{url:?}: every URL must name the same server ({b}); run one ringload per \
                     server, or record a plan"
                )));
            }
            Some(_) => {}
            None => base = Some(this),
        }
        cap.exchanges.push(Exchange {
            method: method.clone(),
            scheme: Some(scheme),
            authority: Some(authority),
            path: parts.target,
            headers: headers.clone(),
            body: body.clone(),
            ..Exchange::default()
        });
    }
    Ok((cap, base.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(urls: &[&str]) -> QuickRequests {
        QuickRequests {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            ..QuickRequests::default()
        }
    }

    #[test]
    fn urls_become_one_session_against_their_shared_server() {
        let (cap, base) = capture(&q(&[
            "http://127.0.0.1:8080/ok",
            "http://127.0.0.1:8080/a?b=1",
        ]))
        .unwrap();
        assert_eq!(base, "http://127.0.0.1:8080");
        let paths: Vec<_> = cap.exchanges.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/ok", "/a?b=1"]);
        assert!(cap.exchanges.iter().all(|e| e.method == "GET"));
    }

    #[test]
    fn a_body_makes_a_post_unless_told_otherwise() {
        let mut r = q(&["https://h/x"]);
        r.body = Some("{\"a\":1}".into());
        r.content_type = Some("application/json".into());
        let (cap, _) = capture(&r).unwrap();
        assert_eq!(cap.exchanges[0].method, "POST");
        assert_eq!(cap.exchanges[0].body, b"{\"a\":1}");
        assert_eq!(cap.exchanges[0].headers[0].1, "application/json");
        r.method = "put".into();
        assert_eq!(capture(&r).unwrap().0.exchanges[0].method, "PUT");
    }

    #[test]
    fn mixed_servers_relative_urls_and_bad_methods_are_refused() {
        for (urls, why) in [
            (&["http://a/x", "http://b/y"][..], "same server"),
            (&["http://a/x", "https://a/y"][..], "same server"),
            (&["/x"][..], "absolute URL"),
            (&["ftp://a/x"][..], "http or https"),
        ] {
            let e = capture(&q(urls)).unwrap_err().to_string();
            assert!(e.contains(why), "{urls:?}: {e}");
        }
        let mut r = q(&["http://a/"]);
        r.method = "GE T".into();
        assert!(capture(&r).unwrap_err().to_string().contains("--method"));
        r.method = String::new();
        r.body = Some("@/nonexistent/file".into());
        assert!(
            capture(&r)
                .unwrap_err()
                .to_string()
                .contains("--body @/nonexistent/file")
        );
    }
}

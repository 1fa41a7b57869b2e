//! The one URL splitter every part of ringload uses (targets files, HAR, pcap absolute-form
//! request targets, quick-mode URLs, `--target`): an http(s) URL or an origin-form target
//! taken apart into scheme, authority and the origin-form target sent on the request line.
//! No percent-decoding and no normalisation beyond lower-casing the scheme and host: the
//! target is replayed byte for byte as it was written. Also what an item id in a path looks
//! like ([`is_id_like`]): the recorder templates labels with it, the engine gives cloned
//! sessions fresh ids with it.

/// An URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    /// `http` or `https` (lower case); `None` for an origin-form target (`/path`).
    pub scheme: Option<String>,
    /// `host[:port]` as written, lower-cased, without user info; `None` for origin-form.
    pub authority: Option<String>,
    /// Whether the URL held user info (`user:pass@`), which is dropped from `authority`.
    pub had_userinfo: bool,
    /// Path and query, starting with `/` (`/` when the URL had none), fragment dropped.
    pub target: String,
}

/// Split `http[s]://[user@]host[:port][/path][?query][#fragment]` or `/path[?query]`.
/// `Err` says, in a few words, what is wrong.
pub fn split(url: &str) -> Result<UrlParts, String> {
    if url.starts_with('/') {
        let target = url.split('#').next().unwrap_or("/");
        return check_target(target).map(|()| UrlParts {
            scheme: None,
            authority: None,
            had_userinfo: false,
            target: target.to_string(),
        });
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("expected http[s]://host[:port]/path or /path")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("the scheme must be http or https, not {scheme:?}"));
    }
    let rest = rest.split('#').next().unwrap_or("");
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(cut);
    let (had_userinfo, authority) = match authority.rsplit_once('@') {
        Some((_, host)) => (true, host),
        None => (false, authority),
    };
    if authority.is_empty() {
        return Err("no host".into());
    }
    if authority.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err("the host holds spaces or control characters".into());
    }
    let target = match target {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    check_target(&target)?;
    Ok(UrlParts {
        scheme: Some(scheme),
        authority: Some(authority.to_ascii_lowercase()),
        had_userinfo,
        target,
    })
}

fn check_target(t: &str) -> Result<(), String> {
    if t.bytes().any(|b| b <= b' ' || b == 0x7f) {
        Err("the path holds spaces or control characters (percent-encode them)".into())
    } else {
        Ok(())
    }
}

/// Split an authority (`host`, `host:port`, `[v6]`, `[v6]:port`) into the host (brackets
/// removed) and the port when given. `Err` says what is wrong.
pub fn split_authority(authority: &str) -> Result<(&str, Option<u16>), String> {
    if authority.contains('@') {
        return Err("user info (user@host) is not supported here".into());
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or("an IPv6 address needs its closing ']'")?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("[{host}] is not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("unexpected {p:?} after the address"))?,
                ),
            };
            (host, port)
        }
        None if authority.matches(':').count() > 1 => {
            return Err("an IPv6 address goes in brackets, e.g. http://[::1]:8080".into());
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    if !authority.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(format!("{host:?} is not a host name or address"));
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0 && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("port {p:?} is not a number from 1 to 65535"))?,
        ),
    };
    Ok((host, port))
}

/// Path segments that name one item rather than a collection: numbers, UUIDs, hex digests,
/// `SKU-100045`-like codes, and long opaque tokens with digits in them.
pub fn is_id_like(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.is_empty() {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if digits == b.len() {
        return true;
    }
    if digits == 0 {
        return false;
    }
    let is_hex = b.iter().all(|c| c.is_ascii_hexdigit());
    if is_hex && b.len() >= 8 {
        return true;
    }
    if b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    {
        return true;
    }
    // Codes: letters, a separator, then digits (SKU-100045, ord_7781, user-42).
    if let Some(pos) = b.iter().position(|c| *c == b'-' || *c == b'_') {
        let (head, tail) = (&b[..pos], &b[pos + 1..]);
        if !head.is_empty()
            && head.iter().all(|c| c.is_ascii_alphanumeric())
            && !tail.is_empty()
            && tail.iter().all(|c| c.is_ascii_digit())
        {
            return true;
        }
    }
    // Opaque tokens: long, alphanumeric (plus - _), with a good share of digits.
    b.len() >= 16
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        && digits * 5 >= b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_origin_form() {
        let u = split("HTTPS://user:pw@Shop.Local:8443?q=1#frag").unwrap();
        assert_eq!(u.scheme.as_deref(), Some("https"));
        assert_eq!(u.authority.as_deref(), Some("shop.local:8443"));
        assert!(u.had_userinfo);
        assert_eq!(u.target, "/?q=1");
        let u = split("/api/v1/x?a=%20b#f").unwrap();
        assert_eq!(
            (u.scheme, u.authority, u.target.as_str()),
            (None, None, "/api/v1/x?a=%20b")
        );
        assert_eq!(split("http://h").unwrap().target, "/");
        // Replayed byte for byte: no dot-segment removal, no percent-decoding.
        assert_eq!(
            split("http://h/a/../b%2F?x=1&y").unwrap().target,
            "/a/../b%2F?x=1&y"
        );
        assert!(split("wss://h/socket").is_err());
        assert_eq!(
            split("http://[::1]:80/x").unwrap().authority.as_deref(),
            Some("[::1]:80")
        );
    }

    #[test]
    fn refusals_say_why() {
        assert!(split("ftp://h/").unwrap_err().contains("http or https"));
        assert!(split("h/x").unwrap_err().contains("expected"));
        assert!(split("http:///x").unwrap_err().contains("no host"));
        assert!(split("http://h/a b").unwrap_err().contains("spaces"));
        assert!(split("/a\u{7f}").is_err());
        assert!(split("*").is_err());
    }

    #[test]
    fn authorities() {
        assert_eq!(split_authority("h:8080").unwrap(), ("h", Some(8080)));
        assert_eq!(split_authority("[::1]").unwrap(), ("::1", None));
        assert_eq!(split_authority("[::1]:9").unwrap(), ("::1", Some(9)));
        for bad in [
            "::1", "[::1", "[x]", "h:0", "h:99999", "h:+1", "u@h", ":80", "h/x:1",
        ] {
            assert!(split_authority(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn id_like_segments() {
        for id in [
            "42",
            "SKU-100045",
            "ord_7781",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "deadbeefcafe1234",
            "aZ3kQ9xW2mP7rT5y",
        ] {
            assert!(is_id_like(id), "{id}");
        }
        for word in ["", "v1", "checkout", "cafe", "api"] {
            assert!(!is_id_like(word), "{word}");
        }
    }
}

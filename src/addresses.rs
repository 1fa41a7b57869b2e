//! Addresses on the command line: a target URL taken apart (`--target`, `--baseline`,
//! `--candidate`, through the one splitter in `ringload_http1::url`) and `--source-ip` lists.

use crate::error::CliError;

/// Most local addresses `--source-ip` may name.
const MAX_SOURCES: u32 = 65_536;

/// `a,b,c` and `first-last` (IPv4 ranges), mixed.
pub fn parse_sources(spec: &str) -> Result<Vec<std::net::IpAddr>, CliError> {
    use std::net::{IpAddr, Ipv4Addr};
    let bad = |why: String| CliError::BadInput(format!("--source-ip {spec:?}: {why}"));
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (Ipv4Addr, Ipv4Addr) = (
                    a.trim()
                        .parse()
                        .map_err(|_| bad(format!("{a:?} is not an IPv4 address")))?,
                    b.trim()
                        .parse()
                        .map_err(|_| bad(format!("{b:?} is not an IPv4 address")))?,
                );
                let (a, b) = (u32::from(a), u32::from(b));
                if a > b || b - a >= MAX_SOURCES {
                    return Err(bad(format!(
                        "a range of 1..={MAX_SOURCES} addresses, first to last"
                    )));
                }
                out.extend((a..=b).map(|x| IpAddr::V4(Ipv4Addr::from(x))));
            }
            None => out.push(
                part.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| bad(format!("{part:?} is not an IP address")))?,
            ),
        }
    }
    if out.is_empty() || out.len() > MAX_SOURCES as usize {
        return Err(bad(format!("1..={MAX_SOURCES} addresses")));
    }
    Ok(out)
}

/// A target URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// Host as written (brackets removed from IPv6).
    pub host: String,
    pub port: u16,
    /// `host[:port]` for the Host header (the port only when not the scheme's default).
    pub authority: String,
}

/// Split `http[s]://host[:port][/...]`; `flag` names the option in errors.
pub fn parse_url(url: &str, flag: &str) -> Result<Url, CliError> {
    use ringload_http1::url;
    let bad = |why: &str| CliError::BadInput(format!("{flag} {url:?}: {why}"));
    let parts = url::split(url).map_err(|why| bad(&why))?;
    let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
        return Err(bad("expected http://host[:port] or https://host[:port]"));
    };
    if parts.had_userinfo {
        return Err(bad(
            "user info (user@host) is not supported: put credentials in the plan or -H",
        ));
    }
    let https = scheme == "https";
    let (host, port) = url::split_authority(&authority).map_err(|why| bad(&why))?;
    let default = if https { 443 } else { 80 };
    let port = port.unwrap_or(default);
    let shown = if authority.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Ok(Url {
        https,
        host: host.to_string(),
        port,
        authority: if port == default {
            shown
        } else {
            format!("{shown}:{port}")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("https://shop.example.com/x", "--target").unwrap();
        assert_eq!(
            (u.https, u.port, u.authority.as_str()),
            (true, 443, "shop.example.com")
        );
        let u = parse_url("http://127.0.0.1:8080", "--target").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.authority.as_str()),
            ("127.0.0.1", 8080, "127.0.0.1:8080")
        );
        let u = parse_url("http://[::1]:9000/", "--target").unwrap();
        assert_eq!(
            (u.host.as_str(), u.authority.as_str()),
            ("::1", "[::1]:9000")
        );
        for (bad, why) in [
            ("http://[::1", "closing ']'"),
            ("http://u:p@host", "user info"),
            ("ftp://x", "http or https"),
            ("http://h:99999", "from 1 to 65535"),
            ("http://", "no host"),
            ("host:80", "expected http"),
        ] {
            let e = parse_url(bad, "--candidate").unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("--candidate"), "{bad}: {e}");
        }
    }
}

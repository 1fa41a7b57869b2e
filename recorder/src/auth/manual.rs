//! A login defined by hand: `--auth-login FILE` with `--auth-token-path` (where its response
//! holds the token) and `--auth-send-as` (where requests carry it).

use ringload_formats::{TokenLocation, TokenPlace};

use super::token::{is_token_byte, valid_header_name, valid_name};
use crate::error::RecordError;
use crate::exchange::Exchange;

/// A login defined by hand: `--auth-login FILE` (its one request), `--auth-token-path`,
/// `--auth-send-as`.
#[derive(Debug, Clone)]
pub struct ManualLogin {
    pub request: Exchange,
    pub token_at: TokenLocation,
    pub send_as: TokenPlace,
}

/// `--auth-token-path`: `/json/pointer`, `cookie:NAME` or `header:NAME`.
pub fn parse_token_at(s: &str) -> Result<TokenLocation, RecordError> {
    let bad = |why: &str| {
        RecordError::Option(format!(
            "--auth-token-path {s:?}: {why} (expected a JSON pointer such as /access_token, \
             cookie:NAME or header:NAME)"
        ))
    };
    if s.starts_with('/') {
        return Ok(TokenLocation::JsonPointer(s.to_string()));
    }
    match s.split_once(':') {
        Some(("cookie", n)) if valid_name(n) => Ok(TokenLocation::Cookie(n.to_string())),
        Some(("header", n)) if valid_header_name(n) => Ok(TokenLocation::Header(n.to_string())),
        Some(("cookie" | "header", _)) => Err(bad("invalid name")),
        _ => Err(bad("unknown form")),
    }
}

/// `--auth-send-as`: `bearer` (`Authorization: Bearer <token>`), `header:NAME` (the token as
/// the value), `header:NAME:SCHEME` (`NAME: SCHEME <token>`), `cookie:NAME`, `query:NAME`.
pub fn parse_send_as(s: &str) -> Result<TokenPlace, RecordError> {
    let bad = |why: &str| {
        RecordError::Option(format!(
            "--auth-send-as {s:?}: {why} (expected bearer, header:NAME, header:NAME:SCHEME, \
             cookie:NAME or query:NAME)"
        ))
    };
    if s.eq_ignore_ascii_case("bearer") {
        return Ok(bearer());
    }
    let (kind, rest) = s.split_once(':').ok_or_else(|| bad("unknown form"))?;
    match kind {
        "header" => {
            let (name, scheme) = rest.split_once(':').unwrap_or((rest, ""));
            if !valid_header_name(name) {
                return Err(bad("invalid header name"));
            }
            if !scheme.is_empty() && !scheme.bytes().all(is_token_byte) {
                return Err(bad("invalid scheme"));
            }
            Ok(TokenPlace::Header {
                name: name.to_string(),
                prefix: if scheme.is_empty() {
                    String::new()
                } else {
                    format!("{scheme} ")
                },
            })
        }
        "cookie" if valid_name(rest) => Ok(TokenPlace::Cookie(rest.to_string())),
        "query" if valid_name(rest) => Ok(TokenPlace::Query(rest.to_string())),
        "cookie" | "query" => Err(bad("invalid name")),
        _ => Err(bad("unknown form")),
    }
}

pub(super) fn bearer() -> TokenPlace {
    TokenPlace::Header {
        name: "Authorization".into(),
        prefix: "Bearer ".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthMode;

    #[test]
    fn option_parsing() {
        assert_eq!(
            parse_token_at("/data/token").unwrap(),
            TokenLocation::JsonPointer("/data/token".into())
        );
        assert_eq!(
            parse_token_at("cookie:sid").unwrap(),
            TokenLocation::Cookie("sid".into())
        );
        assert_eq!(
            parse_token_at("header:X-Auth-Token").unwrap(),
            TokenLocation::Header("X-Auth-Token".into())
        );
        assert!(parse_token_at("access_token").is_err());
        assert!(parse_token_at("cookie:a;b").is_err());
        assert_eq!(parse_send_as("bearer").unwrap(), bearer());
        assert_eq!(
            parse_send_as("header:Authorization:Token").unwrap(),
            TokenPlace::Header {
                name: "Authorization".into(),
                prefix: "Token ".into()
            }
        );
        assert_eq!(
            parse_send_as("header:X-Auth-Token").unwrap(),
            TokenPlace::Header {
                name: "X-Auth-Token".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            parse_send_as("query:access_token").unwrap(),
            TokenPlace::Query("access_token".into())
        );
        assert!(parse_send_as("header:Bad Name").is_err());
        assert!(parse_send_as("cookie:").is_err());
        assert!(parse_send_as("form:x").is_err());
        assert!("maybe".parse::<AuthMode>().is_err());
        assert_eq!("strip".parse::<AuthMode>().unwrap(), AuthMode::Strip);
    }
}

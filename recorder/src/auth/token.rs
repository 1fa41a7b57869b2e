//! What counts as a token: credential-like values, token-like header, field and cookie names,
//! and the name syntax the plan format accepts for headers, cookies and query parameters.

/// Shortest value taken for a token.
pub const MIN_TOKEN_LEN: usize = 8;
/// Longest value taken for a token (longer strings are documents, not credentials).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

pub(super) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

pub(super) fn valid_header_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(is_token_byte)
}

/// A cookie or query parameter name the plan format accepts.
pub(super) fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| b.is_ascii_graphic() && !b"=;&,\"".contains(&b))
}

/// Names that hold tokens: `access_token`, `id_token`, `token`, `jwt`, `authToken`,
/// `X-Auth-Token`, `session_token` (case-insensitive, `-`/`_` ignored). Tokens that are not
/// credentials are left out: pagination cursors (`next_token`, `pageToken`,
/// `continuation_token`) and CSRF tokens (`csrf_token`, `X-XSRF-Token`), which a replay must
/// send as captured.
pub fn token_like_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let not_credential = ["page", "next", "cursor", "continuation", "csrf", "xsrf"]
        .iter()
        .any(|w| n.contains(w));
    (n.ends_with("token") || n.ends_with("jwt")) && !not_credential
}

/// Cookie names that hold sessions or tokens (`sid`, `JSESSIONID`, `shop_session`, `auth`).
pub(super) fn session_like_cookie(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("sess")
        || n == "sid"
        || n.ends_with("_sid")
        || n.ends_with(".sid")
        || n.contains("auth")
        || token_like_name(&n)
}

/// Could this string be a minted credential? At least [`MIN_TOKEN_LEN`] visible characters,
/// not a number, not one repeated character, not a keyword.
pub fn credential_like(v: &str) -> bool {
    let v = v.trim();
    if v.len() < MIN_TOKEN_LEN || v.len() > MAX_TOKEN_LEN {
        return false;
    }
    if !v.bytes().all(|b| b.is_ascii_graphic()) || v.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let first = v.as_bytes()[0];
    if v.bytes().all(|b| b == first) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    !matches!(
        lower.as_str(),
        "undefined" | "deleted" | "anonymous" | "password" | "redacted" | "application/json"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "eyJhbGciOiJIUzI1NiJ9.dXNlcjE.c2lnbmF0dXJlMQ";

    #[test]
    fn what_counts_as_a_token() {
        assert!(credential_like(T1));
        assert!(credential_like("a1b2c3d4"));
        for trivial in [
            "abc",
            "12345678901",
            "aaaaaaaaaaaa",
            "has space in it",
            "undefined",
            "",
        ] {
            assert!(!credential_like(trivial), "{trivial:?}");
        }
        for name in [
            "access_token",
            "id_token",
            "token",
            "jwt",
            "authToken",
            "X-Auth-Token",
            "session_token",
        ] {
            assert!(token_like_name(name), "{name}");
        }
        for name in [
            "token_type",
            "expires_in",
            "csrf_token",
            "X-CSRF-Token",
            "user",
        ] {
            assert!(!token_like_name(name), "{name}");
        }
    }
}

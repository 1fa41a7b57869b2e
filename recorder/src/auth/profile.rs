//! Building profiles: a profile's name, its token place as text, the pointer of its expiry, and
//! the login body's user fields (the username- and password-like fields a `--users` row fills).

use ringload_formats::TokenPlace;

use crate::exchange::Exchange;

pub(super) fn profile_name(login_label: &str, place: &TokenPlace) -> String {
    format!("{login_label} -> {}", place_text(place))
}

/// `Authorization: Bearer`, `X-Auth-Token`, `cookie shop_session`, `query access_token`.
pub fn place_text(place: &TokenPlace) -> String {
    match place {
        TokenPlace::Header { name, prefix } if prefix.is_empty() => name.clone(),
        TokenPlace::Header { name, prefix } => format!("{name}: {}", prefix.trim_end()),
        TokenPlace::Cookie(n) => format!("cookie {n}"),
        TokenPlace::Query(n) => format!("query {n}"),
    }
}

/// The pointer of a sibling field: `/data/token` + `expires_in` -> `/data/expires_in`.
pub(super) fn sibling(pointer: &str, field: &str) -> String {
    match pointer.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{field}"),
        None => format!("/{field}"),
    }
}

/// Login body fields a `--users` row fills: username-like and password-like names of a form
/// or top-level JSON body, in body order.
pub fn user_fields(login: &Exchange) -> Vec<String> {
    body_fields(login)
        .into_iter()
        .filter(|f| user_like(f) || password_like(f))
        .collect()
}

/// Field names of a form (`a=1&b=2`) or top-level JSON object body, in order.
pub fn body_fields(ex: &Exchange) -> Vec<String> {
    let ct = ex
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let body = ex.body.trim_ascii_start();
    if ct.contains("json") || (!ct.contains("form") && body.first() == Some(&b'{')) {
        // serde_json's map keeps key order only with `preserve_order`; read keys in order by
        // hand from a streaming deserializer instead.
        return json_keys_in_order(body);
    }
    if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
        let mut out: Vec<String> = Vec::new();
        for (k, _) in form_urlencoded::parse(body) {
            if !k.is_empty() && !out.iter().any(|o| *o == k) {
                out.push(k.into_owned());
            }
        }
        return out;
    }
    Vec::new()
}

fn json_keys_in_order(body: &[u8]) -> Vec<String> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    struct Keys;
    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut keys = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            Ok(keys)
        }
    }
    serde_json::Deserializer::from_slice(body)
        .deserialize_map(Keys)
        .unwrap_or_default()
}

fn norm(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

/// `username`, `user`, `login`, `email`, `user_id`...
pub fn user_like(name: &str) -> bool {
    matches!(
        norm(name).as_str(),
        "username"
            | "user_name"
            | "user"
            | "login"
            | "email"
            | "e_mail"
            | "mail"
            | "userid"
            | "user_id"
            | "account"
            | "account_name"
    )
}

/// `password`, `passwd`, `pwd`, `pass`, `*_password`.
pub fn password_like(name: &str) -> bool {
    let n = norm(name);
    matches!(
        n.as_str(),
        "password" | "passwd" | "pwd" | "pass" | "passphrase"
    ) || n.ends_with("_password")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tests::req;

    #[test]
    fn user_fields_in_body_order() {
        let form = Exchange {
            body: b"grant_type=password&client_id=web&username=u&password=p".to_vec(),
            ..req(
                "POST",
                "/t",
                &[("Content-Type", "application/x-www-form-urlencoded")],
            )
        };
        assert_eq!(user_fields(&form), ["username", "password"]);
        let json = Exchange {
            body: br#"{"remember":true,"email":"a@b","user_password":"x"}"#.to_vec(),
            ..req("POST", "/t", &[("Content-Type", "application/json")])
        };
        assert_eq!(user_fields(&json), ["email", "user_password"]);
        let none = req("POST", "/t", &[("Content-Type", "text/plain")]);
        assert!(user_fields(&none).is_empty());
    }
}

//! Each auth profile's login, encoded once per `--users` row with the row's values in its body
//! (form-urlencoded or top-level JSON fields), and what the engine needs of the profile at
//! replay ([`LoginProfile`]).

use std::sync::Arc;

use ringload_formats::{Plan, Request, TokenLocation, TokenPlace};

use super::head::EncodedHead;
use super::{EncodeOptions, StatsKey, WireReq, WireRequests};
use crate::stats::Row;

/// What the engine needs of an auth profile at replay.
#[derive(Debug, Clone)]
pub struct LoginProfile {
    pub token_at: TokenLocation,
    pub place: TokenPlace,
    pub expires_at: Option<String>,
    pub expires_in_s: Option<u64>,
    /// Stats key of this profile's login row.
    pub key: StatsKey,
    /// The login request encoded once per `--users` row (one entry without `--users`).
    pub logins: Vec<WireReq>,
}

impl WireRequests {
    /// Encode the login of every auth profile of `plan`, once per `--users` row.
    pub(super) fn encode_logins(&mut self, plan: &Plan, o: &EncodeOptions) -> Result<(), String> {
        let layout = self.layout;
        for (pi, p) in plan.auth_profiles.iter().enumerate() {
            let login = &plan.requests[p.login as usize];
            let rows: Vec<Option<&[String]>> = match o.users {
                Some(u) => u.rows.iter().map(|r| Some(r.as_slice())).collect(),
                None => vec![None],
            };
            let mut logins = Vec::with_capacity(rows.len());
            for row in rows {
                let body: Arc<[u8]> = match (row, o.users) {
                    (Some(row), Some(u)) => fill_login_body(login, &u.columns, row)
                        .map_err(|e| format!("auth profile {:?}: {e}", p.name))?
                        .into(),
                    _ => login.body.clone(),
                };
                let mut r = login.clone();
                r.body = body;
                let EncodedHead { head, ids, .. } = self.encode_head(&r, o, None, None);
                logins.push(WireReq {
                    head,
                    ids,
                    body: r.body.clone(),
                    key: layout.key(Row::Login { profile: pi as u32 }),
                    check: 0,
                    is_head: false,
                    timeout_us: login.timeout_us,
                    splice: None,
                });
            }
            self.profiles.push(LoginProfile {
                token_at: p.token_at.clone(),
                place: p.send_as.clone(),
                expires_at: p.expires_at.clone(),
                expires_in_s: p.expires_in_s,
                key: layout.key(Row::Login { profile: pi as u32 }),
                logins,
            });
        }
        Ok(())
    }
}

/// The login body of `login` with a `--users` row's values in the fields its columns name
/// (form-urlencoded or top-level JSON fields).
fn fill_login_body(login: &Request, columns: &[String], row: &[String]) -> Result<Vec<u8>, String> {
    let content_type = login
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    let value_of = |field: &str| {
        columns
            .iter()
            .position(|c| c == field)
            .map(|i| row[i].as_str())
    };
    if content_type.contains("json") || login.body.first() == Some(&b'{') {
        let mut v: serde_json::Value = serde_json::from_slice(&login.body)
            .map_err(|e| format!("the login body is not JSON ({e})"))?;
        let obj = v
            .as_object_mut()
            .ok_or("the login body is not a JSON object")?;
        for c in columns {
            match obj.get_mut(c) {
                Some(slot) => *slot = serde_json::Value::String(value_of(c).unwrap_or("").into()),
                None => {
                    return Err(format!(
                        "--users column {c:?} is not a field of the login body (fields: {})",
                        obj.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        return serde_json::to_vec(&v).map_err(|e| e.to_string());
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&login.body).into_owned().collect();
    for c in columns {
        if !pairs.iter().any(|(k, _)| k == c) {
            return Err(format!(
                "--users column {c:?} is not a field of the login body (fields: {})",
                pairs
                    .iter()
                    .map(|p| p.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        ser.append_pair(k, value_of(k).unwrap_or(v));
    }
    Ok(ser.finish().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Users;
    use crate::requests::fixtures::{opts, slotted};
    use crate::stats::Row;

    #[test]
    fn users_rows_fill_the_login_body_and_unknown_columns_are_refused() {
        let plan = slotted(TokenPlace::Cookie("sid".into()), "/a", vec![]);
        let users = Users {
            columns: vec!["username".into(), "password".into()],
            rows: vec![
                vec!["ann".into(), "p w".into()],
                vec!["bob".into(), "x&y".into()],
            ],
        };
        let o = EncodeOptions {
            users: Some(&users),
            ..opts("h")
        };
        let w = WireRequests::encode(&plan, &o).unwrap();
        let logins = &w.profiles[0].logins;
        assert_eq!(logins.len(), 2);
        let text = |r: &WireReq| {
            let mut out = Vec::new();
            w.write(r, b"", &mut out);
            String::from_utf8(out).unwrap()
        };
        assert!(
            text(&logins[0]).ends_with("\r\n\r\nusername=ann&password=p+w&grant_type=password")
        );
        assert!(
            text(&logins[1]).contains("Content-Length: 47\r\n\r\nusername=bob&password=x%26y&")
        );
        assert_eq!(w.layout.row(logins[0].key), Row::Login { profile: 0 });
        let bad = Users {
            columns: vec!["email".into()],
            rows: vec![vec!["a@b".into()]],
        };
        let e = WireRequests::encode(
            &plan,
            &EncodeOptions {
                users: Some(&bad),
                ..opts("h")
            },
        )
        .unwrap_err();
        assert!(
            e.contains("\"email\" is not a field of the login body"),
            "{e}"
        );
    }
}

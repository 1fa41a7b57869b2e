//! Plans and options shared by the tests of the child modules.

use ringload_formats::{
    AuthProfile, AuthSlot, Metadata, Plan, PlanBuilder, Request, TokenLocation, TokenPlace,
};

use super::{EncodeOptions, WireRequests};

pub(super) fn opts(host: &str) -> EncodeOptions<'_> {
    EncodeOptions {
        host,
        ..EncodeOptions::default()
    }
}

pub(super) fn bytes(w: &WireRequests, id: u32, insert: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    w.write(w.req(id), insert, &mut out);
    out
}

/// A plan with one profile whose token goes to `place`, and one slotted request.
pub(super) fn slotted(place: TokenPlace, target: &str, headers: Vec<(&str, &str)>) -> Plan {
    let mut b = PlanBuilder::new(Metadata::default());
    let l = b.label("x");
    let login = b.request(Request {
        method: "POST".into(),
        target: "/login".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: b"username=a&password=b&grant_type=password"
            .as_slice()
            .into(),
        label: l,
        ..Request::default()
    });
    let profile = b.auth_profile(AuthProfile {
        name: "p".into(),
        login,
        token_at: TokenLocation::JsonPointer("/access_token".into()),
        send_as: place,
        expires_at: None,
        expires_in_s: None,
        user_fields: vec!["username".into(), "password".into()],
    });
    b.request(Request {
        method: "GET".into(),
        target: target.into(),
        headers: headers
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect(),
        label: l,
        auth: Some(AuthSlot { profile }),
        ..Request::default()
    });
    b.finish()
}

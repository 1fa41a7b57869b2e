//! Auth detection: which captured requests carried a token that a captured response handed out,
//! so the plan can mint a fresh one per session at replay instead of sending a dead literal.
//!
//! Flow, over every kept exchange in capture order ([`detect`]):
//!
//! 1. **Uses first.** The exchange's request is searched for values some earlier response
//!    handed out: a header's whole value or its value after a scheme word (`Bearer X`,
//!    `Token X`), a `Cookie` pair's value, a query parameter's value. Values are matched
//!    whole, and only values that look like credentials count ([`credential_like`]: 8 or more
//!    visible characters, not a number, not one repeated character, not a keyword).
//! 2. **Then what its response hands out** (unless its request itself carried a detected
//!    token: a refresh made with a token cannot be replayed as a login): string fields with
//!    token-like names anywhere in a JSON body (`access_token`, `id_token`, `token`, `jwt`,
//!    `authToken`..., by JSON pointer), `Set-Cookie` values, and headers with token-like names
//!    (`X-Auth-Token`), each with the lifetime the response gave (a sibling `expires_in`, a
//!    cookie's `Max-Age`, an `*-expires-in` header).
//!
//! Each use belongs to a profile keyed by the **login shape**: method and label of the login
//! request, where the token was in its response, where it went in the request. The first login
//! of a shape becomes the profile's login request (its username- and password-like body fields
//! are the profile's `user_fields`); every captured exchange of that login shape (same method
//! and label, a token at the same place in its response) is a login and leaves the steps, since
//! the engine sends the login itself. A request that carried the token gets the profile's slot
//! and loses the literal ([`remove_credential`]).
//!
//! A login defined by hand (`--auth-login FILE`, [`ManualLogin`]) adds a profile that slots
//! every request carrying a credential in its place (e.g. any `Authorization: Bearer`), and
//! takes over detected uses of the same shape. Requests that still carry a token-like
//! credential ([`credential_places`]: a non-Basic `Authorization`, a `*token` header, a
//! session-like cookie, a token-like query parameter) are counted as tokens from outside the
//! capture: they keep their literal. `--auth strip` removes every such credential and every
//! detected use without slots; `--auth keep` does nothing.
//!
//! Detection never prints: it returns a [`Detection`] for `normalise`.
//!
//! Child modules:
//! - `token`: what counts as a token (credential-like values, token-like names, name syntax).
//! - `response`: finding the tokens a response handed out, where and for how long.
//! - `request`: finding tokens a request sent back or carries, and removing them.
//! - `profile`: a profile's name and text, its expiry pointer, its login's user fields.
//! - `manual`: a login defined by hand (`--auth-login`, `--auth-token-path`, `--auth-send-as`).
//! - `tests`: [`detect`] end to end on hand-built exchanges.

mod manual;
mod profile;
mod request;
mod response;
mod token;

use std::collections::HashMap;

use ringload_formats::{TokenLocation, TokenPlace};

use crate::error::RecordError;
use crate::exchange::Exchange;
use crate::label::{LabelRule, label_for};
use profile::{profile_name, sibling};
use request::{Use, carries_at, find_use};
use response::{Issued, handed_out};

pub use manual::{ManualLogin, parse_send_as, parse_token_at};
pub use profile::{body_fields, password_like, place_text, user_fields, user_like};
pub use request::{credential_places, remove_credential};
pub use token::{MAX_TOKEN_LEN, MIN_TOKEN_LEN, credential_like, token_like_name};

/// `--auth`: what `record` does with credentials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Find logins and their tokens; slot the requests that carried them (default).
    #[default]
    Detect,
    /// Leave every credential as captured.
    Keep,
    /// Remove every token-like credential and detected token, without slots.
    Strip,
}

impl std::str::FromStr for AuthMode {
    type Err = RecordError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "detect" => Ok(AuthMode::Detect),
            "keep" => Ok(AuthMode::Keep),
            "strip" => Ok(AuthMode::Strip),
            _ => Err(RecordError::Option(format!(
                "--auth {s:?}: expected detect, keep or strip"
            ))),
        }
    }
}

/// Everything auth detection is told.
#[derive(Debug, Clone, Default)]
pub struct AuthOptions {
    pub mode: AuthMode,
    pub manual: Option<ManualLogin>,
}

/// An auth profile found in the capture (or defined by hand), before requests are interned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundProfile {
    /// `POST /auth/token -> Authorization: Bearer`.
    pub name: String,
    /// The login: the first captured login of this shape, or the hand-defined one.
    pub login: Exchange,
    pub token_at: TokenLocation,
    pub send_as: TokenPlace,
    pub expires_at: Option<String>,
    pub expires_in_s: Option<u64>,
    pub user_fields: Vec<String>,
    /// Captured logins of this shape (removed from the steps).
    pub logins: u64,
    /// Steps that carried its token.
    pub steps: u64,
    /// Defined with `--auth-login`.
    pub by_hand: bool,
}

/// What detection decided, per kept exchange (same indices as the input).
#[derive(Debug, Clone, Default)]
pub struct Detection {
    pub profiles: Vec<FoundProfile>,
    /// The profile whose token the request carried: remove the credential at its `send_as`.
    pub slots: Vec<Option<usize>>,
    /// A login the engine sends itself: not a step.
    pub logins: Vec<bool>,
    /// Credentials to remove without a slot (`--auth strip`).
    pub strip: Vec<Vec<TokenPlace>>,
    /// The request still carries a token-like credential no captured login handed out.
    pub outside: Vec<bool>,
}

/// Runs detection over `exchanges` (capture order); `rules` label the logins as the plan will.
pub fn detect(
    exchanges: &[Exchange],
    opts: &AuthOptions,
    rules: &[LabelRule],
) -> Result<Detection, RecordError> {
    let n = exchanges.len();
    let mut det = Detection {
        slots: vec![None; n],
        logins: vec![false; n],
        strip: vec![Vec::new(); n],
        outside: vec![false; n],
        profiles: Vec::new(),
    };
    if opts.mode == AuthMode::Keep {
        if opts.manual.is_some() {
            return Err(RecordError::Option(
                "--auth-login defines a login for slots: it cannot go with --auth keep".into(),
            ));
        }
        return Ok(det);
    }
    // Pass 1: uses by value, in capture order; credentials handed out by each response.
    let mut handed: HashMap<String, Vec<Issued>> = HashMap::new();
    let mut uses: Vec<Option<Use>> = vec![None; n];
    let mut issued_by: Vec<Vec<Issued>> = vec![Vec::new(); n];
    for (i, ex) in exchanges.iter().enumerate() {
        uses[i] = find_use(ex, &handed);
        if uses[i].is_some() {
            continue;
        }
        for (value, issued) in handed_out(i, ex) {
            issued_by[i].push(issued.clone());
            handed.entry(value).or_default().insert(0, issued);
        }
    }
    if opts.mode == AuthMode::Strip {
        for (i, ex) in exchanges.iter().enumerate() {
            let mut places = credential_places(ex);
            if let Some(u) = &uses[i]
                && !places.contains(&u.place)
            {
                places.push(u.place.clone());
            }
            det.strip[i] = places;
        }
        return Ok(det);
    }
    // Pass 2: profiles by login shape.
    let label = |ex: &Exchange| label_for(&ex.method, &ex.path, rules);
    let mut shape_of: HashMap<(String, String, TokenLocation, TokenPlace), usize> = HashMap::new();
    if let Some(m) = &opts.manual {
        let l = label(&m.request);
        det.profiles.push(FoundProfile {
            name: profile_name(&l, &m.send_as),
            user_fields: user_fields(&m.request),
            expires_at: match &m.token_at {
                TokenLocation::JsonPointer(p) => Some(sibling(p, "expires_in")),
                _ => None,
            },
            expires_in_s: None,
            login: m.request.clone(),
            token_at: m.token_at.clone(),
            send_as: m.send_as.clone(),
            logins: 0,
            steps: 0,
            by_hand: true,
        });
    }
    for (i, u) in uses.iter().enumerate() {
        let Some(u) = u else { continue };
        let login = &exchanges[u.issued.by];
        let key = (
            login.method.clone(),
            label(login),
            u.issued.at.clone(),
            u.place.clone(),
        );
        let manual_same_shape = opts.manual.as_ref().is_some_and(|m| {
            m.send_as == u.place && m.request.method == key.0 && label(&m.request) == key.1
        });
        let p = if manual_same_shape {
            0
        } else {
            *shape_of.entry(key).or_insert_with(|| {
                det.profiles.push(FoundProfile {
                    name: profile_name(&label(login), &u.place),
                    login: login.clone(),
                    token_at: u.issued.at.clone(),
                    send_as: u.place.clone(),
                    expires_at: u.issued.expires_at.clone(),
                    expires_in_s: u.issued.expires_in_s,
                    user_fields: user_fields(login),
                    logins: 0,
                    steps: 0,
                    by_hand: false,
                });
                det.profiles.len() - 1
            })
        };
        det.slots[i] = Some(p);
    }
    // Every exchange of a profile's login shape is a login, not a step.
    let shapes: Vec<(String, String)> = det
        .profiles
        .iter()
        .map(|p| (p.login.method.clone(), label(&p.login)))
        .collect();
    for (i, ex) in exchanges.iter().enumerate() {
        if det.slots[i].is_some() || !shapes.iter().any(|(m, _)| *m == ex.method) {
            continue;
        }
        let l = label(ex);
        let hit = det.profiles.iter().zip(&shapes).position(|(p, (m, pl))| {
            *m == ex.method
                && *pl == l
                && (p.by_hand || issued_by[i].iter().any(|is| is.at == p.token_at))
        });
        if let Some(p) = hit {
            det.logins[i] = true;
            det.profiles[p].logins += 1;
        }
    }
    // A hand-defined login slots every other request carrying its kind of credential.
    if let Some(m) = &opts.manual {
        for (i, ex) in exchanges.iter().enumerate() {
            if det.slots[i].is_none() && !det.logins[i] && carries_at(ex, &m.send_as) {
                det.slots[i] = Some(0);
            }
        }
    }
    for (i, ex) in exchanges.iter().enumerate() {
        if let Some(p) = det.slots[i] {
            det.profiles[p].steps += 1;
        } else if !det.logins[i] {
            det.outside[i] = !credential_places(ex).is_empty();
        }
    }
    Ok(det)
}

#[cfg(test)]
mod tests;

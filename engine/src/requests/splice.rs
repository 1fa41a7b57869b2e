//! Where a slotted request's token goes in its head ([`Splice`]), and the token bytes spliced
//! there for each form a profile's place can take ([`token_inserts`]), built once per token.

use ringload_formats::TokenPlace;

/// Where a slotted request's token goes in its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    pub profile: u16,
    /// Byte offset in the head.
    pub at: u32,
    pub form: InsertForm,
}

/// The shape of the token bytes spliced in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum InsertForm {
    /// A whole header line before the blank line (`Authorization: Bearer t\r\n`, or a new
    /// `Cookie: name=t\r\n`).
    HeaderLine = 0,
    /// `; name=t` at the end of the request's own `Cookie` header.
    CookiePair = 1,
    /// `?name=t` after a target without a query.
    QueryFirst = 2,
    /// `&name=t` after a target with a query.
    QueryMore = 3,
}

/// The token bytes to splice for each [`InsertForm`] a profile's place can take.
pub fn token_inserts(place: &TokenPlace, token: &[u8]) -> [Vec<u8>; 2] {
    match place {
        TokenPlace::Header { name, prefix } => {
            let mut line = Vec::with_capacity(name.len() + prefix.len() + token.len() + 4);
            line.extend_from_slice(name.as_bytes());
            line.extend_from_slice(b": ");
            line.extend_from_slice(prefix.as_bytes());
            line.extend_from_slice(token);
            line.extend_from_slice(b"\r\n");
            [line, Vec::new()]
        }
        TokenPlace::Cookie(name) => {
            let mut line = b"Cookie: ".to_vec();
            line.extend_from_slice(name.as_bytes());
            line.push(b'=');
            line.extend_from_slice(token);
            line.extend_from_slice(b"\r\n");
            let mut pair = b"; ".to_vec();
            pair.extend_from_slice(name.as_bytes());
            pair.push(b'=');
            pair.extend_from_slice(token);
            [line, pair]
        }
        TokenPlace::Query(name) => {
            let enc: String = form_urlencoded::byte_serialize(token).collect();
            let param = |sep: u8| {
                let mut p = vec![sep];
                p.extend(form_urlencoded::byte_serialize(name.as_bytes()).flat_map(str::bytes));
                p.push(b'=');
                p.extend_from_slice(enc.as_bytes());
                p
            };
            [param(b'?'), param(b'&')]
        }
    }
}

/// Which of [`token_inserts`]' two entries a splice form uses.
#[inline]
pub fn insert_index(form: InsertForm) -> usize {
    match form {
        InsertForm::HeaderLine | InsertForm::QueryFirst => 0,
        InsertForm::CookiePair | InsertForm::QueryMore => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::WireRequests;
    use crate::requests::fixtures::{bytes, opts, slotted};

    fn spliced(place: TokenPlace, target: &str, headers: Vec<(&str, &str)>) -> String {
        let plan = slotted(place.clone(), target, headers);
        let w = WireRequests::encode(&plan, &opts("h")).unwrap();
        let r = w.req(1);
        let ins = token_inserts(&place, b"t/1");
        let insert = &ins[insert_index(r.splice.unwrap().form)];
        String::from_utf8(bytes(&w, 1, insert)).unwrap()
    }

    #[test]
    fn tokens_are_spliced_where_the_profile_says() {
        let bearer = TokenPlace::Header {
            name: "Authorization".into(),
            prefix: "Bearer ".into(),
        };
        assert_eq!(
            spliced(bearer, "/a", vec![("accept", "*/*")]),
            "GET /a HTTP/1.1\r\nHost: h\r\naccept: */*\r\nAuthorization: Bearer t/1\r\n\r\n"
        );
        let cookie = TokenPlace::Cookie("sid".into());
        assert_eq!(
            spliced(
                cookie.clone(),
                "/a",
                vec![("Cookie", "theme=dark"), ("x", "1")]
            ),
            "GET /a HTTP/1.1\r\nHost: h\r\nx: 1\r\nCookie: theme=dark; sid=t/1\r\n\r\n"
        );
        assert_eq!(
            spliced(cookie, "/a", vec![]),
            "GET /a HTTP/1.1\r\nHost: h\r\nCookie: sid=t/1\r\n\r\n"
        );
        let query = TokenPlace::Query("access_token".into());
        assert_eq!(
            spliced(query.clone(), "/a?x=1", vec![]),
            "GET /a?x=1&access_token=t%2F1 HTTP/1.1\r\nHost: h\r\n\r\n"
        );
        assert_eq!(
            spliced(query, "/a", vec![]),
            "GET /a?access_token=t%2F1 HTTP/1.1\r\nHost: h\r\n\r\n"
        );
    }
}

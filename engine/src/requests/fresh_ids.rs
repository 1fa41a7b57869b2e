//! Fresh ids (`--clone`, `--fresh-ids`): the id headers a request was captured with are encoded
//! with room for their ids and an [`IdSlot`] per id, and the ids are written over those bytes at
//! every send ([`WireRequests::write_fresh`]).

use super::{WireReq, WireRequests};
use crate::ids::IdGen;

/// Where one id goes in a head, written fresh at each send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSlot {
    /// Byte offset of its first character in the head.
    pub at: u32,
    pub kind: IdKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// 36 characters: a new UUID per send (`x-request-id`).
    Request,
    /// 16 or 32 hex digits: the trace id that captured trace `captured` (a hash of its id) has
    /// in the session's lap.
    Trace { len: u8, captured: u64 },
    /// 16 hex digits: a new span id per send.
    Span,
}

impl WireRequests {
    /// [`WireRequests::write`], then `r`'s ids written fresh over their places (`scope`: the
    /// session's lap, see `ids::scope`).
    #[inline]
    pub fn write_fresh(
        &self,
        r: &WireReq,
        insert: &[u8],
        ids: &mut IdGen,
        scope: u64,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        self.write(r, insert, out);
        let (first, n) = r.ids;
        if n == 0 {
            return;
        }
        // Ids after the token's splice point moved by its length.
        let shift = |at: u32| match r.splice {
            Some(s) if !insert.is_empty() && at >= s.at => insert.len(),
            _ => 0,
        };
        for slot in &self.id_slots[first as usize..(first + n) as usize] {
            let at = start + slot.at as usize + shift(slot.at);
            match slot.kind {
                IdKind::Request => ids.request_id(&mut out[at..at + 36]),
                IdKind::Span => ids.span_id(&mut out[at..at + 16]),
                IdKind::Trace { len, captured } => {
                    ids.trace_id(scope, captured, &mut out[at..at + len as usize])
                }
            }
        }
    }
}

/// Placeholder of a fresh `x-request-id` (a UUID's length).
pub(super) const REQUEST_ID_PLACEHOLDER: &str = "00000000-0000-4000-8000-000000000000";

/// With fresh ids: if header `n: v` carries ids, note where they go (`at`: the value's offset
/// in the head) and return the value to encode (the captured one, or a placeholder of the right
/// length); `None` if it carries none this engine rewrites (the header is sent as captured).
pub(super) fn id_header<'v>(
    n: &str,
    v: &'v str,
    at: u32,
    slots: &mut Vec<IdSlot>,
) -> Option<&'v str> {
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let trace = |s: &str| (s.len() == 16 || s.len() == 32) && hex(s);
    let trace_slot = |at: u32, id: &str| IdSlot {
        at,
        kind: IdKind::Trace {
            len: id.len() as u8,
            captured: crate::ids::hash(id.as_bytes()),
        },
    };
    let span = |at: u32| IdSlot {
        at,
        kind: IdKind::Span,
    };
    let is = |name: &str| n.eq_ignore_ascii_case(name);
    if is("x-request-id") {
        slots.push(IdSlot {
            at,
            kind: IdKind::Request,
        });
        return Some(REQUEST_ID_PLACEHOLDER);
    }
    if is("traceparent") {
        // version "-" trace-id (32) "-" parent-id (16) "-" flags (W3C Trace Context).
        let p: Vec<&str> = v.split('-').collect();
        if p.len() >= 4
            && p[0].len() == 2
            && p[1].len() == 32
            && hex(p[1])
            && p[2].len() == 16
            && hex(p[2])
        {
            slots.push(trace_slot(at + 3, p[1]));
            slots.push(span(at + 36));
            return Some(v);
        }
        return None;
    }
    if is("x-b3-traceid") && trace(v) {
        slots.push(trace_slot(at, v));
        return Some(v);
    }
    if is("x-b3-spanid") && v.len() == 16 && hex(v) {
        slots.push(span(at));
        return Some(v);
    }
    if is("b3") {
        // trace "-" span ["-" sampled ["-" parent]] (B3 single header).
        let mut p = v.split('-');
        if let (Some(t), Some(s)) = (p.next(), p.next())
            && trace(t)
            && s.len() == 16
            && hex(s)
        {
            slots.push(trace_slot(at, t));
            slots.push(span(at + t.len() as u32 + 1));
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requests::fixtures::{opts, slotted};
    use crate::requests::{EncodeOptions, insert_index, token_inserts};
    use ringload_formats::TokenPlace;

    #[test]
    fn fresh_ids_are_written_over_their_places_at_each_send() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut plan = slotted(
            TokenPlace::Query("access_token".into()),
            "/a",
            vec![
                ("x-request-id", "abc"),
                ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
                ("b3", "80f198ee56343ba8-e457b5a2e4d86bd1-1"),
                ("x-b3-traceid", trace),
                ("x-b3-spanid", "e457b5a2e4d86bd1"),
                ("x-other", "kept"),
            ],
        );
        plan.requests[1]
            .headers
            .push(("x-b3-sampled".into(), "1".into()));
        let o = EncodeOptions {
            fresh_ids: true,
            ..opts("h")
        };
        let w = WireRequests::encode(&plan, &o).unwrap();
        let r = w.req(1);
        let ins = token_inserts(&plan.auth_profiles[0].send_as, b"tok");
        let insert = &ins[insert_index(r.splice.unwrap().form)];
        let mut ids = IdGen::new(3, 0);
        let send = |ids: &mut IdGen, scope: u64| {
            let mut out = b"previous batch bytes".to_vec();
            w.write_fresh(r, insert, ids, scope, &mut out);
            String::from_utf8(out[20..].to_vec()).unwrap()
        };
        let header = |text: &str, name: &str| {
            text.split("\r\n")
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .unwrap()
                .to_string()
        };
        let a = send(&mut ids, 1);
        let b = send(&mut ids, 1);
        let c = send(&mut ids, 2);
        assert!(a.starts_with("GET /a?access_token=tok HTTP/1.1\r\n"), "{a}");
        assert_eq!(header(&a, "x-other"), "kept");
        let rid = header(&a, "x-request-id");
        assert_eq!((rid.len(), &rid[14..15]), (36, "4"), "{rid}");
        assert_ne!(rid, header(&b, "x-request-id"), "a new request id per send");
        let tp = header(&a, "traceparent");
        assert!(
            tp.starts_with("00-") && tp.ends_with("-01") && tp.len() == 55,
            "{tp}"
        );
        let (tp_trace, tp_span) = (&tp[3..35], &tp[36..52]);
        assert_ne!(tp_trace, trace);
        assert_eq!(
            tp_trace,
            &header(&b, "traceparent")[3..35],
            "one trace in one scope"
        );
        assert_ne!(
            tp_span,
            &header(&b, "traceparent")[36..52],
            "a new span per send"
        );
        assert_ne!(
            tp_trace,
            &header(&c, "traceparent")[3..35],
            "another scope, another trace"
        );
        assert_eq!(
            header(&a, "x-b3-traceid"),
            tp_trace,
            "the same captured trace, the same new one"
        );
        assert_ne!(header(&a, "x-b3-spanid"), "e457b5a2e4d86bd1");
        let b3 = header(&a, "b3");
        assert!(
            b3.ends_with("-1") && b3.len() == 35 && !b3.starts_with("80f198ee56343ba8"),
            "{b3}"
        );
        assert_eq!(header(&a, "x-b3-sampled"), "1");
        // Without fresh ids the headers go as captured.
        let w = WireRequests::encode(&plan, &opts("h")).unwrap();
        let mut out = Vec::new();
        w.write_fresh(w.req(1), insert, &mut ids, 1, &mut out);
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("x-request-id: abc\r\n")
        );
    }
}

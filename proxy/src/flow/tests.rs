//! The flow driven in memory, both sides fed in pieces of every size the way the driver feeds
//! them: what goes through is byte for byte what came in, and each exchange is recorded once.

use std::time::{Duration, Instant};

use super::*;

fn now() -> Now {
    Now {
        mono: Instant::now(),
        unix_us: 1_700_000_000_000_000,
    }
}

fn recording() -> Flow {
    Flow::new(
        FlowConfig {
            record: true,
            ..FlowConfig::default()
        },
        7,
        Some("10.0.0.1".into()),
    )
}

/// What one side's pump did with a stream.
#[derive(Debug, Default, PartialEq, Eq)]
struct Pumped {
    forwarded: Vec<u8>,
    dropped: usize,
    /// Heads held for the added latency.
    held: usize,
    end: Option<ClientNext>,
}

/// Feeds `input` to the client side in `chunk`-byte reads, as `conn` does.
fn pump_client(flow: &mut Flow, input: &[u8], chunk: usize) -> Pumped {
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut p = Pumped::default();
    loop {
        let s = flow.client_bytes(&buf, now());
        match s.bytes {
            ToUpstream::Forward { not_before } => {
                p.forwarded.extend_from_slice(&buf[..s.consumed]);
                p.held += usize::from(not_before.is_some());
            }
            ToUpstream::Drop => p.dropped += s.consumed,
        }
        buf.drain(..s.consumed);
        match s.then {
            ClientNext::More => {}
            ClientNext::Read => {
                if pos == input.len() {
                    return p;
                }
                let end = (pos + chunk).min(input.len());
                buf.extend_from_slice(&input[pos..end]);
                pos = end;
            }
            end @ (ClientNext::Stop | ClientNext::Abort) => {
                p.end = Some(end);
                return p;
            }
        }
    }
}

/// Feeds `input` to the upstream side in `chunk`-byte reads; returns what reached the client
/// (local replies included) and how the side ended (`None`: wants more).
fn pump_upstream(
    flow: &mut Flow,
    input: &[u8],
    chunk: usize,
    eof: bool,
) -> (Vec<u8>, Option<UpstreamNext>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        let s = flow.upstream_bytes(&buf);
        out.extend_from_slice(&buf[..s.consumed]);
        buf.drain(..s.consumed);
        let mut then = s.then;
        if then == UpstreamNext::Read {
            if pos < input.len() {
                let end = (pos + chunk).min(input.len());
                buf.extend_from_slice(&input[pos..end]);
                pos = end;
                continue;
            }
            if !eof {
                return (out, None);
            }
            then = flow.upstream_eof();
        }
        match then {
            UpstreamNext::More | UpstreamNext::Read => {}
            UpstreamNext::Reply(r) => {
                out.extend_from_slice(&r.bytes());
                return (out, Some(then));
            }
            UpstreamNext::Close => return (out, Some(then)),
        }
    }
}

const CHUNKS: [usize; 7] = [1, 2, 3, 7, 64, 1000, usize::MAX];

const REQUESTS: &[u8] = b"GET /api/v1/products?page=1 HTTP/1.1\r\nHost: shop\r\n\r\n\
POST /api/v1/cart/items HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n\
Content-Length: 13\r\n\r\n{\"sku\":\"A-1\"}\
POST /upload HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n\
3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nx-trailer: 1\r\n\r\n\
HEAD /api/v1/products/SKU-1 HTTP/1.1\r\nHost: shop\r\n\r\n\
PUT /up HTTP/1.1\r\nHost: shop\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi\
DELETE /api/v1/cart HTTP/1.1\r\nHost: shop\r\n\r\n\
GET /cached HTTP/1.1\r\nHost: shop\r\nIf-None-Match: \"x\"\r\n\r\n";

const RESPONSES: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
Content-Length: 11\r\n\r\n{\"items\":1}\
HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nx-t: 2\r\n\r\n\
HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n\
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";

#[test]
fn pipelined_exchanges_pass_byte_for_byte_in_pieces_of_every_size() {
    for chunk in CHUNKS {
        let mut f = recording();
        let up = pump_client(&mut f, REQUESTS, chunk);
        assert_eq!(up.forwarded, REQUESTS, "chunk {chunk}");
        assert_eq!((up.dropped, up.end), (0, None));
        assert_eq!(f.pending(), 7);
        let (down, end) = pump_upstream(&mut f, RESPONSES, chunk, false);
        assert_eq!(down, RESPONSES, "chunk {chunk}");
        assert_eq!(end, None, "keep-alive: the connection stays open");
        assert_eq!(f.pending(), 0);
        let rec = f.take_recorded();
        let got: Vec<(&str, &str, Option<u16>)> = rec
            .iter()
            .map(|e| (e.method.as_str(), e.path.as_str(), e.status))
            .collect();
        assert_eq!(
            got,
            [
                ("GET", "/api/v1/products?page=1", Some(200)),
                ("POST", "/api/v1/cart/items", Some(201)),
                ("POST", "/upload", Some(202)),
                ("HEAD", "/api/v1/products/SKU-1", Some(200)),
                ("PUT", "/up", Some(200)),
                ("DELETE", "/api/v1/cart", Some(204)),
                ("GET", "/cached", Some(304)),
            ]
        );
        assert_eq!(rec[1].body, b"{\"sku\":\"A-1\"}");
        assert_eq!(rec[2].body, b"abcde", "chunked framing removed");
        assert_eq!(rec[0].response_body, b"{\"items\":1}");
        assert_eq!(rec[1].response_body, b"{\"a\":1}");
        assert!(rec[4].headers.iter().all(|(n, _)| n != "Expect"));
        assert_eq!(rec[0].connection, Some(7));
        assert_eq!(rec[0].client.as_deref(), Some("10.0.0.1"));
        assert_eq!(rec[0].authority.as_deref(), Some("shop"));
        assert_eq!(rec[0].time_us, Some(now().unix_us));
        let c = f.counts();
        assert_eq!((c.requests, c.forwarded, c.answered), (7, 7, 7));
        assert!(f.take_skipped().is_empty());
    }
}

#[test]
fn forwarding_only_records_nothing_and_passes_the_same_bytes() {
    let mut f = Flow::new(FlowConfig::default(), 1, None);
    let up = pump_client(&mut f, REQUESTS, 5);
    assert_eq!(up.forwarded, REQUESTS);
    let (down, _) = pump_upstream(&mut f, RESPONSES, 5, false);
    assert_eq!(down, RESPONSES);
    assert!(f.take_recorded().is_empty());
}

#[test]
fn a_request_asking_to_close_is_the_last_one_read() {
    let mut f = recording();
    let input = b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    let up = pump_client(&mut f, input, usize::MAX);
    assert_eq!(up.end, Some(ClientNext::Stop));
    assert_eq!(
        up.forwarded,
        b"GET /a HTTP/1.1\r\nConnection: close\r\n\r\n"
    );
    // Even an answer without `Connection: close` ends the connection.
    let (_, end) = pump_upstream(
        &mut f,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        usize::MAX,
        false,
    );
    assert_eq!(end, Some(UpstreamNext::Close));
    assert_eq!(f.take_recorded().len(), 1);
}

#[test]
fn upgrades_are_answered_501_in_their_turn_and_never_forwarded() {
    for head in [
        &b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"[..],
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    ] {
        let mut f = recording();
        let mut input = b"GET /first HTTP/1.1\r\n\r\n".to_vec();
        input.extend_from_slice(head);
        let up = pump_client(&mut f, &input, usize::MAX);
        assert_eq!(up.forwarded, b"GET /first HTTP/1.1\r\n\r\n");
        assert_eq!(up.dropped, head.len());
        assert_eq!(up.end, Some(ClientNext::Stop));
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (down, end) = pump_upstream(&mut f, answer, usize::MAX, false);
        assert_eq!(end, Some(UpstreamNext::Reply(Reply::UpgradeRefused)));
        assert!(down.starts_with(answer), "the earlier answer first");
        let reply = String::from_utf8_lossy(&down[answer.len()..]).into_owned();
        assert!(
            reply.starts_with("HTTP/1.1 501 Not Implemented\r\n"),
            "{reply}"
        );
        assert!(reply.contains("connection: close"));
        assert_eq!(f.take_recorded().len(), 1);
        assert_eq!(f.take_skipped(), vec![(SKIP_REFUSED, 1)]);
        assert_eq!(f.counts().refused, 1);
    }
}

#[test]
fn a_malformed_head_gets_400_after_the_answers_before_it() {
    let mut f = recording();
    let up = pump_client(&mut f, b"GET /a HTTP/1.1\r\n\r\n\x00\x01garbage\r\n\r\n", 4);
    assert_eq!(up.end, Some(ClientNext::Stop));
    let (down, end) = pump_upstream(&mut f, b"HTTP/1.1 204 No Content\r\n\r\n", 4, false);
    assert_eq!(end, Some(UpstreamNext::Reply(Reply::BadRequest)));
    assert!(String::from_utf8_lossy(&down).contains("HTTP/1.1 400 Bad Request"));
}

#[test]
fn an_upstream_that_closes_before_answering_gets_the_client_a_502() {
    let mut f = recording();
    pump_client(&mut f, b"GET /a HTTP/1.1\r\n\r\n", usize::MAX);
    let (down, end) = pump_upstream(&mut f, b"HTTP/1.1 200 O", usize::MAX, true);
    assert_eq!(end, Some(UpstreamNext::Reply(Reply::BadGateway)));
    assert!(
        down.starts_with(b"HTTP/1.1 502 Bad Gateway\r\n"),
        "a cut head is not forwarded"
    );
    f.finish();
    assert!(f.take_recorded().is_empty());
    assert_eq!(f.take_skipped(), vec![(SKIP_UNANSWERED, 1)]);
}

#[test]
fn an_upstream_that_closes_mid_body_cuts_the_exchange_the_client_sees_the_cut() {
    let mut f = recording();
    pump_client(&mut f, b"GET /a HTTP/1.1\r\n\r\n", usize::MAX);
    let partial = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
    let (down, end) = pump_upstream(&mut f, partial, 3, true);
    assert_eq!(down, partial);
    assert_eq!(end, Some(UpstreamNext::Close));
    assert_eq!(f.counts().cut, 1);
    f.finish();
    assert!(f.take_recorded().is_empty());
}

#[test]
fn garbage_from_the_upstream_is_a_502_and_unsolicited_bytes_close() {
    let mut f = recording();
    pump_client(&mut f, b"GET /a HTTP/1.1\r\n\r\n", usize::MAX);
    let (down, end) = pump_upstream(&mut f, b"SSH-2.0-OpenSSH\r\n", usize::MAX, false);
    assert_eq!(end, Some(UpstreamNext::Reply(Reply::BadGateway)));
    assert!(down.starts_with(b"HTTP/1.1 502"));
    let mut idle = recording();
    assert_eq!(
        idle.upstream_bytes(b"HTTP/1.1 200 OK\r\n").then,
        UpstreamNext::Close
    );
    assert_eq!(idle.counts().upstream_errors, 1);
}

#[test]
fn a_read_until_close_answer_ends_at_eof_and_is_recorded() {
    let mut f = recording();
    pump_client(&mut f, b"GET /old HTTP/1.0\r\n\r\n", usize::MAX);
    let answer = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n[1,2]";
    let (down, end) = pump_upstream(&mut f, answer, 2, true);
    assert_eq!(down, answer);
    assert_eq!(end, Some(UpstreamNext::Close));
    let rec = f.take_recorded();
    assert_eq!(rec[0].response_body, b"[1,2]");
}

#[test]
fn a_client_gone_mid_body_aborts_and_nothing_is_recorded() {
    let mut f = recording();
    let sent = b"POST /up HTTP/1.1\r\nContent-Length: 100\r\n\r\npart";
    let up = pump_client(&mut f, sent, usize::MAX);
    assert_eq!(up.forwarded, sent, "head and the first body bytes went up");
    assert_eq!(f.client_eof(), ClientEnd::Abort);
    assert_eq!(f.client_bytes(b"", now()).then, ClientNext::Abort);
    f.finish();
    assert!(f.take_recorded().is_empty());
    assert_eq!(f.take_skipped(), vec![(SKIP_CUT, 1)]);
    assert_eq!(f.counts().cut, 1);
}

#[test]
fn a_clean_half_close_keeps_answering_then_closes() {
    let mut f = recording();
    pump_client(&mut f, b"GET /a HTTP/1.1\r\n\r\n", usize::MAX);
    assert_eq!(f.client_eof(), ClientEnd::HalfClose);
    let (_, end) = pump_upstream(
        &mut f,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        usize::MAX,
        false,
    );
    assert_eq!(end, Some(UpstreamNext::Close));
    assert_eq!(f.take_recorded().len(), 1);
}

#[test]
fn an_answer_before_the_body_is_recorded_once_the_body_is_in() {
    let mut f = recording();
    pump_client(
        &mut f,
        b"POST /cart HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc",
        usize::MAX,
    );
    let (_, end) = pump_upstream(
        &mut f,
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        usize::MAX,
        false,
    );
    assert_eq!(end, None);
    assert!(f.take_recorded().is_empty(), "its body is not in yet");
    pump_client(&mut f, b"def", usize::MAX);
    let rec = f.take_recorded();
    assert_eq!(
        (rec[0].status, rec[0].body.as_slice()),
        (Some(401), &b"abcdef"[..])
    );
}

#[test]
fn a_body_over_the_cap_is_forwarded_whole_and_not_recorded() {
    let mut f = Flow::new(
        FlowConfig {
            record: true,
            max_body: 4,
            ..FlowConfig::default()
        },
        1,
        None,
    );
    let input = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\n12345\
                  POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\n1234";
    assert_eq!(pump_client(&mut f, input, 3).forwarded, input);
    pump_upstream(
        &mut f,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        usize::MAX,
        false,
    );
    let rec = f.take_recorded();
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0].path, "/b");
    assert_eq!(f.take_skipped(), vec![(SKIP_BIG_BODY, 1)]);
}

#[test]
fn added_latency_holds_each_head_and_nothing_else() {
    let mut f = Flow::new(
        FlowConfig {
            added_latency: Duration::from_micros(200),
            ..FlowConfig::default()
        },
        1,
        None,
    );
    let t = now();
    let s = f.client_bytes(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", t);
    assert_eq!(
        s.bytes,
        ToUpstream::Forward {
            not_before: Some(t.mono + Duration::from_micros(200))
        }
    );
    let body = f.client_bytes(b"hi", t);
    assert_eq!(body.bytes, ToUpstream::Forward { not_before: None });
    let up = pump_client(&mut f, REQUESTS, usize::MAX);
    assert_eq!(up.held, 7, "one hold per request head");
}

#[test]
fn a_timeout_ends_a_waiting_exchange_not_an_idle_connection() {
    let mut f = recording();
    assert_eq!(f.upstream_timeout(), UpstreamNext::Read);
    pump_client(&mut f, b"GET /slow HTTP/1.1\r\n\r\n", usize::MAX);
    assert_eq!(
        f.upstream_timeout(),
        UpstreamNext::Reply(Reply::GatewayTimeout)
    );
}

#[test]
fn local_replies_are_whole_responses_that_close() {
    for r in [
        Reply::BadRequest,
        Reply::UpgradeRefused,
        Reply::BadGateway,
        Reply::GatewayTimeout,
    ] {
        let bytes = r.bytes();
        let mut dec = ResponseDecoder::new(Limits::default());
        let d = dec
            .decode(&bytes, ResponseTo::NonHead)
            .expect("valid response");
        let s = d.message.expect("whole");
        assert_eq!(
            (d.consumed, s.status, s.close),
            (bytes.len(), r.status(), true)
        );
    }
}

#[test]
fn a_head_cut_by_the_end_of_the_stream_gets_a_400_like_a_malformed_one() {
    let mut f = recording();
    pump_client(&mut f, b"GET /a HTTP/1.1\r\nHost: x\r\n", usize::MAX);
    assert_eq!(f.client_eof(), ClientEnd::HalfClose);
    assert_eq!(
        f.upstream_bytes(b"").then,
        UpstreamNext::Reply(Reply::BadRequest)
    );
}

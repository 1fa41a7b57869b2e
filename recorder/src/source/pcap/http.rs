//! HTTP/1.x extraction from one reassembled TCP connection.
//!
//! The client direction feeds a retaining [`RequestDecoder`]: each request head creates an
//! [`Exchange`] (timestamped with the packet that carried the request's first byte), whose
//! body is filled in when the request completes. The server direction feeds a
//! [`ResponseDecoder`] that skips interim `100 Continue` responses; final responses are
//! paired in order with the requests whose heads have been seen, which sets
//! `Exchange::status` and, through [`ResponseDecoder::decode_keeping`], the response's header
//! fields and (JSON-looking, within the capture's [`BodyBudget`]) body. Response bytes that arrive before any request head is known wait in
//! the buffer (bounded).
//!
//! Bytes are decoded straight from the packet payload when nothing is buffered, so the
//! common case (one or more whole requests per segment) copies no stream data.

use std::collections::VecDeque;
use std::net::IpAddr;

use ringload_http1::{
    BodyMode, KeptResponse, Limits, RequestDecoder, RequestEvent, RequestHead, ResponseDecoder,
    ResponseTo,
};

use super::tcp::Origin;
use crate::exchange::{BodyBudget, Exchange, MAX_RESPONSE_BODY, Position};

/// Request bodies kept per request; longer ones are dropped (counted), not cut, since a
/// replayed cut body would be a different request.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
/// Response bytes buffered while no request is known to pair them with.
const MAX_UNPAIRED_RESPONSE: usize = 1024 * 1024;

/// Skip reasons (also used by the driver).
pub const SKIP_NON_HTTP: &str = "non-HTTP TCP stream";
pub const SKIP_PARSE_MID_STREAM: &str = "HTTP parse error mid-stream (rest of connection skipped)";
pub const SKIP_GAP_REQUESTS: &str = "request stream abandoned: capture missed data (gap)";
pub const SKIP_GAP_RESPONSES: &str = "response stream abandoned: capture missed data (gap)";
pub const SKIP_BAD_RESPONSES: &str = "unparseable response stream (statuses unknown)";
pub const SKIP_CUT: &str = "request cut off by end of connection or capture";
pub const SKIP_BIG_BODY: &str = "request body over 8 MiB (not retained)";
pub const SKIP_ASTERISK: &str = "request with non-path target (OPTIONS *, CONNECT)";

/// Where decoded requests go: the capture-wide list plus a drop list for requests that
/// turned out incomplete.
#[derive(Debug, Default)]
pub struct Sink {
    pub exchanges: Vec<Exchange>,
    /// Indices into `exchanges` to remove at the end (incomplete or refused requests).
    pub dropped: Vec<usize>,
    pub skipped: Vec<(&'static str, u64)>,
    /// Which response bodies are kept, capture-wide.
    pub budget: BodyBudget,
}

impl Sink {
    pub fn skip(&mut self, reason: &'static str) {
        match self.skipped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += 1,
            None => self.skipped.push((reason, 1)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HalfState {
    Active,
    /// No more parsing (protocol switch, tunnel, error, gap): bytes are ignored.
    Stopped,
}

/// Stream bytes waiting for more, plus which packets they came from.
#[derive(Debug, Default)]
struct StreamBuf {
    buf: Vec<u8>,
    /// `(stream offset, origin)` of each delivered run not yet fully consumed.
    marks: VecDeque<(u64, Origin)>,
    /// Stream offset of the next delivered byte.
    end: u64,
}

impl StreamBuf {
    fn mark(&mut self, len: usize, origin: Origin) {
        if self.marks.back().is_none_or(|(_, o)| *o != origin) {
            self.marks.push_back((self.end, origin));
        }
        self.end += len as u64;
    }

    /// The origin of the byte at stream offset `at`; drops marks before it.
    fn origin_at(&mut self, at: u64) -> Option<Origin> {
        while self.marks.len() > 1 && self.marks[1].0 <= at {
            self.marks.pop_front();
        }
        self.marks.front().map(|(_, o)| *o)
    }
}

/// A request whose head was seen and whose body is still arriving.
#[derive(Debug, Clone, Copy)]
struct Open {
    index: usize,
}

/// HTTP state of one TCP connection.
#[derive(Debug)]
pub struct HttpConn {
    id: u64,
    client: IpAddr,
    req_dec: RequestDecoder,
    req_buf: StreamBuf,
    req_state: HalfState,
    open: Option<Open>,
    requests_seen: u64,
    /// Where the previous request on this connection started.
    last_origin: Option<Origin>,
    resp_dec: ResponseDecoder,
    /// Header fields and body of the response being decoded.
    kept: KeptResponse,
    resp_buf: Vec<u8>,
    resp_state: HalfState,
    /// Exchanges (indices) awaiting a response, oldest first.
    awaiting: VecDeque<(usize, ResponseTo)>,
}

fn limits() -> Limits {
    Limits {
        max_body_retained: MAX_BODY,
        ..Limits::default()
    }
}

impl HttpConn {
    pub fn new(id: u64, client: IpAddr) -> Self {
        HttpConn {
            id,
            client,
            req_dec: RequestDecoder::new(limits(), BodyMode::Retain),
            req_buf: StreamBuf::default(),
            req_state: HalfState::Active,
            open: None,
            requests_seen: 0,
            last_origin: None,
            resp_dec: ResponseDecoder::new(limits()),
            kept: KeptResponse::new(MAX_RESPONSE_BODY),
            resp_buf: Vec::new(),
            resp_state: HalfState::Active,
            awaiting: VecDeque::new(),
        }
    }

    /// In-order client bytes.
    pub fn client_data(&mut self, data: &[u8], origin: Origin, sink: &mut Sink) {
        if self.req_state != HalfState::Active {
            return;
        }
        self.req_buf.mark(data.len(), origin);
        if self.req_buf.buf.is_empty() {
            let used = self.decode_requests(data, sink);
            if self.req_state == HalfState::Active && used < data.len() {
                self.req_buf.buf.extend_from_slice(&data[used..]);
            }
        } else {
            let mut buf = std::mem::take(&mut self.req_buf.buf);
            buf.extend_from_slice(data);
            let used = self.decode_requests(&buf, sink);
            buf.drain(..used);
            if self.req_state == HalfState::Active {
                self.req_buf.buf = buf;
            }
        }
        // Forget which packets carried bytes already consumed (bounds `marks` during
        // long bodies).
        let _ = self.req_buf.origin_at(self.req_dec.stream_offset());
        // Responses may have been waiting for these request heads.
        if !self.resp_buf.is_empty() {
            self.drain_responses(sink);
        }
    }

    /// In-order server bytes.
    pub fn server_data(&mut self, data: &[u8], sink: &mut Sink) {
        if self.resp_state != HalfState::Active {
            return;
        }
        if self.resp_buf.is_empty() {
            let used = self.decode_responses(data, sink);
            if self.resp_state == HalfState::Active && used < data.len() {
                self.resp_buf.extend_from_slice(&data[used..]);
            }
        } else {
            self.resp_buf.extend_from_slice(data);
            self.drain_responses(sink);
        }
        if self.resp_buf.len() > MAX_UNPAIRED_RESPONSE {
            self.stop_responses(sink, SKIP_BAD_RESPONSES);
        }
    }

    fn drain_responses(&mut self, sink: &mut Sink) {
        let buf = std::mem::take(&mut self.resp_buf);
        let used = self.decode_responses(&buf, sink);
        if self.resp_state == HalfState::Active {
            self.resp_buf = buf;
            self.resp_buf.drain(..used);
        }
    }

    /// Decodes as many requests as `data` holds; returns the bytes consumed.
    fn decode_requests(&mut self, data: &[u8], sink: &mut Sink) -> usize {
        let mut used = 0;
        while self.req_state == HalfState::Active {
            let start = self.req_dec.stream_offset();
            let d = match self.req_dec.decode(&data[used..]) {
                Ok(d) => d,
                Err(_) => {
                    let reason = if self.requests_seen == 0 {
                        SKIP_NON_HTTP
                    } else {
                        SKIP_PARSE_MID_STREAM
                    };
                    sink.skip(reason);
                    self.stop_requests(sink);
                    return used;
                }
            };
            used += d.consumed;
            match d.message {
                None => return used,
                Some(RequestEvent::Head(head)) => {
                    let mut origin = self.req_buf.origin_at(start);
                    // A segment can be captured before the one preceding it in the stream
                    // (reordering): never let a request look older than the one before it
                    // on its connection, so capture order keeps stream order.
                    if let (Some(o), Some(last)) = (origin, self.last_origin)
                        && o.packet < last.packet
                    {
                        origin = Some(last);
                    }
                    if origin.is_some() {
                        self.last_origin = origin;
                    }
                    let tunnel = head.header("upgrade").is_some()
                        || head.method().eq_ignore_ascii_case("CONNECT");
                    self.requests_seen += 1;
                    match exchange_from_head(&head, self.id, self.client, origin) {
                        Some(ex) => {
                            let to = if ex.method.eq_ignore_ascii_case("HEAD") {
                                ResponseTo::Head
                            } else {
                                ResponseTo::NonHead
                            };
                            let index = sink.exchanges.len();
                            sink.exchanges.push(ex);
                            self.open = Some(Open { index });
                            if self.resp_state == HalfState::Active {
                                self.awaiting.push_back((index, to));
                            }
                        }
                        None => {
                            sink.skip(SKIP_ASTERISK);
                            // Still answered by one response: keep the pairing aligned
                            // with a placeholder that is dropped at the end.
                            let index = sink.exchanges.len();
                            sink.exchanges.push(Exchange::default());
                            sink.dropped.push(index);
                            if self.resp_state == HalfState::Active {
                                self.awaiting.push_back((index, ResponseTo::NonHead));
                            }
                        }
                    }
                    if tunnel {
                        // What follows the head is another protocol (WebSocket, TLS in a
                        // CONNECT tunnel): this request is the last we can read.
                        self.req_state = HalfState::Stopped;
                        self.req_buf = StreamBuf::default();
                    }
                }
                Some(RequestEvent::Complete(summary)) => {
                    if let Some(open) = self.open.take() {
                        if summary.body_truncated {
                            sink.skip(SKIP_BIG_BODY);
                            sink.dropped.push(open.index);
                            let _ = self.req_dec.take_body();
                        } else if let Some(ex) = sink.exchanges.get_mut(open.index) {
                            ex.body = self.req_dec.take_body();
                        }
                    }
                }
            }
        }
        used
    }

    /// Pairs complete responses with awaiting requests; returns the bytes consumed.
    fn decode_responses(&mut self, data: &[u8], sink: &mut Sink) -> usize {
        let mut used = 0;
        while self.resp_state == HalfState::Active && used < data.len() {
            let Some(&(index, to)) = self.awaiting.front() else {
                // Nothing to pair with yet: keep the bytes for later.
                return used;
            };
            let d = match self
                .resp_dec
                .decode_keeping(&data[used..], to, &mut self.kept)
            {
                Ok(d) => d,
                Err(_) => {
                    self.stop_responses(sink, SKIP_BAD_RESPONSES);
                    return used;
                }
            };
            used += d.consumed;
            let Some(summary) = d.message else {
                return used;
            };
            self.awaiting.pop_front();
            self.attach_response(index, summary.status, sink);
            if summary.status == 101 {
                self.resp_state = HalfState::Stopped;
                self.resp_buf = Vec::new();
            }
        }
        used
    }

    /// Gives the exchange at `index` its response: status, header fields and (when kept)
    /// body; readies `kept` for the next response.
    fn attach_response(&mut self, index: usize, status: u16, sink: &mut Sink) {
        if let Some(ex) = sink.exchanges.get_mut(index) {
            ex.attach_response(status, &mut self.kept, &mut sink.budget);
        }
        self.kept.clear();
    }

    fn stop_requests(&mut self, sink: &mut Sink) {
        self.req_state = HalfState::Stopped;
        self.req_buf = StreamBuf::default();
        if let Some(open) = self.open.take() {
            sink.dropped.push(open.index);
        }
    }

    fn stop_responses(&mut self, sink: &mut Sink, reason: &'static str) {
        if self.resp_state == HalfState::Active {
            sink.skip(reason);
        }
        self.resp_state = HalfState::Stopped;
        self.resp_buf = Vec::new();
        self.awaiting.clear();
    }

    /// The client direction lost data: requests after this point cannot be trusted.
    pub fn client_gap(&mut self, sink: &mut Sink) {
        if self.req_state == HalfState::Active {
            sink.skip(SKIP_GAP_REQUESTS);
            if self.open.is_some() {
                sink.skip(SKIP_CUT);
            }
            self.stop_requests(sink);
        }
    }

    /// The server direction lost data: no more statuses from it.
    pub fn server_gap(&mut self, sink: &mut Sink) {
        self.stop_responses(sink, SKIP_GAP_RESPONSES);
    }

    /// The client finished sending (FIN or RST reached in order).
    pub fn client_eof(&mut self, sink: &mut Sink) {
        if self.req_state != HalfState::Active {
            return;
        }
        match self.req_dec.finish_eof() {
            Ok(Some(_)) | Ok(None) => {
                if let Some(open) = self.open.take()
                    && let Some(ex) = sink.exchanges.get_mut(open.index)
                {
                    ex.body = self.req_dec.take_body();
                }
            }
            Err(_) => {
                if self.open.is_some() || !self.req_buf.buf.is_empty() {
                    sink.skip(SKIP_CUT);
                }
            }
        }
        self.stop_requests(sink);
    }

    /// The server finished sending: completes a read-until-close response.
    pub fn server_eof(&mut self, sink: &mut Sink) {
        if self.resp_state != HalfState::Active {
            return;
        }
        if let Ok(Some(summary)) = self.resp_dec.finish_eof()
            && let Some((index, _)) = self.awaiting.pop_front()
        {
            self.attach_response(index, summary.status, sink);
        }
        self.resp_state = HalfState::Stopped;
        self.resp_buf = Vec::new();
    }

    /// End of capture with the connection still open: a request whose body never
    /// completed is dropped.
    pub fn capture_end(&mut self, sink: &mut Sink) {
        if self.req_state == HalfState::Active && self.open.is_some() {
            sink.skip(SKIP_CUT);
        }
        self.stop_requests(sink);
        self.resp_state = HalfState::Stopped;
    }
}

fn exchange_from_head(
    head: &RequestHead<'_>,
    conn: u64,
    client: IpAddr,
    origin: Option<Origin>,
) -> Option<Exchange> {
    let mut ex = Exchange::from_request_head(head, "http")?;
    ex.time_us = origin.and_then(|o| o.ts_us);
    ex.connection = Some(conn);
    ex.client = Some(client.to_string());
    ex.position = origin.map(|o| Position::Packet(o.packet));
    Some(ex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(packet: u64) -> Origin {
        Origin {
            ts_us: Some(packet as i64 * 1000),
            packet,
        }
    }

    fn conn() -> HttpConn {
        HttpConn::new(7, "10.0.0.1".parse().expect("ip"))
    }

    #[test]
    fn pipelined_requests_in_one_segment_pair_with_responses() {
        let mut sink = Sink::default();
        let mut c = conn();
        c.client_data(
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b?q=1 HTTP/1.1\r\nHost: x\r\n\
              Content-Length: 3\r\n\r\nabcHEAD /c HTTP/1.1\r\nHost: x\r\n\r\n",
            origin(1),
            &mut sink,
        );
        c.server_data(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\n\
              Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
            &mut sink,
        );
        let ex = &sink.exchanges;
        assert_eq!(ex.len(), 3);
        assert_eq!(
            ex.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["/a", "/b?q=1", "/c"]
        );
        assert_eq!(ex[1].body, b"abc");
        assert!(ex[1].headers.iter().all(|(n, _)| n != "Content-Length"));
        assert_eq!(
            ex.iter().map(|e| e.status).collect::<Vec<_>>(),
            [Some(200), Some(201), Some(200)]
        );
        assert_eq!(ex[0].authority.as_deref(), Some("x"));
        assert_eq!(ex[2].position, Some(Position::Packet(1)));
        assert!(sink.dropped.is_empty());
    }

    #[test]
    fn responses_keep_fields_and_json_bodies() {
        let mut sink = Sink::default();
        let mut c = conn();
        c.client_data(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n\
              GET /page HTTP/1.1\r\nHost: x\r\n\r\nGET /old HTTP/1.1\r\nHost: x\r\n\r\n",
            origin(1),
            &mut sink,
        );
        // A chunked JSON body in pieces, an HTML page, then a read-until-close JSON body.
        c.server_data(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\n\
              Set-Cookie: b=2\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"t\":",
            &mut sink,
        );
        c.server_data(b"\r\n3\r\n\"x\"\r\n1\r\n}\r\n0\r\n\r\n", &mut sink);
        c.server_data(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 6\r\n\r\n<html>",
            &mut sink,
        );
        c.server_data(b"HTTP/1.0 200 OK\r\n\r\n[1,2]", &mut sink);
        c.server_eof(&mut sink);
        let ex = &sink.exchanges;
        assert_eq!(ex[0].response_body, b"{\"t\":\"x\"}");
        let cookies: Vec<&str> = ex[0]
            .response_headers
            .iter()
            .filter(|(n, _)| n == "Set-Cookie")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert!(ex[1].response_body.is_empty(), "HTML is not kept");
        assert_eq!(ex[1].response_headers.len(), 2);
        assert_eq!(ex[2].status, Some(200));
        assert_eq!(ex[2].response_body, b"[1,2]");
        assert!(ex[2].response_headers.is_empty());
    }

    #[test]
    fn request_split_across_packets_takes_first_packet_time() {
        let mut sink = Sink::default();
        let mut c = conn();
        c.client_data(b"GET /a HTTP/1.1\r\nHo", origin(1), &mut sink);
        c.client_data(b"st: x\r\n\r\nGET /b HTTP/1.1\r\n", origin(2), &mut sink);
        c.client_data(b"\r\n", origin(3), &mut sink);
        let ex = &sink.exchanges;
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[0].time_us, Some(1000));
        assert_eq!(ex[1].time_us, Some(2000));
        assert_eq!(ex[1].position, Some(Position::Packet(2)));
    }

    #[test]
    fn chunked_body_with_expect_continue() {
        let mut sink = Sink::default();
        let mut c = conn();
        c.client_data(
            b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
              Expect: 100-continue\r\n\r\n",
            origin(1),
            &mut sink,
        );
        c.server_data(b"HTTP/1.1 100 Continue\r\n\r\n", &mut sink);
        c.client_data(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", origin(2), &mut sink);
        c.server_data(
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
            &mut sink,
        );
        let ex = &sink.exchanges;
        assert_eq!(ex.len(), 1);
        assert_eq!(ex[0].body, b"abcde");
        assert_eq!(ex[0].status, Some(202));
        assert!(
            ex[0]
                .headers
                .iter()
                .all(|(n, _)| n != "Transfer-Encoding" && n != "Expect")
        );
    }

    #[test]
    fn non_http_stream_is_counted() {
        let mut sink = Sink::default();
        let mut c = conn();
        c.client_data(
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            origin(1),
            &mut sink,
        );
        assert!(sink.exchanges.is_empty());
        assert_eq!(sink.skipped, vec![(SKIP_NON_HTTP, 1)]);
    }

    #[test]
    fn early_response_waits_for_the_request() {
        let mut sink = Sink::default();
        let mut c = conn();
        c.server_data(b"HTTP/1.1 204 No Content\r\n\r\n", &mut sink);
        c.client_data(b"GET / HTTP/1.1\r\n\r\n", origin(1), &mut sink);
        assert_eq!(sink.exchanges[0].status, Some(204));
    }

    #[test]
    fn cut_body_is_dropped_on_eof() {
        let mut sink = Sink::default();
        let mut c = conn();
        c.client_data(
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
            origin(1),
            &mut sink,
        );
        c.client_eof(&mut sink);
        assert_eq!(sink.dropped, vec![0]);
        assert_eq!(sink.skipped, vec![(SKIP_CUT, 1)]);
    }
}

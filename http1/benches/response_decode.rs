//! Response decoding cost per response, against bare httparse on the same bytes.
//!
//! `cargo bench -p ringload-http1 --bench response_decode`
//!
//! The input is what the engine meets at depth 16 against nginx: sixteen pipelined responses
//! (nginx's usual head, a 2-byte body) per buffer. "httparse only" parses each head and skips
//! the Content-Length body; it is the floor for any decoder built on httparse. The decoder adds
//! framing rules (conflicting lengths, Transfer-Encoding, Connection), limits and state.
//! "with mesh captures" is the engine's decoder: the six fields it reads for the hops
//! (`server`, `x-envoy-*`, `l5d-proxy-error`, `server-timing`) captured, error bodies sniffed.

use std::hint::black_box;
use std::time::Instant;

use ringload_http1::{CaptureSpec, Limits, ResponseDecoder, ResponseTo};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 23:30:00 GMT\r\n\
Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";
const PIPELINE: usize = 16;
const ROUNDS: usize = 200_000;

fn decoder(buf: &[u8]) -> usize {
    decode_all(ResponseDecoder::new(Limits::default()), buf)
}

/// The engine's decoder (`ringload_engine::mesh::FIELDS`, and the body sniff).
fn mesh_decoder(buf: &[u8]) -> usize {
    let spec = |name, cap, join| CaptureSpec { name, cap, join };
    let specs = [
        spec("server", 32, false),
        spec("x-envoy-upstream-service-time", 16, false),
        spec("x-envoy-overloaded", 0, false),
        spec("x-envoy-ratelimited", 0, false),
        spec("l5d-proxy-error", 0, false),
        spec("server-timing", 128, true),
    ];
    let d = ResponseDecoder::with_capture_specs(Limits::default(), &specs).sniff_error_bodies(256);
    decode_all(d, buf)
}

fn decode_all(mut d: ResponseDecoder, buf: &[u8]) -> usize {
    let mut n = 0;
    for _ in 0..ROUNDS {
        let mut off = 0;
        while off < buf.len() {
            let r = d.decode(&buf[off..], ResponseTo::NonHead).expect("valid");
            off += r.consumed;
            n += usize::from(r.message.is_some());
        }
    }
    n
}

fn bare_httparse(buf: &[u8]) -> usize {
    let mut n = 0;
    for _ in 0..ROUNDS {
        let mut off = 0;
        while off < buf.len() {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut res = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(len) = res.parse(&buf[off..]).expect("valid") else {
                unreachable!("complete input")
            };
            let body: usize = res
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse().ok())
                .unwrap_or(0);
            off += len + body;
            n += 1;
        }
    }
    n
}

fn time(name: &str, f: fn(&[u8]) -> usize, buf: &[u8]) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let n = black_box(f(black_box(buf)));
        assert_eq!(n, ROUNDS * PIPELINE);
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    println!(
        "{name:<18} {best:6.1} ns/response (best of 5, {} responses each)",
        ROUNDS * PIPELINE
    );
    best
}

fn main() {
    let buf = RESPONSE.repeat(PIPELINE);
    let d = time("decoder", decoder, &buf);
    let m = time("with mesh captures", mesh_decoder, &buf);
    let h = time("httparse only", bare_httparse, &buf);
    println!("decoder / httparse only: {:.2}", d / h);
    println!("with mesh captures / decoder: {:.2}", m / d);
}

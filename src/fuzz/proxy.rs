//! The recording proxy's sans-IO flow fuzzed: it forwards exactly a prefix of what each side
//! sent, and forwards and records the same requests whether bytes come whole or byte by byte.

/// What a flow did with both streams: bytes forwarded upstream and dropped, upstream bytes
/// forwarded to the client, the status of a local reply, requests forwarded, and the exchanges
/// recorded (method, path, status).
type Flowed = (
    Vec<u8>,
    usize,
    Vec<u8>,
    Option<u16>,
    u64,
    Vec<(String, String, Option<u16>)>,
);

/// Drives a recording flow with `client` then `upstream` bytes in pieces of `piece`, as the
/// proxy's driver does, ending both streams.
fn flow(client: &[u8], upstream: &[u8], piece: usize) -> Flowed {
    use ringload_proxy::flow::{
        ClientEnd, ClientNext, Flow, FlowConfig, Now, ToUpstream, UpstreamNext,
    };
    let now = Now {
        mono: std::time::Instant::now(),
        unix_us: 0,
    };
    let mut f = Flow::new(
        FlowConfig {
            record: true,
            ..FlowConfig::default()
        },
        1,
        None,
    );
    let (mut up, mut dropped, mut down, mut reply) = (Vec::new(), 0, Vec::new(), None);
    let (mut buf, mut pos) = (Vec::new(), 0);
    loop {
        let s = f.client_bytes(&buf, now);
        assert!(s.consumed <= buf.len());
        match s.bytes {
            ToUpstream::Forward { .. } => up.extend_from_slice(&buf[..s.consumed]),
            ToUpstream::Drop => dropped += s.consumed,
        }
        buf.drain(..s.consumed);
        match s.then {
            ClientNext::More => {}
            ClientNext::Read if pos < client.len() => {
                let end = (pos + piece).min(client.len());
                buf.extend_from_slice(&client[pos..end]);
                pos = end;
            }
            ClientNext::Read => {
                if f.client_eof() == ClientEnd::Abort {
                    up.clear();
                }
                break;
            }
            ClientNext::Stop => break,
            ClientNext::Abort => {
                // The connection ends here; how much of a broken body went up first depends
                // on how it arrived, so it is not compared.
                up.clear();
                break;
            }
        }
    }
    let (mut buf, mut pos) = (Vec::new(), 0);
    for _ in 0..upstream.len() * 2 + 64 {
        let s = f.upstream_bytes(&buf);
        assert!(s.consumed <= buf.len());
        down.extend_from_slice(&buf[..s.consumed]);
        buf.drain(..s.consumed);
        let mut then = s.then;
        if then == UpstreamNext::Read {
            if pos < upstream.len() {
                let end = (pos + piece).min(upstream.len());
                buf.extend_from_slice(&upstream[pos..end]);
                pos = end;
                continue;
            }
            then = f.upstream_eof();
        }
        match then {
            UpstreamNext::More => {}
            UpstreamNext::Read => panic!("the flow wants upstream bytes after their end"),
            UpstreamNext::Reply(r) => {
                reply = Some(r.status());
                break;
            }
            UpstreamNext::Close => break,
        }
    }
    f.finish();
    let forwarded = f.counts().forwarded;
    let recorded = f
        .take_recorded()
        .into_iter()
        .map(|e| (e.method, e.path, e.status))
        .collect();
    (up, dropped, down, reply, forwarded, recorded)
}

/// The proxy's sans-IO flow fed a client stream and an upstream stream (the input: a 2-byte
/// little-endian length of the client part, then the client part, then the upstream part).
pub fn proxy_flow(data: &[u8]) {
    let n = data
        .get(..2)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let rest = data.get(2..).unwrap_or_default();
    let (client, upstream) = rest.split_at(n.min(rest.len()));
    let whole = flow(client, upstream, usize::MAX);
    let (up, dropped, down, reply, forwarded, recorded) = &whole;
    // Upstream gets a prefix of the client's bytes, minus a dropped (refused) head at its end;
    // the client a prefix of the upstream's bytes, then at most one local reply.
    assert!(up.len() + dropped <= client.len());
    assert_eq!(
        &client[..up.len()],
        up.as_slice(),
        "forwarded bytes are not the client's"
    );
    assert!(down.len() <= upstream.len());
    assert_eq!(
        &upstream[..down.len()],
        down.as_slice(),
        "answers are not the upstream's"
    );
    assert!(
        reply.is_none_or(|s| [400, 501, 502, 504].contains(&s)),
        "{reply:?}"
    );
    let heads = recorded.len();
    assert!(recorded.iter().all(|r| r.2.is_some()), "{recorded:?}");
    // Fed byte by byte, as many requests go up and the same exchanges are recorded. (Where a
    // side breaks, how much went through first, blank lines before a broken head included,
    // depends on how the bytes came, and so whether the client gets a 502 or sees the cut:
    // the bytes are not compared.)
    let bytewise = flow(client, upstream, 1);
    assert_eq!(
        (forwarded, recorded),
        (&bytewise.4, &bytewise.5),
        "whole and byte-by-byte driving differ ({heads} exchanges recorded whole)"
    );
}

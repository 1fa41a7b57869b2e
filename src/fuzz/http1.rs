//! The HTTP/1.1 decoders fuzzed: the same messages and errors whether the bytes come at once
//! or in pieces.

use ringload_http1::{
    BodyMode, Decoded, Limits, RequestCollector, RequestDecoder, RequestEvent, ResponseDecoder,
    ResponseTo,
};

/// What a response stream decoded to: completed messages (as text) and the error, if any.
fn responses(data: &[u8], to: &[ResponseTo], pieces: usize) -> (Vec<String>, Option<String>) {
    let mut dec = ResponseDecoder::with_captures(Limits::default(), &["x-a", "content-type"]);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for chunk in data.chunks(pieces.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            let t = to
                .get(out.len() % to.len().max(1))
                .copied()
                .unwrap_or_default();
            match dec.decode(&buf, t) {
                Err(e) => return (out, Some(e.to_string())),
                Ok(Decoded { consumed, message }) => {
                    assert!(consumed <= buf.len());
                    buf.drain(..consumed);
                    match message {
                        Some(s) => {
                            let c = dec.captured(0).map(|c| c.value.to_vec());
                            out.push(format!("{s:?} {c:?}"));
                        }
                        None => break,
                    }
                }
            }
        }
    }
    match dec.finish_eof() {
        Ok(Some(s)) => out.push(format!("{s:?} eof")),
        Ok(None) => {}
        Err(e) => return (out, Some(e.to_string())),
    }
    (out, None)
}

/// The engine's response decoder: the same messages whole or byte by byte. The first byte
/// says which responses answer HEAD requests.
pub fn http1_response(data: &[u8]) {
    let Some((&mask, data)) = data.split_first() else {
        return;
    };
    let to: Vec<ResponseTo> = (0..8)
        .map(|i| {
            if mask & (1 << i) != 0 {
                ResponseTo::Head
            } else {
                ResponseTo::NonHead
            }
        })
        .collect();
    let whole = responses(data, &to, data.len());
    let bytewise = responses(data, &to, 1);
    // Which error is found may differ (a bad header is caught early when it came with the
    // start line, else when the head completes), not whether one is, nor what came before.
    assert_eq!(
        (&whole.0, whole.1.is_some()),
        (&bytewise.0, bytewise.1.is_some()),
        "whole and byte-by-byte decoding differ: {whole:?} / {bytewise:?}"
    );
}

/// What a request stream decoded to through the borrowed decoder (retaining bodies).
fn requests(data: &[u8], pieces: usize) -> (Vec<String>, Option<String>) {
    let mut dec = RequestDecoder::new(Limits::default(), BodyMode::Retain);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for chunk in data.chunks(pieces.max(1)) {
        buf.extend_from_slice(chunk);
        loop {
            let (consumed, event) = match dec.decode(&buf) {
                Err(e) => return (out, Some(e.to_string())),
                Ok(Decoded { consumed, message }) => (
                    consumed,
                    message.map(|m| match m {
                        RequestEvent::Head(h) => format!(
                            "head {} {} {:?}",
                            h.method(),
                            h.target(),
                            h.headers().collect::<Vec<_>>()
                        ),
                        RequestEvent::Complete(s) => format!("complete {s:?}"),
                    }),
                ),
            };
            assert!(consumed <= buf.len());
            buf.drain(..consumed);
            match event {
                Some(e) => {
                    let body = if e.starts_with("complete") {
                        format!(" body {:?}", dec.body())
                    } else {
                        String::new()
                    };
                    out.push(e + &body);
                }
                None => break,
            }
        }
    }
    match dec.finish_eof() {
        Ok(Some(s)) => out.push(format!("complete {s:?} eof")),
        Ok(None) => {}
        Err(e) => return (out, Some(e.to_string())),
    }
    (out, None)
}

/// The recorder's and the target server's request decoders: the same requests whole or byte by
/// byte, and the owned collector agrees with the borrowed decoder on the request heads.
pub fn http1_request(data: &[u8]) {
    let whole = requests(data, data.len());
    let bytewise = requests(data, 1);
    assert_eq!(
        (&whole.0, whole.1.is_some()),
        (&bytewise.0, bytewise.1.is_some()),
        "whole and byte-by-byte decoding differ: {whole:?} / {bytewise:?}"
    );
    let mut col = RequestCollector::new(Limits::default());
    let mut buf = data.to_vec();
    let mut owned = 0;
    for _ in 0..=data.len() {
        match col.decode(&buf) {
            Ok(Decoded {
                consumed,
                message: Some(_),
            }) => {
                buf.drain(..consumed);
                owned += 1;
            }
            Ok(Decoded { consumed, .. }) => {
                buf.drain(..consumed);
                break;
            }
            Err(_) => break,
        }
    }
    let heads = whole.0.iter().filter(|e| e.starts_with("head")).count();
    assert!(
        owned <= heads,
        "the collector found {owned} requests, the decoder {heads} heads"
    );
}

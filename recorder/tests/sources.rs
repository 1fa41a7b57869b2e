//! Capture sources against fixtures made by real tools (tests/fixtures/README.md says how
//! each file was made and how its request count was counted independently), plus synthetic
//! captures that exercise what real loopback captures rarely show (reordering,
//! retransmission, loss, other link types).

mod synth;

use std::io::Write;
use std::path::{Path, PathBuf};

use ringload_recorder::source::access_log::{self, AccessLogOptions, LogFormat};
use ringload_recorder::source::har;
use ringload_recorder::source::pcap::{self, PcapOptions};
use ringload_recorder::{Capture, Exchange, Position, RecordError};
use synth::{Link, Segment, Tcp, pcap_bytes};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn skipped(c: &Capture, reason_part: &str) -> u64 {
    c.skipped
        .iter()
        .filter(|(r, _)| r.contains(reason_part))
        .map(|(_, n)| *n)
        .sum()
}

fn header<'e>(e: &'e Exchange, name: &str) -> Option<&'e str> {
    e.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn read_pcap(name: &str) -> Capture {
    pcap::read(&fixture(name), &PcapOptions::default()).expect("fixture reads")
}

// ---------------------------------------------------------------- real-tool fixtures

/// tcpdump -i lo (Ethernet link type): curl keep-alive x3, chunked upload with
/// `Expect: 100-continue`, 2 KiB form POST, IPv6 GET, 3 pipelined requests in one write,
/// and one non-HTTP client. tshark counts 9 requests.
#[test]
fn tcpdump_pcap_fixture() {
    let c = read_pcap("curl_keepalive_chunked_pipelined.pcap");
    assert_eq!(c.kind, "pcap");
    assert_eq!(c.exchanges.len(), 9, "tshark counted 9 requests");
    let paths: Vec<&str> = c.exchanges.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/products?category=shoes&page=1",
            "/api/v1/products/SKU-100045",
            "/api/v1/products/SKU-100046",
            "/api/v1/uploads",
            "/api/v1/login",
            "/api/v1/products/SKU-100045?v=6",
            "/api/v1/products?page=3",
            "/api/v1/cart/items",
            "/api/v1/products/SKU-100047",
        ]
    );
    // Every request got its response, in order, including after `100 Continue`.
    let statuses: Vec<Option<u16>> = c.exchanges.iter().map(|e| e.status).collect();
    let s = |v: u16| Some(v);
    assert_eq!(
        statuses,
        [
            s(200),
            s(200),
            s(200),
            s(202),
            s(200),
            s(200),
            s(200),
            s(201),
            s(200)
        ]
    );
    // curl keep-alive: the first three share a connection; pipelined ones share another.
    let conn: Vec<u64> = c
        .exchanges
        .iter()
        .map(|e| e.connection.expect("conn"))
        .collect();
    assert!(conn[0] == conn[1] && conn[1] == conn[2]);
    assert!(conn[6] == conn[7] && conn[7] == conn[8]);
    assert!(conn[2] != conn[3] && conn[3] != conn[4] && conn[5] != conn[6]);
    // Chunked upload: de-chunked body, framing headers dropped.
    let up = &c.exchanges[3];
    assert_eq!(up.method, "POST");
    assert_eq!(up.body, vec![b'a'; 3000]);
    assert!(header(up, "transfer-encoding").is_none());
    assert!(header(up, "expect").is_none());
    assert_eq!(header(up, "content-type"), Some("application/octet-stream"));
    let login = &c.exchanges[4];
    assert_eq!(login.body, vec![b'b'; 2048]);
    assert!(header(login, "content-length").is_none());
    // IPv6 client, Host header as authority.
    assert_eq!(c.exchanges[5].client.as_deref(), Some("::1"));
    assert_eq!(c.exchanges[0].client.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.exchanges[0].authority.as_deref(), Some("127.0.0.1:18437"));
    assert_eq!(c.exchanges[6].authority.as_deref(), Some("shop.local"));
    // Pipelined: all three from the same packet, same timestamp.
    assert_eq!(c.exchanges[6].position, c.exchanges[8].position);
    assert_eq!(c.exchanges[6].time_us, c.exchanges[8].time_us);
    assert_eq!(c.exchanges[7].body, br#"{"sku":"SKU-100047","qty":1}"#);
    // Times are packet times, non-decreasing in capture order.
    let times: Vec<i64> = c
        .exchanges
        .iter()
        .map(|e| e.time_us.expect("time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(matches!(c.exchanges[0].position, Some(Position::Packet(_))));
    // The `printf garbage | nc` client.
    assert_eq!(skipped(&c, "non-HTTP"), 1);
}

/// dumpcap -i any (pcapng, Linux cooked v1): curl keep-alive x2, HEAD, JSON POST, 3
/// pipelined requests over IPv6. tshark counts 7 requests.
#[test]
fn dumpcap_pcapng_fixture() {
    let c = read_pcap("dumpcap_any.pcapng");
    assert_eq!(c.exchanges.len(), 7, "tshark counted 7 requests");
    let methods: Vec<&str> = c.exchanges.iter().map(|e| e.method.as_str()).collect();
    assert_eq!(
        methods,
        ["GET", "GET", "HEAD", "POST", "GET", "POST", "GET"]
    );
    assert!(c.exchanges.iter().all(|e| e.status.is_some()));
    assert_eq!(c.exchanges[3].body, br#"{"sku":"SKU-100045","qty":1}"#);
    assert_eq!(c.exchanges[6].client.as_deref(), Some("::1"));
    // The HEAD response carries Content-Length but no body; the next response on the
    // connection would be misread otherwise.
    assert_eq!(c.exchanges[2].status, Some(200));
}

/// tcpdump -i any -y LINUX_SLL2: two keep-alive requests. tshark counts 2.
#[test]
fn tcpdump_sll2_fixture() {
    let c = read_pcap("tcpdump_any_sll2.pcap");
    assert_eq!(c.exchanges.len(), 2, "tshark counted 2 requests");
    assert_eq!(c.exchanges[0].connection, c.exchanges[1].connection);
    assert_eq!(c.exchanges[1].path, "/api/v1/products/SKU-100048");
}

/// tcpdump -i lo around 30 curl connections (`make/churn/make.sh`), two at a time, each with 1
/// to 4 requests: tshark counts 75 requests on 30 TCP streams, 8 with one request, 7 with two,
/// 7 with three, 8 with four.
#[test]
fn churn_short_connections_fixture() {
    let c = read_pcap("churn_short_connections.pcap");
    assert_eq!(c.exchanges.len(), 75, "tshark counted 75 requests");
    let mut per_conn: std::collections::BTreeMap<u64, usize> = Default::default();
    for e in &c.exchanges {
        *per_conn
            .entry(e.connection.expect("pcap keeps connections"))
            .or_default() += 1;
    }
    assert_eq!(per_conn.len(), 30, "tshark counted 30 TCP streams");
    let mut shape = [0usize; 5];
    for n in per_conn.values() {
        shape[*n] += 1;
    }
    assert_eq!(shape, [0, 8, 7, 7, 8]);
}

/// Chromium 156 driven by playwright-core's recordHar. jq counts 8 http(s) entries.
#[test]
fn chromium_har_fixture() {
    let c = har::read(&fixture("chromium_playwright.har")).expect("fixture reads");
    assert_eq!(c.kind, "har");
    assert_eq!(c.exchanges.len(), 8, "jq counted 8 http(s) entries");
    let calls: Vec<(&str, &str)> = c
        .exchanges
        .iter()
        .map(|e| (e.method.as_str(), e.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/"),
            ("GET", "/api/v1/products?category=shoes&page=1"),
            ("GET", "/api/v1/products/SKU-100045"),
            ("POST", "/api/v1/cart/items"),
            ("POST", "/api/v1/login"),
            ("PUT", "/api/v1/cart/items/SKU-100045"),
            ("DELETE", "/api/v1/cart/items/SKU-100045"),
            ("GET", "/api/v1/products/SKU-100046"),
        ]
    );
    let e = &c.exchanges;
    assert_eq!(e[3].body, br#"{"sku":"SKU-100045","qty":2}"#);
    assert_eq!(e[4].body, b"user=alice&password=s3cret");
    assert_eq!(e[5].body, br#"{"qty":3}"#);
    assert_eq!(e[3].status, Some(201));
    assert_eq!(header(&e[7], "x-request-id"), Some("req-7"));
    assert!(e.iter().all(|x| x.scheme.as_deref() == Some("http")));
    assert!(
        e.iter()
            .all(|x| x.authority.as_deref() == Some("127.0.0.1:18437"))
    );
    assert!(e.iter().all(|x| header(x, "content-length").is_none()));
    assert!(
        e.iter()
            .all(|x| !x.headers.iter().any(|(n, _)| n.starts_with(':')))
    );
    let times: Vec<i64> = e.iter().map(|x| x.time_us.expect("time")).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

/// nginx `combined` log from the same runs: 28 lines, one of them the non-HTTP client
/// (`"garbage" 400`). awk counts 27 request lines.
#[test]
fn nginx_combined_fixture() {
    let opts = AccessLogOptions {
        format: LogFormat::NginxCombined,
        fields: Vec::new(),
    };
    let c = access_log::read(&fixture("nginx_combined.log"), &opts).expect("fixture reads");
    assert_eq!(c.exchanges.len(), 27, "awk counted 27 request lines");
    assert_eq!(skipped(&c, "without an HTTP request line"), 1);
    assert!(c.notes.iter().any(|n| n.contains("bodies absent")));
    assert!(
        c.exchanges
            .iter()
            .all(|e| e.body.is_empty() && e.status.is_some())
    );
    assert!(
        c.exchanges
            .iter()
            .any(|e| e.client.as_deref() == Some("::1"))
    );
    assert_eq!(header(&c.exchanges[0], "user-agent"), Some("curl/7.88.1"));
}

/// nginx JSON (`escape=json`) log with the default field names: 28 lines, 27 requests.
#[test]
fn nginx_json_fixture() {
    let opts = AccessLogOptions {
        format: LogFormat::NginxJson,
        fields: Vec::new(),
    };
    let c = access_log::read(&fixture("nginx_json.log"), &opts).expect("fixture reads");
    assert_eq!(c.exchanges.len(), 27);
    assert_eq!(skipped(&c, "without an HTTP request line"), 1);
    assert!(
        c.exchanges
            .iter()
            .all(|e| e.authority.is_some() && e.time_us.is_some())
    );
}

// ---------------------------------------------------------------- synthetic captures

fn write_temp(bytes: &[u8], suffix: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(suffix)
        .tempfile()
        .expect("temp file");
    f.write_all(bytes).expect("write");
    f
}

fn read_bytes(bytes: &[u8], opts: &PcapOptions) -> Result<Capture, RecordError> {
    let f = write_temp(bytes, ".pcap");
    pcap::read(f.path(), opts)
}

const REQ_A: &[u8] = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
const REQ_B: &[u8] = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
const RESP_OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
const RESP_201: &[u8] = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";

/// A complete keep-alive connection: handshake, A, response, B (split in 7-byte
/// segments), response, close.
fn conversation(t: &mut Tcp, ts: i64) -> Vec<Segment> {
    let mut v = t.handshake(ts);
    v.extend(t.client(ts + 1, REQ_A, 1400));
    v.extend(t.server(ts + 2, RESP_OK, 1400));
    v.extend(t.client(ts + 3, REQ_B, 7));
    v.extend(t.server(ts + 4, RESP_201, 1400));
    v.extend(t.close(ts + 5));
    v
}

fn paths(c: &Capture) -> Vec<&str> {
    c.exchanges.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn every_link_type_and_ip_version() {
    for link in [Link::Ethernet, Link::Sll, Link::Sll2, Link::Null, Link::Raw] {
        for (client, server) in [
            ("10.0.0.1:40000", "10.0.0.2:80"),
            ("[fd00::1]:40000", "[fd00::2]:8080"),
        ] {
            let mut t = Tcp::new(client, server, 1000, 5000);
            let c = read_bytes(
                &pcap_bytes(link, &conversation(&mut t, 1_000_000)),
                &PcapOptions::default(),
            )
            .unwrap_or_else(|e| panic!("{link:?} {client}: {e}"));
            assert_eq!(paths(&c), ["/a", "/b"], "{link:?} {client}");
            assert_eq!(c.exchanges[1].body, b"hello world");
            assert_eq!(c.exchanges[1].status, Some(201));
            let ip = client
                .trim_start_matches('[')
                .rsplit_once(':')
                .map(|(h, _)| h.trim_end_matches(']'));
            assert_eq!(c.exchanges[0].client.as_deref(), ip);
        }
    }
}

#[test]
fn reordered_duplicated_and_interleaved_connections() {
    let mut rng = synth::Rng(0x5eed);
    let mut all: Vec<Vec<Segment>> = Vec::new();
    for i in 0..20u32 {
        let mut t = Tcp::new(
            &format!("10.0.{}.{}:{}", i / 200, i % 200 + 1, 30000 + i),
            "10.9.9.9:80",
            i.wrapping_mul(0x9e37_79b9),
            // Some sequence numbers wrap inside the connection.
            u32::MAX - 30 + i,
        );
        let mut segs = conversation(&mut t, 1_000_000 + i64::from(i) * 10);
        // Swap some neighbouring data segments and duplicate others (retransmissions).
        for j in 3..segs.len() - 4 {
            match rng.below(4) {
                0 => segs.swap(j, j + 1),
                1 => {
                    let dup = segs[j].clone();
                    segs.insert(j + 1, dup);
                }
                _ => {}
            }
        }
        all.push(segs);
    }
    // Interleave the connections packet by packet.
    let mut mixed = Vec::new();
    let mut cursors = vec![0usize; all.len()];
    while mixed.len() < all.iter().map(Vec::len).sum::<usize>() {
        let k = rng.below(all.len() as u64) as usize;
        if let Some(s) = all[k].get(cursors[k]) {
            mixed.push(s.clone());
            cursors[k] += 1;
        }
    }
    let c =
        read_bytes(&pcap_bytes(Link::Ethernet, &mixed), &PcapOptions::default()).expect("reads");
    assert_eq!(c.exchanges.len(), 40);
    let mut per_conn = std::collections::BTreeMap::<u64, Vec<&Exchange>>::new();
    for e in &c.exchanges {
        per_conn
            .entry(e.connection.expect("conn"))
            .or_default()
            .push(e);
    }
    assert_eq!(per_conn.len(), 20);
    for (_, v) in per_conn {
        assert_eq!(
            v.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
            ["/a", "/b"]
        );
        assert_eq!(v[1].body, b"hello world");
        assert_eq!((v[0].status, v[1].status), (Some(200), Some(201)));
    }
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
}

#[test]
fn missing_segment_abandons_the_stream_and_is_counted() {
    let mut t = Tcp::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut segs = t.handshake(1);
    segs.extend(t.client(2, REQ_A, 1400));
    segs.extend(t.server(3, RESP_OK, 1400));
    let body = t.client(4, REQ_B, 10);
    // Lose the second segment of request B; later segments still arrive.
    segs.extend(
        body.iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, s)| s.clone()),
    );
    segs.extend(t.client(5, b"GET /after-gap HTTP/1.1\r\n\r\n", 1400));
    let c = read_bytes(&pcap_bytes(Link::Ethernet, &segs), &PcapOptions::default()).expect("reads");
    assert_eq!(paths(&c), ["/a"], "nothing after the hole is trusted");
    assert_eq!(c.exchanges[0].status, Some(200));
    assert_eq!(skipped(&c, "gap"), 1, "{:?}", c.skipped);
}

#[test]
fn snaplen_cut_frames_count_as_missing_data() {
    let mut t = Tcp::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut w = synth::PcapWriter::new(Vec::new(), Link::Ethernet).expect("w");
    for s in t.handshake(1) {
        w.write(&s).expect("w");
    }
    for s in t.client(2, REQ_A, 1400) {
        w.write(&s).expect("w");
    }
    for s in t.client(3, REQ_B, 1400) {
        w.write_cut(&s, Some(14 + 20 + 20 + 10)).expect("w");
    }
    let c = read_bytes(&w.finish(), &PcapOptions::default()).expect("reads");
    assert_eq!(paths(&c), ["/a"]);
    assert_eq!(skipped(&c, "gap"), 1, "{:?}", c.skipped);
}

#[test]
fn port_filter_and_midstream_pickup() {
    // No handshake captured: the --port option says which side is the server, even
    // though the server speaks first here.
    let mut t = Tcp::new("10.0.0.1:40000", "10.0.0.2:8080", 100, 200);
    let mut segs = t.server(1, RESP_OK, 1400);
    segs.extend(t.client(2, REQ_A, 1400));
    segs.extend(t.server(3, RESP_OK, 1400));
    let mut other = Tcp::new("10.0.0.1:40001", "10.0.0.3:9090", 1, 1);
    segs.extend(conversation(&mut other, 10));
    let bytes = pcap_bytes(Link::Ethernet, &segs);
    let c = read_bytes(&bytes, &PcapOptions { ports: vec![8080] }).expect("reads");
    assert_eq!(paths(&c), ["/a"]);
    assert!(skipped(&c, "--port") > 0);
    assert_eq!(c.exchanges[0].client.as_deref(), Some("10.0.0.1"));
    let all = read_bytes(&bytes, &PcapOptions::default()).expect("reads");
    assert_eq!(all.exchanges.len(), 3);
}

#[test]
fn port_reuse_starts_a_new_connection() {
    let mut t = Tcp::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let mut segs = conversation(&mut t, 1);
    let mut again = Tcp::new("10.0.0.1:40000", "10.0.0.2:80", 777, 888);
    segs.extend(again.handshake(10));
    segs.extend(again.client(11, REQ_A, 1400));
    segs.push(again.reset(12));
    let c = read_bytes(&pcap_bytes(Link::Ethernet, &segs), &PcapOptions::default()).expect("reads");
    assert_eq!(paths(&c), ["/a", "/b", "/a"]);
    assert_ne!(c.exchanges[0].connection, c.exchanges[2].connection);
}

#[test]
fn bad_files_are_clear_errors() {
    let mut t = Tcp::new("10.0.0.1:40000", "10.0.0.2:80", 1, 1);
    let segs = conversation(&mut t, 1);
    let good = pcap_bytes(Link::Ethernet, &segs);
    // Truncated in the middle of the last record.
    let e = read_bytes(&good[..good.len() - 5], &PcapOptions::default()).unwrap_err();
    let RecordError::Malformed {
        at: Position::Packet(n),
        ..
    } = e
    else {
        panic!("{e}");
    };
    assert_eq!(n, segs.len() as u64, "the last record is the cut one");
    // Unsupported link type (802.11 = 105).
    let mut wifi = good.clone();
    wifi[20..24].copy_from_slice(&105u32.to_le_bytes());
    let e = read_bytes(&wifi, &PcapOptions::default()).unwrap_err();
    assert!(matches!(e, RecordError::Unsupported { .. }), "{e}");
    assert!(
        e.to_string().contains("packet 1") && e.to_string().contains("105"),
        "{e}"
    );
    // Not a capture at all.
    let e = read_bytes(b"hello, this is text", &PcapOptions::default()).unwrap_err();
    assert!(matches!(e, RecordError::Unsupported { .. }), "{e}");
    // A capture without HTTP.
    let mut tls = Tcp::new("10.0.0.1:40000", "10.0.0.2:443", 1, 1);
    let mut segs = tls.handshake(1);
    segs.extend(tls.client(2, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 1400));
    let e = read_bytes(&pcap_bytes(Link::Ethernet, &segs), &PcapOptions::default()).unwrap_err();
    assert!(matches!(e, RecordError::Empty { .. }), "{e}");
    assert!(e.to_string().contains("non-HTTP"), "{e}");
    // A real pcapng fixture cut short.
    let ng = std::fs::read(fixture("dumpcap_any.pcapng")).expect("fixture");
    let f = write_temp(&ng[..ng.len() / 2], ".pcapng");
    let e = pcap::read(f.path(), &PcapOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            RecordError::Malformed {
                at: Position::Packet(_),
                ..
            }
        ),
        "{e}"
    );
    // Missing file.
    let e = pcap::read(Path::new("/nonexistent/x.pcap"), &PcapOptions::default()).unwrap_err();
    assert!(matches!(e, RecordError::Io { .. }), "{e}");
}

#[test]
fn bad_har_and_logs_name_their_position() {
    let f = write_temp(
        b"{\"log\": {\"version\": \"1.2\", \"entries\": [\n{]}}",
        ".har",
    );
    let e = har::read(f.path()).unwrap_err();
    assert!(
        matches!(
            e,
            RecordError::Malformed {
                at: Position::Line(2),
                ..
            }
        ),
        "{e}"
    );
    let f = write_temp(
        b"{\"log\": {\"version\": \"1.1\", \"entries\": []}}",
        ".har",
    );
    assert!(matches!(
        har::read(f.path()),
        Err(RecordError::Unsupported { .. })
    ));
    let f = write_temp(b"1.2.3.4 - - [01/Jan/2024:00:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\nnonsense\n", ".log");
    let opts = AccessLogOptions {
        format: LogFormat::NginxCombined,
        fields: Vec::new(),
    };
    let e = access_log::read(f.path(), &opts).unwrap_err();
    assert!(
        matches!(
            e,
            RecordError::Malformed {
                at: Position::Line(2),
                ..
            }
        ),
        "{e}"
    );
}

/// The shop fixtures (README "Logged-in shoppers"): every request got its response, and the
/// login responses kept what auth detection reads: the JSON body with the token, the
/// `Set-Cookie`, the `X-Auth-Token` header.
#[test]
fn shop_fixtures_keep_login_responses() {
    let c = read_pcap("shop_shoppers.pcap");
    assert_eq!(c.exchanges.len(), 30, "tshark counted 30 requests");
    assert!(c.exchanges.iter().all(|e| e.status.is_some()));
    let logins: Vec<&Exchange> = c
        .exchanges
        .iter()
        .filter(|e| e.path == "/auth/realms/shop/protocol/openid-connect/token")
        .collect();
    assert_eq!(logins.len(), 3);
    for l in &logins {
        let v: serde_json::Value = serde_json::from_slice(&l.response_body).expect("JSON body");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 300);
        assert!(v["access_token"].as_str().unwrap().len() > 40);
    }
    // The recommendation responses carry the version header; HTML-free JSON bodies are kept.
    let versions: Vec<&str> = c
        .exchanges
        .iter()
        .filter_map(|e| {
            e.response_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("x-upstream-version"))
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert_eq!(versions.iter().filter(|v| **v == "canary-v2").count(), 3);
    assert_eq!(versions.iter().filter(|v| **v == "stable").count(), 3);

    let t = read_pcap("shop_token_styles.pcap");
    assert_eq!(t.exchanges.len(), 10);
    let session = t
        .exchanges
        .iter()
        .find(|e| e.path == "/api/v1/session")
        .unwrap();
    assert!(
        header_of(&session.response_headers, "set-cookie")
            .unwrap()
            .starts_with("shop_session=")
    );
    let token = t
        .exchanges
        .iter()
        .find(|e| e.path == "/api/v1/token")
        .unwrap();
    assert!(
        header_of(&token.response_headers, "x-auth-token")
            .unwrap()
            .len()
            > 40
    );

    let h = har::read(&fixture("shop_chromium.har")).expect("fixture reads");
    assert_eq!(h.exchanges.len(), 7, "jq counted 7 entries");
    let v: serde_json::Value =
        serde_json::from_slice(&h.exchanges[0].response_body).expect("login JSON");
    assert!(v["access_token"].is_string());
}

fn header_of<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

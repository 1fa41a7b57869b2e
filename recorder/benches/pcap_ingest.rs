//! pcap ingestion throughput: writes a large synthetic capture to a temp dir, then times
//! `ringload_recorder::source::pcap::read` on it and prints MB/s (file bytes per second).
//!
//! The capture models a busy HTTP/1.1 service seen by tcpdump: `RINGLOAD_BENCH_CONNS`
//! (default 512) connections open at once and interleaved packet by packet, each a
//! handshake, 1-40 keep-alive exchanges (a quarter of them pipelined in pairs, a fifth
//! POSTs with 100-2000 byte bodies, some chunked), responses of 150-6000 bytes split at a
//! 1448-byte MSS, and a FIN close. Size: `RINGLOAD_BENCH_MB` (default 256); largest response
//! body: `RINGLOAD_BENCH_RESP` (default 6000; lower it for a request-heavy capture).
//!
//! Run: `cargo bench -p ringload-recorder --bench pcap_ingest`

#[path = "../tests/synth/mod.rs"]
mod synth;

use std::fs::File;
use std::io::BufWriter;
use std::time::Instant;

use ringload_recorder::source::pcap::{self, PcapOptions};
use synth::{Link, PcapWriter, Rng, Segment, Tcp};

const MSS: usize = 1448;

struct Live {
    tcp: Tcp,
    left: u32,
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn request(rng: &mut Rng, n: u64) -> Vec<u8> {
    let id = 100_000 + rng.below(900_000);
    match rng.below(10) {
        0 | 1 => {
            let len = 100 + rng.below(1900) as usize;
            let body = vec![b'x'; len];
            let mut r = format!(
                "POST /api/v1/cart/items?session={n} HTTP/1.1\r\nHost: shop.example\r\n\
                 User-Agent: bench/1.0\r\nAccept: application/json\r\n\
                 Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
        2 => {
            let mut r = format!(
                "PUT /api/v1/uploads/{id} HTTP/1.1\r\nHost: shop.example\r\n\
                 Transfer-Encoding: chunked\r\n\r\n"
            )
            .into_bytes();
            for _ in 0..3 {
                r.extend_from_slice(b"100\r\n");
                r.extend_from_slice(&[b'u'; 256]);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
            r
        }
        _ => format!(
            "GET /api/v1/products/SKU-{id}?page={} HTTP/1.1\r\nHost: shop.example\r\n\
             User-Agent: Mozilla/5.0 (X11; Linux x86_64) bench\r\nAccept: */*\r\n\
             Accept-Encoding: gzip, deflate\r\nCookie: session=abcdef0123456789\r\n\r\n",
            rng.below(50)
        )
        .into_bytes(),
    }
}

fn response(rng: &mut Rng, max_body: u64) -> Vec<u8> {
    let len = 150 + rng.below(max_body.saturating_sub(150).max(1)) as usize;
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\n\r\n"
    )
    .into_bytes();
    r.resize(r.len() + len, b'r');
    r
}

fn write_capture(path: &std::path::Path, target_bytes: u64, conns: u64) -> (u64, u64) {
    let max_body = env_num("RINGLOAD_BENCH_RESP", 6000);
    let file = BufWriter::with_capacity(1 << 20, File::create(path).expect("create pcap"));
    let mut w = PcapWriter::new(file, Link::Ethernet).expect("header");
    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let mut ts: i64 = 1_700_000_000_000_000;
    let mut next_port: u64 = 0;
    let mut requests = 0u64;
    let mut written = 24u64;
    let mut open = |rng: &mut Rng, ts: i64, w: &mut PcapWriter<_>, written: &mut u64| {
        next_port += 1;
        let client = format!(
            "10.{}.{}.{}:{}",
            (next_port >> 16) & 0xff,
            (next_port >> 8) & 0xff,
            next_port & 0xff,
            1024 + next_port % 60000
        );
        let mut tcp = Tcp::new(
            &client,
            "10.200.0.1:8080",
            rng.next() as u32,
            rng.next() as u32,
        );
        for s in tcp.handshake(ts) {
            *written += emit(w, &s);
        }
        Live {
            tcp,
            left: 1 + rng.below(40) as u32,
        }
    };
    let mut live: Vec<Live> = (0..conns)
        .map(|_| open(&mut rng, ts, &mut w, &mut written))
        .collect();
    while written < target_bytes {
        ts += 7;
        let k = rng.below(live.len() as u64) as usize;
        let pipelined = rng.below(4) == 0 && live[k].left >= 2;
        let n = if pipelined { 2 } else { 1 };
        let mut req = Vec::new();
        let mut resp = Vec::new();
        for _ in 0..n {
            req.extend(request(&mut rng, requests));
            resp.extend(response(&mut rng, max_body));
            requests += 1;
        }
        let c = &mut live[k];
        for s in c.tcp.client(ts, &req, MSS) {
            written += emit(&mut w, &s);
        }
        for s in c.tcp.server(ts + 3, &resp, MSS) {
            written += emit(&mut w, &s);
        }
        c.left = c.left.saturating_sub(n);
        if c.left == 0 {
            for s in c.tcp.close(ts + 5) {
                written += emit(&mut w, &s);
            }
            live[k] = open(&mut rng, ts + 6, &mut w, &mut written);
        }
    }
    w.finish().into_inner().expect("flush pcap");
    (written, requests)
}

fn emit<W: std::io::Write>(w: &mut PcapWriter<W>, s: &Segment) -> u64 {
    w.write(s).expect("write packet");
    // record header + Ethernet + IPv4 + TCP + payload
    16 + 14 + 20 + 20 + s.payload.len() as u64
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. `cargo test --all-targets`, which
    // runs benches once in debug mode) gets a small smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let mb = if quick {
        4
    } else {
        env_num("RINGLOAD_BENCH_MB", 256)
    };
    let conns = env_num("RINGLOAD_BENCH_CONNS", 512);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.pcap");
    let t0 = Instant::now();
    let (bytes, requests) = write_capture(&path, mb * 1_000_000, conns);
    let gen_secs = t0.elapsed().as_secs_f64();
    let size = std::fs::metadata(&path).expect("stat").len();
    assert_eq!(size, bytes, "size accounting");
    eprintln!(
        "generated {:.1} MB, {requests} requests, {conns} concurrent connections in {gen_secs:.1}s",
        size as f64 / 1e6
    );
    let runs = if quick { 1 } else { 3 };
    let mut best = f64::MAX;
    for run in 1..=runs {
        let t = Instant::now();
        let capture = pcap::read(&path, &PcapOptions::default()).expect("bench capture reads");
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(
            capture.exchanges.len() as u64,
            requests,
            "every request recovered"
        );
        assert!(capture.exchanges.iter().all(|e| e.status == Some(200)));
        println!(
            "pcap_ingest run {run}: {:.1} MB in {secs:.3}s = {:.0} MB/s ({:.0} requests/s)",
            size as f64 / 1e6,
            size as f64 / 1e6 / secs,
            requests as f64 / secs
        );
        best = best.min(secs);
    }
    println!(
        "pcap_ingest best: {:.0} MB/s (target >= 200 MB/s)",
        size as f64 / 1e6 / best
    );
}

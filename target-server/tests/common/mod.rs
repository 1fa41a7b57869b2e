//! A tiny blocking HTTP/1.1 client for the integration tests: writes raw bytes, reads
//! responses with its own framing code (not the server's), every read under a timeout.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ringload_target::{TargetConfig, TargetHandle};

pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub fn start(cfg: TargetConfig) -> TargetHandle {
    ringload_target::spawn(cfg).expect("target server starts")
}

pub fn start_default() -> TargetHandle {
    start(TargetConfig::default())
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Number of chunks when the body was chunked.
    pub chunks: usize,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A client over any byte stream: a `TcpStream`, or a TLS stream around one.
pub struct Client<S = TcpStream> {
    pub stream: S,
    buf: Vec<u8>,
}

/// The generated body pattern: `abc…z` repeated.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

/// A TCP connection with every read and write under [`IO_TIMEOUT`].
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::over(tcp(addr))
    }
}

impl<S: Read + Write> Client<S> {
    pub fn over(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("write request");
    }

    pub fn get(&mut self, target: &str) -> Resp {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        self.read_response(false)
    }

    fn fill(&mut self) {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.stream.read(&mut tmp).expect("read (timed out?)");
        assert!(n > 0, "connection closed while a response was expected");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill();
        }
        self.buf.drain(..n).collect()
    }

    fn take_line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.drain(..i + 2).collect::<Vec<u8>>();
                return line[..i].to_vec();
            }
            assert!(self.buf.len() < 1 << 20, "line too long");
            self.fill();
        }
    }

    /// Reads one response; `head_request` means no body follows whatever the headers say.
    pub fn read_response(&mut self, head_request: bool) -> Resp {
        let (status, headers, head_len) = loop {
            let mut slots = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut slots);
            match r.parse(&self.buf).expect("valid response head") {
                httparse::Status::Complete(n) => {
                    let headers = r
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect::<Vec<_>>();
                    break (r.code.unwrap(), headers, n);
                }
                httparse::Status::Partial => self.fill(),
            }
        };
        self.buf.drain(..head_len);
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
            chunks: 0,
        };
        if head_request || status < 200 || status == 204 || status == 304 {
            return resp;
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if chunked {
            loop {
                let line = String::from_utf8(self.take_line()).unwrap();
                let size =
                    usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap();
                if size == 0 {
                    assert!(self.take_line().is_empty(), "no trailers expected");
                    break;
                }
                resp.chunks += 1;
                let data = self.take(size);
                resp.body.extend_from_slice(&data);
                assert_eq!(self.take(2), b"\r\n");
            }
        } else {
            let len: usize = resp
                .header("content-length")
                .expect("content-length")
                .parse()
                .unwrap();
            resp.body = self.take(len);
        }
        resp
    }
}

impl Client {
    /// True if the server closes the connection (EOF or reset) within 2 s and sent
    /// nothing more.
    pub fn closed_by_server(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let mut tmp = [0u8; 64];
        let closed = match self.stream.read(&mut tmp) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        closed
    }
}

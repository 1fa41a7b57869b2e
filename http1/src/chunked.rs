//! Incremental decoder for the `chunked` transfer coding (RFC 9112 §7.1).
//!
//! A byte-level state machine that never buffers: chunk data is handed to a sink
//! as sub-slices of the input, everything else (sizes, extensions, trailers) is
//! validated and dropped. Framing is strict: every line ends in CRLF (a bare LF
//! is an error), because lenient chunk parsing is a classic smuggling vector and
//! we want the recorder and engine to notice broken peers rather than guess.
//! Chunk extensions and trailer fields are skipped within hard limits.

use crate::error::{ErrorKind, LocalError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex digits of a chunk size.
    Size,
    /// After the size: optional whitespace before `;` or CR.
    SizeWs,
    /// Inside a chunk extension, up to CR.
    Ext,
    /// Saw CR ending the size line, need LF.
    SizeLf,
    /// Inside chunk data, `remaining` bytes left.
    Data,
    /// After chunk data, need CR.
    DataCr,
    /// After chunk data and CR, need LF.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line, up to CR.
    Trailer,
    /// Saw CR in a trailer field line, need LF.
    TrailerLf,
    /// Saw CR of the final empty line, need LF.
    EndLf,
    /// Body complete.
    Done,
}

/// Progress of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkProgress {
    /// Input bytes consumed.
    pub consumed: usize,
    /// Payload (chunk data) bytes among them.
    pub data: u64,
    /// The terminating empty line was consumed; the body is complete.
    pub done: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Chunk size being read, then bytes of chunk data still expected.
    remaining: u64,
    /// Hex digits seen in the current size (to reject an empty size).
    digits: u32,
    /// Bytes of the current size line so far (bounded by `max_line`).
    line_len: usize,
    /// Bytes of the trailer section so far (bounded by `max_trailers`).
    trailer_len: usize,
    max_line: usize,
    max_trailers: usize,
}

fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

impl ChunkedDecoder {
    pub(crate) fn new(max_line: usize, max_trailers: usize) -> Self {
        ChunkedDecoder {
            state: State::Size,
            remaining: 0,
            digits: 0,
            line_len: 0,
            trailer_len: 0,
            max_line,
            max_trailers,
        }
    }

    /// Consumes as much of `buf` as belongs to this body, passing chunk data to
    /// `sink`. Stops right after the body's last byte, so pipelined data that
    /// follows is left for the next message.
    pub(crate) fn decode<F: FnMut(&[u8])>(
        &mut self,
        buf: &[u8],
        mut sink: F,
    ) -> Result<ChunkProgress, LocalError> {
        let mut i = 0;
        let mut data = 0u64;
        while i < buf.len() {
            if self.state == State::Data {
                let avail = (buf.len() - i) as u64;
                // `take` <= buf.len() - i, so the cast back to usize is lossless.
                let take = self.remaining.min(avail) as usize;
                sink(&buf[i..i + take]);
                i += take;
                data += take as u64;
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            let b = buf[i];
            self.step(b, i)?;
            i += 1;
            if self.state == State::Done {
                break;
            }
        }
        Ok(ChunkProgress {
            consumed: i,
            data,
            done: self.state == State::Done,
        })
    }

    /// Whether the terminating empty line has been consumed.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn count_line_byte(&mut self, at: usize) -> Result<(), LocalError> {
        self.line_len += 1;
        if self.line_len > self.max_line {
            return Err(LocalError::new(
                ErrorKind::ChunkLineTooLong,
                "chunk-size line exceeds limit",
                at,
            ));
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self, at: usize) -> Result<(), LocalError> {
        self.trailer_len += 1;
        if self.trailer_len > self.max_trailers {
            return Err(LocalError::new(
                ErrorKind::TrailersTooLarge,
                "trailer section exceeds limit",
                at,
            ));
        }
        Ok(())
    }

    /// Advances the non-data states by one byte at input index `at`.
    fn step(&mut self, b: u8, at: usize) -> Result<(), LocalError> {
        let bad = |detail| Err(LocalError::new(ErrorKind::InvalidChunk, detail, at));
        match self.state {
            State::Size => {
                if let Some(v) = hex_value(b) {
                    self.count_line_byte(at)?;
                    // 16 hex digits fill a u64; a 17th significant one overflows.
                    // Leading zeros are harmless, so test the value, not the count.
                    if self.remaining > (u64::MAX >> 4) {
                        return bad("chunk size overflows u64");
                    }
                    self.remaining = (self.remaining << 4) | v;
                    self.digits += 1;
                    return Ok(());
                }
                if self.digits == 0 {
                    return bad("chunk size has no hex digits");
                }
                self.state = State::SizeWs;
                self.step(b, at)
            }
            State::SizeWs => match b {
                b' ' | b'\t' => self.count_line_byte(at),
                b';' => {
                    self.state = State::Ext;
                    self.count_line_byte(at)
                }
                b'\r' => {
                    self.state = State::SizeLf;
                    Ok(())
                }
                b'\n' => bad("bare LF after chunk size"),
                _ => bad("invalid byte after chunk size"),
            },
            State::Ext => match b {
                b'\r' => {
                    self.state = State::SizeLf;
                    Ok(())
                }
                b'\n' => bad("bare LF in chunk extension"),
                0 => bad("NUL in chunk extension"),
                _ => self.count_line_byte(at),
            },
            State::SizeLf => {
                if b != b'\n' {
                    return bad("CR not followed by LF in chunk-size line");
                }
                self.line_len = 0;
                self.digits = 0;
                self.state = if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                };
                Ok(())
            }
            State::Data => Ok(()), // handled in bulk by `decode`
            State::DataCr => {
                if b != b'\r' {
                    return bad("chunk data not followed by CRLF");
                }
                self.state = State::DataLf;
                Ok(())
            }
            State::DataLf => {
                if b != b'\n' {
                    return bad("chunk data not followed by CRLF");
                }
                self.state = State::Size;
                Ok(())
            }
            State::TrailerStart => {
                if b == b'\r' {
                    self.state = State::EndLf;
                    return Ok(());
                }
                if b == b'\n' {
                    return bad("bare LF in trailer section");
                }
                if b == b' ' || b == b'\t' || b == b':' {
                    return bad("trailer field line does not start with a name");
                }
                self.count_trailer_byte(at)?;
                self.state = State::Trailer;
                Ok(())
            }
            State::Trailer => match b {
                b'\r' => {
                    self.state = State::TrailerLf;
                    Ok(())
                }
                b'\n' => bad("bare LF in trailer section"),
                0 => bad("NUL in trailer section"),
                _ => self.count_trailer_byte(at),
            },
            State::TrailerLf => {
                if b != b'\n' {
                    return bad("CR not followed by LF in trailer section");
                }
                self.count_trailer_byte(at)?;
                self.state = State::TrailerStart;
                Ok(())
            }
            State::EndLf => {
                if b != b'\n' {
                    return bad("CR not followed by LF after last chunk");
                }
                self.state = State::Done;
                Ok(())
            }
            State::Done => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> Result<(ChunkProgress, Vec<u8>), LocalError> {
        let mut d = ChunkedDecoder::new(64, 64);
        let mut out = Vec::new();
        let p = d.decode(input, |s| out.extend_from_slice(s))?;
        Ok((p, out))
    }

    #[test]
    fn simple_body_with_extension_and_trailer() {
        let input = b"4;name=val\r\nWiki\r\n5 \r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (p, out) = run(input).unwrap();
        assert!(p.done);
        assert_eq!(out, b"Wikipedia");
        assert_eq!(p.data, 9);
        assert_eq!(&input[p.consumed..], b"NEXT");
    }

    #[test]
    fn byte_by_byte_equals_whole() {
        let input = b"a\r\n0123456789\r\n1;x\r\nZ\r\n0\r\n\r\n";
        let mut d = ChunkedDecoder::new(64, 64);
        let mut out = Vec::new();
        for (i, b) in input.iter().enumerate() {
            let p = d
                .decode(std::slice::from_ref(b), |s| out.extend_from_slice(s))
                .unwrap();
            assert_eq!(p.consumed, 1);
            assert_eq!(p.done, i == input.len() - 1);
        }
        assert_eq!(out, b"0123456789Z");
    }

    #[test]
    fn leading_zeros_are_not_overflow() {
        let (p, _) = run(b"00000000000000000000001\r\nx\r\n0\r\n\r\n").unwrap();
        assert!(p.done);
    }

    #[test]
    fn errors() {
        let cases: &[(&[u8], ErrorKind, usize)] = &[
            (b"10000000000000000\r\n", ErrorKind::InvalidChunk, 16),
            (b"zz\r\n", ErrorKind::InvalidChunk, 0),
            (b"\r\n", ErrorKind::InvalidChunk, 0),
            (b"-1\r\n", ErrorKind::InvalidChunk, 0),
            (b"1x\r\n", ErrorKind::InvalidChunk, 1),
            (b"1\n", ErrorKind::InvalidChunk, 1),
            (b"1\rx", ErrorKind::InvalidChunk, 2),
            (b"1\r\nab", ErrorKind::InvalidChunk, 4),
            (b"0\r\n\n", ErrorKind::InvalidChunk, 3),
            (b"0\r\n: x\r\n", ErrorKind::InvalidChunk, 3),
        ];
        for (input, kind, at) in cases {
            let e = run(input).unwrap_err();
            assert_eq!((e.kind, e.at), (*kind, *at), "input {:?}", input);
        }
    }

    #[test]
    fn limits() {
        let long_ext = [b"1;".as_slice(), &[b'e'; 70], b"\r\n"].concat();
        assert_eq!(
            run(&long_ext).unwrap_err().kind,
            ErrorKind::ChunkLineTooLong
        );
        let long_trailer = [b"0\r\nX: ".as_slice(), &[b'v'; 70], b"\r\n\r\n"].concat();
        assert_eq!(
            run(&long_trailer).unwrap_err().kind,
            ErrorKind::TrailersTooLarge
        );
    }
}

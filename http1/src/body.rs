//! Message body framing shared by both decoders: a fixed length, the chunked
//! coding, or (responses only) everything until the connection closes.
//!
//! Bodies are never buffered here: payload slices go to a sink closure that
//! either drops them (engine, target server) or copies them up to a cap
//! (recorder).

use crate::chunked::ChunkedDecoder;
use crate::error::LocalError;

#[derive(Debug, Clone)]
pub(crate) enum BodyDecoder {
    /// `Content-Length`: this many payload bytes still expected.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(ChunkedDecoder),
    /// No length information in a response: read until EOF.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyProgress {
    pub consumed: usize,
    pub data: u64,
    pub done: bool,
}

impl BodyDecoder {
    pub(crate) fn decode<F: FnMut(&[u8])>(
        &mut self,
        buf: &[u8],
        mut sink: F,
    ) -> Result<BodyProgress, LocalError> {
        match self {
            BodyDecoder::Length(remaining) => {
                // Lossless: the minimum is at most buf.len().
                let take = (*remaining).min(buf.len() as u64) as usize;
                if take > 0 {
                    sink(&buf[..take]);
                }
                *remaining -= take as u64;
                Ok(BodyProgress {
                    consumed: take,
                    data: take as u64,
                    done: *remaining == 0,
                })
            }
            BodyDecoder::Chunked(c) => {
                let p = c.decode(buf, sink)?;
                Ok(BodyProgress {
                    consumed: p.consumed,
                    data: p.data,
                    done: p.done,
                })
            }
            BodyDecoder::UntilClose => {
                if !buf.is_empty() {
                    sink(buf);
                }
                Ok(BodyProgress {
                    consumed: buf.len(),
                    data: buf.len() as u64,
                    done: false,
                })
            }
        }
    }

    /// Whether EOF right now ends the body cleanly.
    pub(crate) fn complete_at_eof(&self) -> bool {
        match self {
            BodyDecoder::Length(r) => *r == 0,
            BodyDecoder::Chunked(c) => c.is_done(),
            BodyDecoder::UntilClose => true,
        }
    }
}

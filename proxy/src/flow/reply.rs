//! [`Reply`]: the answers the proxy gives itself (400, 501, 502, 504), each a whole response
//! that closes the connection.

/// An answer the proxy gives itself, as a whole response that closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The client's request head could not be parsed.
    BadRequest,
    /// A protocol upgrade (WebSocket, h2c) or a `CONNECT` tunnel: not proxied.
    UpgradeRefused,
    /// The upstream could not be reached, closed before answering or answered garbage.
    BadGateway,
    /// The upstream did not answer within the timeout.
    GatewayTimeout,
}

impl Reply {
    pub fn status(self) -> u16 {
        match self {
            Reply::BadRequest => 400,
            Reply::UpgradeRefused => 501,
            Reply::BadGateway => 502,
            Reply::GatewayTimeout => 504,
        }
    }

    fn parts(self) -> (&'static str, &'static str) {
        match self {
            Reply::BadRequest => ("Bad Request", "the request could not be parsed as HTTP/1.1"),
            Reply::UpgradeRefused => (
                "Not Implemented",
                "protocol upgrades (WebSocket, h2c) and CONNECT are not proxied",
            ),
            Reply::BadGateway => (
                "Bad Gateway",
                "the upstream could not be reached, closed the connection or sent an invalid response",
            ),
            Reply::GatewayTimeout => ("Gateway Timeout", "the upstream did not answer in time"),
        }
    }

    /// The whole response: status line, framing, `Connection: close`, a one-line text body.
    pub fn bytes(self) -> Vec<u8> {
        let (reason, why) = self.parts();
        let body = format!("ringload proxy: {why}\n");
        format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
             x-ringload-proxy: {}\r\nconnection: close\r\n\r\n{body}",
            self.status(),
            body.len(),
            self.status()
        )
        .into_bytes()
    }
}

//! HTTP CONNECT (RFC 9110 §9.3.6) through a web proxy, for networks whose only way out
//! is a proxy (R-TLS-2, draft-05 Appendix B). A small client of our own: the bytes the
//! proxy passes on right after its `200` belong to the tunnel and are handed back, not
//! lost; the proxy's answer is bounded in size and time, and a refusal names the proxy
//! and what it said.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

pub use iketcp_wire::http::MAX_HEADER;
use iketcp_wire::http::{ConnectAnswer, connect_answer};

/// A web proxy: where it is, and the Basic credentials it wants, if any.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    /// `user:password`, sent as Basic (RFC 7617).
    credentials: Option<String>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({self}")?;
        if self.credentials.is_some() {
            write!(f, ", with credentials")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "http://{}:{}", self.host, self.port)
        }
    }
}

/// Why a proxy URL is not usable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProxyUrlError {
    #[error("{0:?}: only http:// proxies are supported")]
    Scheme(String),
    #[error("{0:?}: no host")]
    NoHost(String),
    #[error("{0:?}: bad port")]
    Port(String),
    #[error("{0:?}: put credentials in a file, not in the URL")]
    Credentials(String),
}

impl Proxy {
    /// `http://host:port` (port 3128 when left out; `[v6]` for IPv6), as `http_proxy`
    /// and `https_proxy` are written; a trailing `/` is allowed.
    pub fn parse(url: &str) -> Result<Proxy, ProxyUrlError> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("HTTP://"))
            .ok_or_else(|| ProxyUrlError::Scheme(url.into()))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('@') {
            return Err(ProxyUrlError::Credentials(url.into()));
        }
        if rest.contains('/') {
            return Err(ProxyUrlError::NoHost(url.into()));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| ProxyUrlError::NoHost(url.into()))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(ProxyUrlError::Port(url.into())),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(ProxyUrlError::NoHost(url.into()));
        }
        let port = match port {
            None => 3128,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| ProxyUrlError::Port(url.into()))?,
        };
        Ok(Proxy {
            host: host.to_string(),
            port,
            credentials: None,
        })
    }

    /// The proxy the environment names (`https_proxy`, then `HTTPS_PROXY`), if any.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Option<Result<Proxy, ProxyUrlError>> {
        ["https_proxy", "HTTPS_PROXY"]
            .iter()
            .find_map(|k| env(k).filter(|v| !v.is_empty()))
            .map(|v| Proxy::parse(&v))
    }

    /// The same proxy, sending `user:password` as Basic credentials.
    pub fn with_credentials(mut self, user_password: String) -> Proxy {
        self.credentials = Some(user_password);
        self
    }

    /// Asks the proxy, over `stream` (already connected to it), for a tunnel to
    /// `target`. Returns the bytes that came after the proxy's answer: the start of the
    /// tunnel, to be read before anything else.
    pub async fn connect<S>(
        &self,
        stream: &mut S,
        target: SocketAddr,
        timeout: Duration,
    ) -> Result<Vec<u8>, ProxyError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let fail = |why: Why| ProxyError {
            proxy: self.to_string(),
            target,
            why,
        };
        let exchange = async {
            let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
            if let Some(c) = &self.credentials {
                let token = base64::engine::general_purpose::STANDARD.encode(c);
                req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
            }
            req.push_str("\r\n");
            stream
                .write_all(req.as_bytes())
                .await
                .map_err(|e| fail(Why::Io(e.to_string())))?;
            let mut buf = Vec::with_capacity(1024);
            let (status, reason, end) = loop {
                match connect_answer(&buf) {
                    ConnectAnswer::Complete {
                        status,
                        reason,
                        len,
                    } => break (status, reason, len),
                    ConnectAnswer::TooLong => return Err(fail(Why::HeaderTooLong)),
                    ConnectAnswer::Malformed => return Err(fail(Why::Malformed)),
                    ConnectAnswer::Incomplete => {}
                }
                let mut chunk = [0u8; 1024];
                let room = (MAX_HEADER + 4 - buf.len()).min(chunk.len());
                let n = stream
                    .read(&mut chunk[..room])
                    .await
                    .map_err(|e| fail(Why::Io(e.to_string())))?;
                if n == 0 {
                    return Err(fail(Why::Closed));
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            if !(200..300).contains(&status) {
                return Err(fail(Why::Refused { status, reason }));
            }
            Ok(buf.split_off(end))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(fail(Why::Timeout(timeout))))
    }
}

/// What went wrong with a proxy: which proxy, for which peer, and its answer.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("proxy {proxy} (CONNECT {target}): {why}")]
pub struct ProxyError {
    pub proxy: String,
    pub target: SocketAddr,
    pub why: Why,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Why {
    #[error("refused: {status} {reason}")]
    Refused { status: u16, reason: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("answer header longer than {MAX_HEADER} bytes")]
    HeaderTooLong,
    #[error("not an HTTP answer")]
    Malformed,
    #[error("closed the connection before answering")]
    Closed,
    #[error("{0}")]
    Io(String),
}

/// A stream whose first bytes were already read (the tunnel's start that came with the
/// proxy's answer): they are read again first.
pub struct Rewind<S> {
    head: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub fn new(head: Vec<u8>, inner: S) -> Self {
        Rewind {
            head,
            pos: 0,
            inner,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.head.len() {
            let n = (self.head.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.head[start..start + n]);
            self.pos += n;
            if self.pos == self.head.len() {
                self.head = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = Proxy::parse("http://proxy.example:8080/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 8080));
        assert_eq!(Proxy::parse("http://10.0.0.1").unwrap().port, 3128);
        let v6 = Proxy::parse("http://[2001:db8::1]:3128").unwrap();
        assert_eq!(v6.host, "2001:db8::1");
        assert_eq!(v6.to_string(), "http://[2001:db8::1]:3128");
        assert!(matches!(
            Proxy::parse("https://p:1"),
            Err(ProxyUrlError::Scheme(_))
        ));
        assert!(matches!(
            Proxy::parse("http://u:p@h:1"),
            Err(ProxyUrlError::Credentials(_))
        ));
        assert!(matches!(
            Proxy::parse("http://h:0"),
            Err(ProxyUrlError::Port(_))
        ));
        assert!(matches!(
            Proxy::parse("http://:80"),
            Err(ProxyUrlError::NoHost(_))
        ));
        let env = |k: &str| (k == "HTTPS_PROXY").then(|| "http://h:1".to_string());
        assert_eq!(Proxy::from_env(env).unwrap().unwrap().port, 1);
        assert!(Proxy::from_env(|_| None).is_none());
    }
}

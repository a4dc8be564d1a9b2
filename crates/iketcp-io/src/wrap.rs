//! What a connection is wrapped in before RFC 9329 framing starts: nothing, TLS, an
//! HTTP CONNECT tunnel, or TLS inside one (R-CFG-2, R-TLS-1, R-TLS-2). Opening and
//! accepting run in their own tasks, bounded in time; the node only learns of a
//! connection once it is ready to carry the prefix.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tracing::info;

use crate::proxy::{Proxy, ProxyError, Rewind};
use crate::tls::{ClientSettings, ServerSettings};

/// How connections to one peer are opened.
#[derive(Debug, Clone, Default)]
pub struct StreamSettings {
    /// The stream inside TLS.
    pub tls: Option<ClientSettings>,
    /// Through this web proxy.
    pub proxy: Option<Proxy>,
}

/// Per peer configuration name; replaced as a whole on reload.
pub type StreamTable = Arc<RwLock<HashMap<String, StreamSettings>>>;

/// Any byte stream a connection can end up as.
pub trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteStream for T {}

/// A connection ready for the stream prefix.
pub enum Opened {
    /// Plain TCP: read without holding a buffer while idle.
    Tcp(TcpStream),
    Wrapped {
        stream: Box<dyn ByteStream>,
        tls: bool,
        local: SocketAddr,
        remote: SocketAddr,
    },
}

impl Opened {
    pub fn addrs(&self) -> io::Result<(SocketAddr, SocketAddr)> {
        match self {
            Opened::Tcp(s) => Ok((s.local_addr()?, s.peer_addr()?)),
            Opened::Wrapped { local, remote, .. } => Ok((*local, *remote)),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Opened::Wrapped { tls: true, .. })
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("connect to {0}: {1}")]
    Tcp(SocketAddr, io::Error),
    #[error("proxy {0}: cannot resolve: {1}")]
    Resolve(String, io::Error),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error("TLS with {0}: {1}")]
    Tls(SocketAddr, io::Error),
}

/// Opens a connection to `remote` from `local`'s address as `settings` say: TCP to the
/// proxy or the peer, CONNECT, then TLS. `tune` is applied to the TCP socket.
pub async fn open(
    local: IpAddr,
    remote: SocketAddr,
    settings: &StreamSettings,
    timeout: Duration,
    mark: Option<u32>,
    tune: impl FnOnce(&TcpStream),
) -> Result<Opened, ConnectError> {
    let to = match &settings.proxy {
        None => remote,
        Some(p) => tokio::net::lookup_host((p.host.as_str(), p.port))
            .await
            .map_err(|e| ConnectError::Resolve(p.to_string(), e))?
            .next()
            .ok_or_else(|| ConnectError::Resolve(p.to_string(), io::ErrorKind::NotFound.into()))?,
    };
    let tcp = async {
        let sock = match to {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(m) = mark {
            // Before the SYN: its route is chosen by it (`routes::FWMARK`).
            socket2::SockRef::from(&sock).set_mark(m)?;
        }
        if !local.is_unspecified() && local.is_ipv4() == to.is_ipv4() {
            sock.bind(SocketAddr::new(local, 0))?;
        }
        sock.connect(to).await
    };
    let mut stream = match tokio::time::timeout(timeout, tcp).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(ConnectError::Tcp(to, e)),
        Err(_) => return Err(ConnectError::Tcp(to, io::ErrorKind::TimedOut.into())),
    };
    tune(&stream);
    if settings.proxy.is_none() && settings.tls.is_none() {
        return Ok(Opened::Tcp(stream));
    }
    let local = stream.local_addr().map_err(|e| ConnectError::Tcp(to, e))?;
    let head = match &settings.proxy {
        Some(p) => {
            let head = p.connect(&mut stream, remote, timeout).await?;
            info!("proxy {p} opened a tunnel to {remote}");
            head
        }
        None => Vec::new(),
    };
    let base = Rewind::new(head, stream);
    let (stream, tls): (Box<dyn ByteStream>, bool) = match &settings.tls {
        Some(t) => {
            let s = tokio::time::timeout(timeout, t.connect(base))
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
                .map_err(|e| ConnectError::Tls(remote, e))?;
            (Box::new(s), true)
        }
        None => (Box::new(base), false),
    };
    Ok(Opened::Wrapped {
        stream,
        tls,
        local,
        remote,
    })
}

/// What a listening port takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenMode {
    Plain,
    Tls,
    /// Both, told apart by the first byte.
    Either,
}

/// Makes an accepted connection ready: on a TLS port, the server handshake; on a port
/// that takes both, TLS only if the first byte opens a TLS record. `None`, with a log
/// line, when the handshake fails or does not end in `timeout`.
pub async fn accept(
    stream: TcpStream,
    local: SocketAddr,
    mode: ListenMode,
    server: Option<&ServerSettings>,
    timeout: Duration,
) -> Option<Opened> {
    let Ok(remote) = stream.peer_addr() else {
        return None;
    };
    let ready = async {
        let tls = match mode {
            ListenMode::Plain => false,
            ListenMode::Tls => true,
            ListenMode::Either => {
                let mut first = [0u8; 1];
                match stream.peek(&mut first).await {
                    Ok(1) => crate::tls::looks_like_tls(first[0]),
                    _ => return Err("closed before its first byte".to_string()),
                }
            }
        };
        if !tls {
            return Ok(Opened::Tcp(stream));
        }
        let Some(server) = server else {
            return Err("no TLS certificate configured".to_string());
        };
        let s = server.accept(stream).await.map_err(|e| e.to_string())?;
        Ok(Opened::Wrapped {
            stream: Box::new(s),
            tls: true,
            local,
            remote,
        })
    };
    match tokio::time::timeout(timeout, ready).await {
        Ok(Ok(o)) => Some(o),
        Ok(Err(e)) => {
            info!("TLS from {remote} on {local}: {e}; closed");
            None
        }
        Err(_) => {
            info!("TLS from {remote} on {local}: no handshake within {timeout:?}; closed");
            None
        }
    }
}

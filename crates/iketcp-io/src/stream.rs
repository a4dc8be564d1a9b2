//! RFC 9329 framing over any `AsyncRead + AsyncWrite` (R-FRAME-9).
//!
//! The codec is [`iketcp_wire::encap::stream`]; this module only moves its bytes. Received
//! bytes are read straight into the deframer's buffer and whole messages come out as
//! slices of it; sent messages go out as a vectored write of the frame header and the
//! caller's buffer, so no message body is copied in user space.

use bytes::Buf;
use iketcp_wire::encap::stream::{
    Closed, Deframer, EncodeError, Frame, Framer, Limits, Outgoing, Role, StreamError,
};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RecvError {
    #[error("stream I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("stream framing: {0}")]
    Framing(#[from] StreamError),
}

impl RecvError {
    /// Whether the connection must be closed. A message refused for its size or shape is
    /// not fatal: it was skipped and the next one can be read.
    pub fn is_fatal(&self) -> bool {
        match self {
            RecvError::Io(_) => true,
            RecvError::Framing(e) => e.is_fatal(),
        }
    }
}

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SendError {
    #[error("stream I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("message refused: {0}")]
    Encode(#[from] EncodeError),
}

/// The receiving half of a framed stream.
#[derive(Debug)]
pub struct FramedRead<R> {
    io: R,
    deframer: Deframer,
    eof: bool,
}

impl<R: AsyncRead + Unpin> FramedRead<R> {
    pub fn new(io: R, role: Role, limits: Limits) -> Self {
        Self {
            io,
            deframer: Deframer::new(role, limits),
            eof: false,
        }
    }

    /// The next message; `Ok(None)` when the peer closed the stream. A message cut off by
    /// the close is discarded (R-FRAME-7); [`FramedRead::close`] says how much.
    pub async fn recv(&mut self) -> Result<Option<Frame>, RecvError> {
        loop {
            if let Some(frame) = self.deframer.next_frame()? {
                return Ok(Some(frame));
            }
            if self.eof {
                return Ok(None);
            }
            let n = self.io.read_buf(&mut self.deframer.read_buf()).await?;
            if n == 0 {
                self.eof = true;
            }
        }
    }

    /// Ends this half, returning what the deframer saw and threw away.
    pub fn close(self) -> (R, Closed) {
        (self.io, self.deframer.close())
    }
}

/// The sending half of a framed stream.
#[derive(Debug)]
pub struct FramedWrite<W> {
    io: W,
    framer: Framer,
}

impl<W: AsyncWrite + Unpin> FramedWrite<W> {
    pub fn new(io: W, role: Role, limits: Limits) -> Self {
        Self {
            io,
            framer: Framer::new(role, limits),
        }
    }

    /// Frames and writes one message; the Originator's first write carries the prefix.
    pub async fn send(&mut self, msg: Outgoing<'_>) -> Result<(), SendError> {
        let header = self.framer.header(msg)?;
        let (Outgoing::Ike(body) | Outgoing::Esp(body)) = msg;
        // `write_all_buf` uses vectored writes where the stream supports them.
        let mut buf = Buf::chain(header.as_slice(), body);
        self.io.write_all_buf(&mut buf).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> std::io::Result<()> {
        self.io.flush().await
    }

    /// Sends FIN (for TCP) after flushing.
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        self.io.shutdown().await
    }

    pub fn into_inner(self) -> W {
        self.io
    }
}

/// Splits a byte stream into its framed halves.
pub fn framed<S: AsyncRead + AsyncWrite>(
    io: S,
    role: Role,
    limits: Limits,
) -> (FramedRead<ReadHalf<S>>, FramedWrite<WriteHalf<S>>) {
    let (r, w) = tokio::io::split(io);
    (
        FramedRead::new(r, role, limits),
        FramedWrite::new(w, role, limits),
    )
}

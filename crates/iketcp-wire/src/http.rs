//! A web proxy's answer to HTTP CONNECT (RFC 9110 §9.3.6): the status line and where the
//! header ends. What follows the header already belongs to the tunnel. The header is
//! bounded: a proxy that sends more than [`MAX_HEADER`] bytes without ending it is not
//! one.

/// The longest answer header read.
pub const MAX_HEADER: usize = 8 * 1024;

/// What the bytes received so far hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectAnswer {
    /// The header has not ended yet: read more (at most `MAX_HEADER + 4` bytes in all).
    Incomplete,
    /// [`MAX_HEADER`] bytes or more and still no end of the header.
    TooLong,
    /// The header ended but does not start with an HTTP/1.x status line.
    Malformed,
    /// The header is the first `len` bytes; the tunnel's bytes follow.
    Complete {
        status: u16,
        /// Printable, at most 100 characters.
        reason: String,
        len: usize,
    },
}

/// Reads the answer in `buf` (everything received so far).
pub fn connect_answer(buf: &[u8]) -> ConnectAnswer {
    let seen = &buf[..buf.len().min(MAX_HEADER + 4)];
    match seen.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => match status_line(&buf[..i + 4]) {
            Some((status, reason)) => ConnectAnswer::Complete {
                status,
                reason,
                len: i + 4,
            },
            None => ConnectAnswer::Malformed,
        },
        None if buf.len() >= MAX_HEADER => ConnectAnswer::TooLong,
        None => ConnectAnswer::Incomplete,
    }
}

/// `HTTP/1.x SSS reason`: the status and the reason.
fn status_line(header: &[u8]) -> Option<(u16, String)> {
    let line = header.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?;
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let status = status.parse().ok()?;
    let reason = parts
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    Some((status, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert_eq!(
            connect_answer(b"HTTP/1.1 200 Connection established\r\n\r\nIKETCP"),
            ConnectAnswer::Complete {
                status: 200,
                reason: "Connection established".into(),
                len: 39
            }
        );
        assert_eq!(
            connect_answer(b"HTTP/1.0 407\r\n\r\n"),
            ConnectAnswer::Complete {
                status: 407,
                reason: String::new(),
                len: 16
            }
        );
        assert_eq!(
            connect_answer(b"HTTP/1.1 200 OK\r\n"),
            ConnectAnswer::Incomplete
        );
        assert_eq!(
            connect_answer(b"SSH-2.0-x\r\n\r\n"),
            ConnectAnswer::Malformed
        );
        assert_eq!(
            connect_answer(b"HTTP/1.1 2000 x\r\n\r\n"),
            ConnectAnswer::Malformed
        );
        assert_eq!(
            connect_answer(b"HTTP/1.1 +20 x\r\n\r\n"),
            ConnectAnswer::Malformed
        );
        assert_eq!(
            connect_answer(&vec![b'a'; MAX_HEADER]),
            ConnectAnswer::TooLong
        );
    }
}

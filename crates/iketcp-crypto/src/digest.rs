//! RFC 7296 §2.23: NAT detection hashes are SHA-1, the one place IKEv2 still uses it
//! (as a checksum of addresses, not for security). SHA-256 names messages, e.g. to tell a
//! retransmitted request from a new one.

use aws_lc_rs::digest;

/// SHA-1 over the concatenation of `parts`.
#[must_use]
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fips_180_abc() {
        // FIPS 180-2 Appendix A.1.
        assert_eq!(
            super::sha1(&[b"a", b"bc"]),
            [
                0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71, 0x78, 0x50,
                0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d
            ]
        );
    }
}

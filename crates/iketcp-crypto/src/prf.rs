//! RFC 7296 §2.13: the pseudorandom function and its expansion prf+.
//!
//! ```text
//! prf+ (K,S) = T1 | T2 | T3 | T4 | ...
//! T1 = prf (K, S | 0x01)
//! T2 = prf (K, T1 | S | 0x02)
//! ...
//! ```
//!
//! The construction is byte for byte HKDF-Expand (RFC 5869 §2.3), but it is built here
//! from HMAC directly: HKDF interfaces cap the key at one hash output, while prf+ takes
//! any key the caller has.

use aws_lc_rs::hmac;
use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::secret::SecretBytes;
use crate::transform::Prf;

/// Largest number of blocks prf+ may produce: the counter is one octet and starts at 1
/// (RFC 7296 §2.13: "this function is not defined beyond 255 times the size of the prf
/// output").
pub const PRF_PLUS_MAX_BLOCKS: usize = 255;

/// `prf(key, data)`.
#[must_use]
pub fn prf(alg: Prf, key: &[u8], data: &[u8]) -> SecretBytes {
    prf_parts(alg, key, &[data])
}

/// `prf(key, parts[0] | parts[1] | ...)`, without building the concatenation, so
/// secret inputs such as g^ir are not copied into a temporary buffer.
#[must_use]
pub fn prf_parts(alg: Prf, key: &[u8], parts: &[&[u8]]) -> SecretBytes {
    hmac_parts(alg.hmac(), key, parts)
}

/// `prf+(key, seed)` truncated to `len` bytes.
///
/// # Errors
/// [`CryptoError::OutputTooLong`] when `len` exceeds 255 PRF outputs.
pub fn prf_plus(alg: Prf, key: &[u8], seed: &[u8], len: usize) -> Result<SecretBytes, CryptoError> {
    prf_plus_parts(alg.hmac(), key, &[seed], len)
}

pub(crate) fn hmac_parts(alg: hmac::Algorithm, key: &[u8], parts: &[&[u8]]) -> SecretBytes {
    let key = hmac::Key::new(alg, key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in parts {
        ctx.update(part);
    }
    SecretBytes::from_slice(ctx.sign().as_ref())
}

/// prf+ over a seed given in parts (`S = parts[0] | parts[1] | ...`), for any HMAC.
pub(crate) fn prf_plus_parts(
    alg: hmac::Algorithm,
    key: &[u8],
    seed: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let block_len = alg.digest_algorithm().output_len();
    if len > PRF_PLUS_MAX_BLOCKS * block_len {
        return Err(CryptoError::OutputTooLong);
    }
    let key = hmac::Key::new(alg, key);
    let mut out = SecretBytes::zeroed(len);
    let mut prev = [0u8; aws_lc_rs::digest::MAX_OUTPUT_LEN];
    let mut prev_len = 0;
    let mut counter: u8 = 1;
    let mut pos = 0;
    while pos < len {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&prev[..prev_len]);
        for part in seed {
            ctx.update(part);
        }
        ctx.update(&[counter]);
        let tag = ctx.sign();
        prev[..block_len].copy_from_slice(tag.as_ref());
        prev_len = block_len;
        let take = block_len.min(len - pos);
        out.expose_mut()[pos..pos + take].copy_from_slice(&prev[..take]);
        pos += take;
        // Cannot pass 255 here: the length check above bounds the block count.
        counter = counter.wrapping_add(1);
    }
    prev.zeroize();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 4231 §4.2-§4.7 and their expected HMAC-SHA-256/384/512 outputs, run through
    /// `prf` (test case 5, whose output is truncated to 128 bits, is skipped).
    #[test]
    fn rfc4231_vectors() {
        struct Case {
            key: Vec<u8>,
            data: Vec<u8>,
            sha256: &'static str,
            sha384: &'static str,
            sha512: &'static str,
        }
        let cases = [
            Case {
                key: vec![0x0b; 20],
                data: b"Hi There".to_vec(),
                sha256: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                sha384: "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                sha512: "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
            },
            Case {
                key: b"Jefe".to_vec(),
                data: b"what do ya want for nothing?".to_vec(),
                sha256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                sha384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                sha512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            },
            Case {
                key: vec![0xaa; 20],
                data: vec![0xdd; 50],
                sha256: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                sha384: "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
                sha512: "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
            },
            Case {
                key: (1..=25).collect(),
                data: vec![0xcd; 50],
                sha256: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                sha384: "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
                sha512: "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
            },
            Case {
                key: vec![0xaa; 131],
                data: b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                sha256: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                sha384: "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                sha512: "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
            },
            Case {
                key: vec![0xaa; 131],
                data: b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                sha256: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                sha384: "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
                sha512: "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
            },
        ];
        for c in &cases {
            assert_eq!(
                prf(Prf::HmacSha256, &c.key, &c.data).expose(),
                unhex(c.sha256)
            );
            assert_eq!(
                prf(Prf::HmacSha384, &c.key, &c.data).expose(),
                unhex(c.sha384)
            );
            assert_eq!(
                prf(Prf::HmacSha512, &c.key, &c.data).expose(),
                unhex(c.sha512)
            );
        }
    }

    #[test]
    fn prf_parts_equals_prf_of_the_concatenation() {
        let whole = prf(Prf::HmacSha384, b"k", b"abcdef");
        let parts = prf_parts(Prf::HmacSha384, b"k", &[b"ab", b"", b"cdef"]);
        assert_eq!(whole, parts);
    }

    /// The RFC 7296 §2.13 definition written out block by block with plain HMAC.
    fn prf_plus_by_hand(alg: Prf, key: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
        let hkey = hmac::Key::new(alg.hmac(), key);
        let mut out = Vec::new();
        let mut t: Vec<u8> = Vec::new();
        let mut n = 1u8;
        while out.len() < len {
            let mut input = t.clone();
            input.extend_from_slice(seed);
            input.push(n);
            t = hmac::sign(&hkey, &input).as_ref().to_vec();
            out.extend_from_slice(&t);
            n = n.wrapping_add(1);
        }
        out.truncate(len);
        out
    }

    #[test]
    fn prf_plus_matches_the_definition() {
        for alg in Prf::ALL {
            for len in [0, 1, 31, 32, 33, 100, 255 * alg.output_len()] {
                let got = prf_plus(alg, b"some key", b"some seed", len).unwrap();
                assert_eq!(
                    got.expose(),
                    prf_plus_by_hand(alg, b"some key", b"some seed", len)
                );
            }
        }
    }

    /// prf+ is HKDF-Expand (RFC 5869 §2.3); aws-lc-rs's HKDF gives an independent answer.
    #[test]
    fn prf_plus_matches_hkdf_expand() {
        use aws_lc_rs::hkdf;
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let key = [7u8; 32];
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &key);
        let info: &[&[u8]] = &[b"Ni|Nr|SPIi|SPIr"];
        let okm = prk.expand(info, Len(200)).unwrap();
        let mut expected = vec![0u8; 200];
        okm.fill(&mut expected).unwrap();
        let got = prf_plus(Prf::HmacSha256, &key, b"Ni|Nr|SPIi|SPIr", 200).unwrap();
        assert_eq!(got.expose(), expected);
    }

    #[test]
    fn prf_plus_refuses_more_than_255_blocks() {
        for alg in Prf::ALL {
            let max = 255 * alg.output_len();
            assert!(prf_plus(alg, b"k", b"s", max).is_ok());
            assert_eq!(
                prf_plus(alg, b"k", b"s", max + 1).unwrap_err(),
                CryptoError::OutputTooLong
            );
        }
    }
}

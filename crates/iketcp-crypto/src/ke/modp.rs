//! The 2048-bit MODP group, IANA 14 (RFC 3526 §3), in IKEv2 (RFC 7296 §3.4).
//!
//! Generator 2; a 256-bit private exponent, above twice the group's strength (RFC 3526
//! §8 puts it near 110 bits). The exponentiation is crypto-bigint's constant-time
//! Montgomery exponentiation over the full, fixed 256-bit exponent width.
//!
//! The peer's value must satisfy 1 < y < p-1 (RFC 6989, after NIST SP 800-56A):
//! 0, 1 and p-1 would force the shared secret into {0, 1, p-1}. p is a safe prime, so no
//! other small subgroup exists and no further test is required.

use core::fmt;

use crypto_bigint::modular::{FixedMontyForm, FixedMontyParams};
use crypto_bigint::{Odd, U256, U2048};
use zeroize::Zeroize;

use super::{ActiveKe, KeGroup, with_retries};
use crate::error::CryptoError;
use crate::rng::Rng;
use crate::secret::SecretBytes;

const LEN: usize = 256;
const LIMBS: usize = U2048::LIMBS;

/// RFC 3526 §3: p = 2^2048 - 2^1984 - 1 + 2^64 * ( [2^1918 pi] + 124476 ).
const P: Odd<U2048> = Odd::<U2048>::from_be_hex(concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74",
    "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437",
    "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05",
    "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB",
    "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718",
    "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
));

/// The modulus is public, so its Montgomery parameters may be computed in variable time.
const PARAMS: FixedMontyParams<LIMBS> = FixedMontyParams::new_vartime(P);

pub(crate) struct ModpKe {
    exponent: U256,
    public: Vec<u8>,
}

impl ModpKe {
    pub(crate) fn start(rng: &mut dyn Rng) -> Result<Self, CryptoError> {
        let exponent = with_retries(|| {
            let mut bytes = [0u8; 32];
            rng.fill(&mut bytes)?;
            let x = U256::from_be_slice(&bytes);
            bytes.zeroize();
            // x = 0 or 1 would publish g^x = 1 or 2; draw again (probability 2^-255).
            Ok((x > U256::ONE).then_some(x))
        })?;
        let g = FixedMontyForm::new(&U2048::from_u8(2), &PARAMS);
        let y = g.pow(&exponent).retrieve();
        Ok(Self {
            exponent,
            public: y.to_be_bytes().as_slice().to_vec(),
        })
    }
}

impl ActiveKe for ModpKe {
    fn group(&self) -> KeGroup {
        KeGroup::Modp2048
    }

    fn public_value(&self) -> &[u8] {
        &self.public
    }

    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SecretBytes, CryptoError> {
        if peer.len() != LEN {
            return Err(CryptoError::BadPeerPublicValue);
        }
        // Public input: variable-time comparisons are fine.
        let y = U2048::from_be_slice(peer);
        let p_minus_1 = P.get().wrapping_sub(&U2048::ONE);
        if y <= U2048::ONE || y >= p_minus_1 {
            return Err(CryptoError::BadPeerPublicValue);
        }
        let mut shared = FixedMontyForm::new(&y, &PARAMS)
            .pow(&self.exponent)
            .retrieve();
        let mut encoded = shared.to_be_bytes();
        let secret = SecretBytes::from_slice(encoded.as_slice());
        encoded.as_mut_slice().zeroize();
        shared.zeroize();
        Ok(secret)
    }
}

impl Drop for ModpKe {
    fn drop(&mut self) {
        self.exponent.zeroize();
    }
}

impl fmt::Debug for ModpKe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModpKe").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out fixed bytes, to pin the private exponent.
    struct FixedRng(Vec<u8>);

    impl Rng for FixedRng {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
            let rest = self.0.split_off(buf.len());
            buf.copy_from_slice(&self.0);
            self.0 = rest;
            Ok(())
        }
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// 2^x mod p for x = 0x0102..20, computed independently with Python's `pow`.
    #[test]
    fn public_value_known_answer() {
        let mut rng = FixedRng((1..=32).collect());
        let ke = ModpKe::start(&mut rng).unwrap();
        let expected = unhex(concat!(
            "ce8736a3ad7c8260e0c5e5a457931ad19966d693e5c32414496b73d7f4e8bdaf",
            "51763d49d07a56b0a188048d61d52bd2a06e706a7a46664113e794057474d04c",
            "96b5bb151a50b27818a513cd8d6ecf037fc638b3b2f1084c58d4419735ba12c9",
            "a4391e2b3133bd660785e468569be85c7ad4f904d98a13f5e8695ff8cc5e2283",
            "4228a8ea2c082ff49a07607e8e5c1278ce8091725678fde112491091bf4cf3b1",
            "759ccb32c1de0b90a074b1e3ffe179d71a292ff29ce9580c3a978793598c0e00",
            "8289e7ab7783b2b75caf9152267e8c981dbb28fde07f2e11ffe1e3984097d160",
            "2c61ffd0714d9523455377c177df3be6b3c81e69f762c04be910a225f323882d",
        ));
        assert_eq!(ke.public_value(), expected);
    }

    #[test]
    fn prime_is_the_rfc3526_group_14_prime() {
        // Spot checks against the RFC's structure: top and bottom 64 bits all ones.
        let bytes = P.get().to_be_bytes();
        assert!(bytes.as_slice()[..8].iter().all(|&b| b == 0xff));
        assert!(bytes.as_slice()[LEN - 8..].iter().all(|&b| b == 0xff));
    }
}

//! Randomness, injected: nonces (RFC 7296 §2.10), SPIs (§2.6), CBC IVs (§3.14) and
//! ephemeral key-exchange secrets (§2.12) all come from an [`Rng`] the caller owns.
//!
//! [`SystemRng`] is the production source. [`DeterministicRng`] is a seedable HMAC_DRBG
//! (NIST SP 800-90A §10.1.2, HMAC-SHA-256) so tests and simulations replay exactly; it
//! is deterministic by design and must never key a real SA.

use core::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroize;

use crate::error::CryptoError;

/// A source of random bytes.
pub trait Rng: Send {
    /// Fills `buf` entirely.
    ///
    /// # Errors
    /// [`CryptoError::RngFailure`] when the source cannot deliver.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError>;
}

impl<R: Rng + ?Sized> Rng for &mut R {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        (**self).fill(buf)
    }
}

impl<R: Rng + ?Sized> Rng for Box<R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        (**self).fill(buf)
    }
}

/// The operating system's CSPRNG, through aws-lc.
#[derive(Debug, Default)]
pub struct SystemRng(SystemRandom);

impl SystemRng {
    /// A handle on the system source.
    #[must_use]
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl Rng for SystemRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fill(buf).map_err(|_| CryptoError::RngFailure)
    }
}

/// A seeded, reproducible byte stream for tests and simulation: the same seed always
/// gives the same stream, whatever the sizes of the `fill` calls that read it.
///
/// HMAC_DRBG with HMAC-SHA-256, instantiated with the seed as its entropy input and no
/// nonce or personalization string, never reseeded. Each 32-byte block of
/// output is buffered, so the stream does not depend on how reads are split. Not for
/// keying real traffic: anyone who knows the seed knows every key.
pub struct DeterministicRng {
    drbg: HmacDrbg,
    block: [u8; HmacDrbg::OUT_LEN],
    used: usize,
}

impl DeterministicRng {
    /// A stream determined by `seed` (any length; use at least 32 bytes of a secret seed
    /// where unpredictability matters, e.g. for fuzzing against a real peer).
    #[must_use]
    pub fn from_seed(seed: &[u8]) -> Self {
        Self {
            drbg: HmacDrbg::instantiate(&[seed]),
            block: [0; HmacDrbg::OUT_LEN],
            used: HmacDrbg::OUT_LEN,
        }
    }

    /// A stream determined by a small integer, as a simulation seed.
    #[must_use]
    pub fn from_u64(seed: u64) -> Self {
        Self::from_seed(&seed.to_be_bytes())
    }
}

impl Rng for DeterministicRng {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let mut pos = 0;
        while pos < buf.len() {
            if self.used == self.block.len() {
                self.drbg.generate(&mut self.block);
                self.used = 0;
            }
            let take = (self.block.len() - self.used).min(buf.len() - pos);
            buf[pos..pos + take].copy_from_slice(&self.block[self.used..self.used + take]);
            self.block[self.used..self.used + take].zeroize();
            self.used += take;
            pos += take;
        }
        Ok(())
    }
}

impl fmt::Debug for DeterministicRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeterministicRng { .. }")
    }
}

impl Drop for DeterministicRng {
    fn drop(&mut self) {
        self.block.zeroize();
    }
}

/// SP 800-90A §10.1.2 HMAC_DRBG over HMAC-SHA-256, without reseeding, prediction
/// resistance or additional input.
struct HmacDrbg {
    key: [u8; Self::OUT_LEN],
    v: [u8; Self::OUT_LEN],
}

impl HmacDrbg {
    const OUT_LEN: usize = 32;

    /// §10.1.2.3: Key = 0x00..., V = 0x01..., then Update(seed material).
    fn instantiate(seed_material: &[&[u8]]) -> Self {
        let mut drbg = Self {
            key: [0x00; Self::OUT_LEN],
            v: [0x01; Self::OUT_LEN],
        };
        drbg.update(seed_material);
        drbg
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; Self::OUT_LEN] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.key);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(p);
        }
        let mut out = [0u8; Self::OUT_LEN];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// §10.1.2.2 HMAC_DRBG_Update.
    fn update(&mut self, provided: &[&[u8]]) {
        let mut parts: Vec<&[u8]> = Vec::with_capacity(provided.len() + 2);
        let v = self.v;
        parts.push(&v);
        parts.push(&[0x00]);
        parts.extend_from_slice(provided);
        self.key = self.mac(&parts);
        self.v = self.mac(&[&self.v]);
        if provided.iter().all(|p| p.is_empty()) {
            return;
        }
        let v = self.v;
        parts.clear();
        parts.push(&v);
        parts.push(&[0x01]);
        parts.extend_from_slice(provided);
        self.key = self.mac(&parts);
        self.v = self.mac(&[&self.v]);
    }

    /// §10.1.2.5 HMAC_DRBG_Generate: V = HMAC(Key, V) per block, then Update().
    fn generate(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(Self::OUT_LEN) {
            self.v = self.mac(&[&self.v]);
            chunk.copy_from_slice(&self.v[..chunk.len()]);
        }
        self.update(&[]);
    }
}

impl Drop for HmacDrbg {
    fn drop(&mut self) {
        self.key.zeroize();
        self.v.zeroize();
    }
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

    /// NIST CAVP HMAC_DRBG, SHA-256, no reseed, no prediction resistance, no
    /// personalization or additional input, COUNT = 0: instantiate with entropy | nonce,
    /// generate 1024 bits twice; the second output is the answer.
    #[test]
    fn hmac_drbg_cavp_vector() {
        let entropy = unhex("ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488");
        let nonce = unhex("659ba96c601dc69fc902940805ec0ca8");
        let mut drbg = HmacDrbg::instantiate(&[&entropy, &nonce]);
        let mut out = [0u8; 128];
        drbg.generate(&mut out);
        drbg.generate(&mut out);
        assert_eq!(
            out.to_vec(),
            unhex(concat!(
                "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89",
                "d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc1",
                "07694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668",
                "961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8",
            ))
        );
    }

    #[test]
    fn same_seed_same_stream_whatever_the_read_sizes() {
        let mut a = DeterministicRng::from_u64(7);
        let mut b = DeterministicRng::from_u64(7);
        let mut whole = [0u8; 200];
        a.fill(&mut whole).unwrap();
        let mut pieces = [0u8; 200];
        let mut pos = 0;
        for n in [1, 31, 32, 33, 3, 100] {
            b.fill(&mut pieces[pos..pos + n]).unwrap();
            pos += n;
        }
        assert_eq!(whole, pieces);

        let mut c = DeterministicRng::from_u64(8);
        let mut other = [0u8; 200];
        c.fill(&mut other).unwrap();
        assert_ne!(whole, other);
    }

    #[test]
    fn system_rng_fills() {
        let mut rng = SystemRng::new();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        rng.fill(&mut a).unwrap();
        rng.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}

//! RFC 7296 §2.6: stateless cookies, asked for only when half-open IKE SAs pile up.
//!
//! `Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)`. The secret changes
//! every [`EndpointConfig::cookie_secret_lifetime`](crate::EndpointConfig) and the one
//! before it stays valid, so an initiator that was just handed a cookie can still use it
//! after a change. R-COOKIE-1: the port is not part of it, so a cookie asked for over one
//! TCP connection is good on the next one, which comes from another port.

use core::net::IpAddr;
use core::time::Duration;
use std::time::Instant;

use iketcp_crypto::{Prf, Rng, SecretBytes, constant_time_eq, prf};

/// Bytes of the hash part.
const HASH_LEN: usize = 16;

pub(crate) struct Cookies {
    version: u8,
    current: SecretBytes,
    previous: Option<SecretBytes>,
    lifetime: Duration,
    rotate_at: Option<Instant>,
}

impl Cookies {
    pub fn new(rng: &mut dyn Rng, lifetime: Duration) -> Self {
        Self {
            version: 0,
            current: fresh(rng),
            previous: None,
            lifetime,
            rotate_at: None,
        }
    }

    /// Changes the secret once its lifetime is over (the clock starts with the first
    /// IKE_SA_INIT seen).
    pub fn tick(&mut self, now: Instant, rng: &mut dyn Rng) {
        match self.rotate_at {
            None => self.rotate_at = Some(now + self.lifetime),
            Some(t) if t <= now => {
                let old = core::mem::replace(&mut self.current, fresh(rng));
                // Two lifetimes without traffic: the previous secret is stale too.
                self.previous = (now < t + self.lifetime).then_some(old);
                self.version = self.version.wrapping_add(1);
                self.rotate_at = Some(now + self.lifetime);
            }
            Some(_) => {}
        }
    }

    /// The cookie for an initiator.
    pub fn issue(&self, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
        let mut c = vec![self.version];
        c.extend(hash(&self.current, ni, ip, spi_i));
        c
    }

    /// Whether `cookie` is one we issued under the current or the previous secret.
    pub fn verify(&self, cookie: &[u8], ni: &[u8], ip: IpAddr, spi_i: u64) -> bool {
        let [version, h @ ..] = cookie else {
            return false;
        };
        let secret = if *version == self.version {
            Some(&self.current)
        } else if *version == self.version.wrapping_sub(1) {
            self.previous.as_ref()
        } else {
            None
        };
        secret.is_some_and(|s| constant_time_eq(&hash(s, ni, ip, spi_i), h))
    }
}

fn fresh(rng: &mut dyn Rng) -> SecretBytes {
    let mut b = [0u8; 32];
    // A failing system RNG leaves zeros: cookies then bind the initiator's values only.
    let _ = rng.fill(&mut b);
    SecretBytes::from_slice(&b)
}

fn hash(secret: &SecretBytes, ni: &[u8], ip: IpAddr, spi_i: u64) -> Vec<u8> {
    let mut data = ni.to_vec();
    match ip {
        IpAddr::V4(a) => data.extend(a.octets()),
        IpAddr::V6(a) => data.extend(a.octets()),
    }
    data.extend(spi_i.to_be_bytes());
    prf(Prf::HmacSha256, secret.expose(), &data).expose()[..HASH_LEN].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iketcp_crypto::DeterministicRng;

    #[test]
    fn rfc7296_2_6_secret_changes_and_the_previous_one_stays_valid() {
        let mut rng = DeterministicRng::from_u64(7);
        let life = Duration::from_secs(60);
        let mut c = Cookies::new(&mut rng, life);
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        c.tick(t0, &mut rng);
        let first = c.issue(b"nonce-0123456789", ip, 7);
        assert!(c.verify(&first, b"nonce-0123456789", ip, 7));
        // Bound to Ni, the address and SPIi.
        assert!(!c.verify(&first, b"nonce-0123456789", "192.0.2.2".parse().unwrap(), 7));
        assert!(!c.verify(&first, b"nonce-0123456789", ip, 8));
        assert!(!c.verify(&first, b"nonce-9999999999", ip, 7));
        // One change: the old cookie still works, a new one differs.
        c.tick(t0 + life, &mut rng);
        assert!(c.verify(&first, b"nonce-0123456789", ip, 7));
        let second = c.issue(b"nonce-0123456789", ip, 7);
        assert_ne!(first, second);
        // Two changes: the first is gone.
        c.tick(t0 + life * 2, &mut rng);
        assert!(!c.verify(&first, b"nonce-0123456789", ip, 7));
        assert!(c.verify(&second, b"nonce-0123456789", ip, 7));
        // A long quiet spell retires both.
        c.tick(t0 + life * 10, &mut rng);
        assert!(!c.verify(&second, b"nonce-0123456789", ip, 7));
        assert!(!c.verify(&[], b"nonce-0123456789", ip, 7));
    }
}

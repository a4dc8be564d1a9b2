//! The random source for CBC IVs (RFC 3602 §3: the IV MUST be unpredictable).
//!
//! Injected so tests can fix the IV and compare a packet byte for byte; the AEADs take no
//! randomness because their IV is the sequence number (RFC 4106 §3.1).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("random source failed")]
pub struct RandomError;

/// A source of unpredictable bytes.
pub trait RandomSource: Send {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError>;
}

/// The operating system's CSPRNG through aws-lc-rs.
#[derive(Debug, Default)]
pub struct SystemRandomSource(SystemRandom);

impl SystemRandomSource {
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl RandomSource for SystemRandomSource {
    fn fill(&mut self, dest: &mut [u8]) -> Result<(), RandomError> {
        self.0.fill(dest).map_err(|_| RandomError)
    }
}

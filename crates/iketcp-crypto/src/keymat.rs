//! The IKEv2 key schedule: RFC 7296 §2.14 (IKE SA keys), §2.18 (IKE SA rekey), §2.17
//! (Child SA keying material) and §2.15 (the AUTH payload's shared-key MAC).
//!
//! ```text
//! SKEYSEED = prf(Ni | Nr, g^ir)                                              §2.14
//! {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
//!          = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//! SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)                           §2.18
//! KEYMAT   = prf+(SK_d, [g^ir (new) |] Ni | Nr)                              §2.17
//! AUTH     = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)    §2.15
//! ```
//!
//! Ni and Nr here are the nonce payload *bodies*, the SPIs the 8-byte header values, and
//! g^ir the shared secret exactly as [`ActiveKe::complete`](crate::ActiveKe::complete)
//! returns it (RFC 7296 §2.14: MODP left-padded to the modulus length; RFC 5903 §7:
//! the ECP x-coordinate; RFC 8031 §2: the 32 X25519 bytes).

use core::fmt;

use aws_lc_rs::constant_time;

use crate::error::CryptoError;
use crate::prf::{prf, prf_parts, prf_plus_parts};
use crate::secret::SecretBytes;
use crate::sk::SkCipher;
use crate::transform::{Encr, Integ, Prf};

/// RFC 7296 §2.15: the pad mixed into a shared secret before it keys the AUTH MAC. The
/// string is ASCII with no terminating NUL.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// The seven keys of one IKE SA and the transforms they are for (RFC 7296 §2.14).
///
/// `Debug` prints the transforms and the key lengths only.
#[derive(Clone, PartialEq, Eq)]
pub struct IkeKeys {
    /// The PRF of this IKE SA: keys its Child SAs, its rekey and its AUTH payloads.
    pub prf: Prf,
    /// The encryption transform of the SK payload.
    pub encr: Encr,
    /// The integrity transform, `None` under an AEAD.
    pub integ: Option<Integ>,
    /// Derives Child SA keys and the next IKE SA's SKEYSEED.
    pub sk_d: SecretBytes,
    /// Integrity key for messages the original initiator sends; empty under an AEAD.
    pub sk_ai: SecretBytes,
    /// Integrity key for messages the original responder sends; empty under an AEAD.
    pub sk_ar: SecretBytes,
    /// Encryption key (with salt for an AEAD) for messages the original initiator sends.
    pub sk_ei: SecretBytes,
    /// Encryption key (with salt for an AEAD) for messages the original responder sends.
    pub sk_er: SecretBytes,
    /// Keys the initiator's MACedIDForI in its AUTH payload.
    pub sk_pi: SecretBytes,
    /// Keys the responder's MACedIDForR in its AUTH payload.
    pub sk_pr: SecretBytes,
}

impl fmt::Debug for IkeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IkeKeys")
            .field("prf", &self.prf)
            .field("encr", &self.encr)
            .field("integ", &self.integ)
            .field("sk_d", &self.sk_d)
            .field("sk_ai", &self.sk_ai)
            .field("sk_ar", &self.sk_ar)
            .field("sk_ei", &self.sk_ei)
            .field("sk_er", &self.sk_er)
            .field("sk_pi", &self.sk_pi)
            .field("sk_pr", &self.sk_pr)
            .finish()
    }
}

/// RFC 7296 §2.14: `SKEYSEED = prf(Ni | Nr, g^ir)`.
///
/// The whole of Ni | Nr keys the PRF; halving the nonces applies only to PRFs with a
/// fixed key size (AES-XCBC, AES-CMAC), none of which is implemented.
#[must_use]
pub fn skeyseed(prf_alg: Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> SecretBytes {
    let mut key = SecretBytes::zeroed(ni.len() + nr.len());
    key.expose_mut()[..ni.len()].copy_from_slice(ni);
    key.expose_mut()[ni.len()..].copy_from_slice(nr);
    prf(prf_alg, key.expose(), g_ir)
}

/// RFC 7296 §2.18: `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)`, computed with the
/// PRF of the IKE SA being rekeyed.
#[must_use]
pub fn rekey_skeyseed(
    old_prf: Prf,
    old_sk_d: &SecretBytes,
    g_ir_new: &[u8],
    ni: &[u8],
    nr: &[u8],
) -> SecretBytes {
    prf_parts(old_prf, old_sk_d.expose(), &[g_ir_new, ni, nr])
}

impl IkeKeys {
    /// The keys of a new IKE SA from its IKE_SA_INIT exchange (RFC 7296 §2.14).
    ///
    /// # Errors
    /// [`CryptoError::InvalidTransformCombination`] when `integ` is given with an AEAD or
    /// missing without one; [`CryptoError::UnsupportedAlgorithm`] for an AES key length
    /// other than 128 or 256.
    #[allow(clippy::too_many_arguments)]
    pub fn derive(
        prf_alg: Prf,
        encr: Encr,
        integ: Option<Integ>,
        g_ir: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        check_transforms(encr, integ)?;
        let seed = skeyseed(prf_alg, ni, nr, g_ir);
        Self::from_skeyseed(prf_alg, encr, integ, &seed, ni, nr, spi_i, spi_r)
    }

    /// The keys of the IKE SA that replaces one being rekeyed (RFC 7296 §2.18). `old_prf`
    /// and `old_sk_d` belong to the old SA; `prf_alg`, `encr` and `integ` are the new SA's
    /// transforms; the nonces and SPIs are those of the CREATE_CHILD_SA exchange, with
    /// Ni/SPIi from whichever peer initiated that exchange.
    ///
    /// # Errors
    /// As [`IkeKeys::derive`].
    #[allow(clippy::too_many_arguments)]
    pub fn derive_rekey(
        old_prf: Prf,
        old_sk_d: &SecretBytes,
        prf_alg: Prf,
        encr: Encr,
        integ: Option<Integ>,
        g_ir_new: &[u8],
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        check_transforms(encr, integ)?;
        let seed = rekey_skeyseed(old_prf, old_sk_d, g_ir_new, ni, nr);
        Self::from_skeyseed(prf_alg, encr, integ, &seed, ni, nr, spi_i, spi_r)
    }

    /// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr |
    /// SPIi | SPIr)`, cut in that order at the lengths the transforms require.
    ///
    /// # Errors
    /// As [`IkeKeys::derive`].
    #[allow(clippy::too_many_arguments)]
    pub fn from_skeyseed(
        prf_alg: Prf,
        encr: Encr,
        integ: Option<Integ>,
        skeyseed: &SecretBytes,
        ni: &[u8],
        nr: &[u8],
        spi_i: &[u8; 8],
        spi_r: &[u8; 8],
    ) -> Result<Self, CryptoError> {
        check_transforms(encr, integ)?;
        let d_len = prf_alg.key_len();
        let a_len = integ.map_or(0, Integ::key_len);
        let e_len = encr.key_len();
        let p_len = prf_alg.key_len();
        let total = d_len + 2 * a_len + 2 * e_len + 2 * p_len;
        let keymat = prf_plus_parts(
            prf_alg.hmac(),
            skeyseed.expose(),
            &[ni, nr, spi_i, spi_r],
            total,
        )?;
        let mut cut = Cutter::new(&keymat);
        Ok(Self {
            prf: prf_alg,
            encr,
            integ,
            sk_d: cut.take(d_len),
            sk_ai: cut.take(a_len),
            sk_ar: cut.take(a_len),
            sk_ei: cut.take(e_len),
            sk_er: cut.take(e_len),
            sk_pi: cut.take(p_len),
            sk_pr: cut.take(p_len),
        })
    }

    /// The SK payload protection for this end: `(outbound, inbound)`. The original
    /// initiator sends with SK_ei/SK_ai and receives with SK_er/SK_ar, whichever peer
    /// starts a later exchange (RFC 7296 §2.14).
    ///
    /// # Errors
    /// As [`SkCipher::new`].
    pub fn sk_ciphers(
        &self,
        original_initiator: bool,
    ) -> Result<(SkCipher, SkCipher), CryptoError> {
        let ours = SkCipher::new(self.encr, self.integ, &self.sk_ei, &self.sk_ai)?;
        let theirs = SkCipher::new(self.encr, self.integ, &self.sk_er, &self.sk_ar)?;
        Ok(if original_initiator {
            (ours, theirs)
        } else {
            (theirs, ours)
        })
    }
}

pub(crate) fn check_transforms(encr: Encr, integ: Option<Integ>) -> Result<(), CryptoError> {
    if !encr.is_supported() {
        return Err(CryptoError::UnsupportedAlgorithm);
    }
    if encr.is_aead() == integ.is_some() {
        return Err(CryptoError::InvalidTransformCombination);
    }
    Ok(())
}

/// Cuts consecutive keys off a prf+ output.
struct Cutter<'a> {
    keymat: &'a SecretBytes,
    pos: usize,
}

impl<'a> Cutter<'a> {
    fn new(keymat: &'a SecretBytes) -> Self {
        Self { keymat, pos: 0 }
    }

    /// Callers request exactly the total they derived, so the range is always in bounds.
    fn take(&mut self, len: usize) -> SecretBytes {
        let key = SecretBytes::from_slice(&self.keymat.expose()[self.pos..self.pos + len]);
        self.pos += len;
        key
    }
}

/// `KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)` (RFC 7296 §2.17), `len` bytes.
///
/// `g_ir_new` is the shared secret of a CREATE_CHILD_SA exchange that carried KE
/// payloads; it is `None` for the first Child SA and for rekeys without PFS.
///
/// # Errors
/// [`CryptoError::OutputTooLong`] beyond 255 PRF outputs.
pub fn child_keymat(
    prf_alg: Prf,
    sk_d: &SecretBytes,
    g_ir_new: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let g = g_ir_new.unwrap_or(&[]);
    prf_plus_parts(prf_alg.hmac(), sk_d.expose(), &[g, ni, nr], len)
}

/// Key sizes of one direction of a Child SA, from its ESP transforms (for AES-GCM and
/// ChaCha20-Poly1305 the encryption key includes the 4-byte salt, RFC 4106 §8.1 and
/// RFC 7634 §2; the integrity key is empty for them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildKeySizes {
    /// Encryption key length in bytes.
    pub encr: usize,
    /// Integrity key length in bytes.
    pub integ: usize,
}

/// The keys of one direction of a Child SA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectionKeys {
    /// Encryption key (with salt for an AEAD).
    pub encr: SecretBytes,
    /// Integrity key, empty for an AEAD.
    pub integ: SecretBytes,
}

/// The keys of a Child SA pair (RFC 7296 §2.17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildKeys {
    /// For the SA carrying traffic from the initiator of the exchange to its responder.
    pub initiator_to_responder: DirectionKeys,
    /// For the SA carrying traffic from the responder to the initiator.
    pub responder_to_initiator: DirectionKeys,
}

/// The keys of a Child SA pair: KEYMAT cut as encr_i | integ_i | encr_r | integ_r.
///
/// RFC 7296 §2.17: "All keys for SAs carrying data from the initiator to the responder
/// are taken before SAs going from the responder to the initiator", and "the encryption
/// key(s) MUST be taken from the first bits and the integrity key(s) MUST be taken from
/// the remaining bits". "Initiator" is the initiator of the exchange that creates the
/// Child SA, not of the IKE SA.
///
/// # Errors
/// [`CryptoError::OutputTooLong`] beyond 255 PRF outputs.
pub fn child_sa_keys(
    prf_alg: Prf,
    sk_d: &SecretBytes,
    g_ir_new: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    sizes: ChildKeySizes,
) -> Result<ChildKeys, CryptoError> {
    let keymat = child_keymat(
        prf_alg,
        sk_d,
        g_ir_new,
        ni,
        nr,
        2 * (sizes.encr + sizes.integ),
    )?;
    let mut cut = Cutter::new(&keymat);
    let initiator_to_responder = DirectionKeys {
        encr: cut.take(sizes.encr),
        integ: cut.take(sizes.integ),
    };
    let responder_to_initiator = DirectionKeys {
        encr: cut.take(sizes.encr),
        integ: cut.take(sizes.integ),
    };
    Ok(ChildKeys {
        initiator_to_responder,
        responder_to_initiator,
    })
}

/// The octets an AUTH payload covers (RFC 7296 §2.15):
///
/// ```text
/// InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
/// ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
/// MACedIDForX           = prf(SK_px, RestOfXIDPayload)
/// ```
///
/// `message` is the sender's whole IKE_SA_INIT message as sent, `peer_nonce` the body of
/// the *other* side's Nonce payload, `sk_p` the sender's SK_pi or SK_pr, and
/// `id_payload_body` the sender's ID payload without its 4-byte generic header (ID Type,
/// three RESERVED octets, identification data).
#[must_use]
pub fn signed_octets(
    prf_alg: Prf,
    message: &[u8],
    peer_nonce: &[u8],
    sk_p: &SecretBytes,
    id_payload_body: &[u8],
) -> Vec<u8> {
    let maced_id = prf(prf_alg, sk_p.expose(), id_payload_body);
    let mut out = Vec::with_capacity(message.len() + peer_nonce.len() + maced_id.len());
    out.extend_from_slice(message);
    out.extend_from_slice(peer_nonce);
    out.extend_from_slice(maced_id.expose());
    out
}

/// The Authentication Data of a shared-key AUTH payload (RFC 7296 §2.15, Auth Method 2),
/// also the MSK-keyed AUTH after EAP (§2.16):
/// `prf(prf(secret, "Key Pad for IKEv2"), signed_octets)`.
///
/// The result travels inside the SK payload, so it is returned as plain bytes.
#[must_use]
pub fn psk_auth(prf_alg: Prf, secret: &[u8], signed_octets: &[u8]) -> Vec<u8> {
    let pad_key = prf(prf_alg, secret, KEY_PAD);
    prf(prf_alg, pad_key.expose(), signed_octets)
        .expose()
        .to_vec()
}

/// Checks a received shared-key AUTH value in constant time.
///
/// # Errors
/// [`CryptoError::AuthenticationFailed`] when it does not match.
pub fn verify_psk_auth(
    prf_alg: Prf,
    secret: &[u8],
    signed_octets: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let pad_key = prf(prf_alg, secret, KEY_PAD);
    let expected = prf(prf_alg, pad_key.expose(), signed_octets);
    constant_time::verify_slices_are_equal(expected.expose(), received)
        .map_err(|_| CryptoError::AuthenticationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::hmac;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// An SP 800-135 IKEv2 KDF vector (HMAC-SHA-1, 132-byte DKM), as published with
    /// libreswan's IKEv2 CAVS test program. SHA-1 is not a PRF this crate offers, so the
    /// shared internals are driven directly: the test pins the concatenation orders, the
    /// prf+ counter and the child and rekey formulas.
    #[test]
    fn sp800_135_ikev2_kdf_vector() {
        let alg = hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY;
        let gir = unhex("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52");
        let gir_new = unhex("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330");
        let ni = unhex("32b50d5f4a3763f3");
        let nr = unhex("9206a04b26564cb1");
        let spi_i = unhex("34c9e7c188868785");
        let spi_r = unhex("3ff77d760d2b2199");
        let dkm_len = 132;

        let mut ni_nr = ni.clone();
        ni_nr.extend_from_slice(&nr);
        let seed = crate::prf::hmac_parts(alg, &ni_nr, &[&gir]);
        assert_eq!(
            seed.expose(),
            unhex("a9a7b222b59f8f48645f28a1db5b5f5d7479cba7")
        );

        let dkm = prf_plus_parts(alg, seed.expose(), &[&ni, &nr, &spi_i, &spi_r], dkm_len).unwrap();
        assert_eq!(
            dkm.expose(),
            unhex(
                "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002\
                 a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a\
                 5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119\
                 8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435\
                 a7a56cc4"
            )
        );

        let sk_d = &dkm.expose()[..20];
        let child = prf_plus_parts(alg, sk_d, &[&ni, &nr], dkm_len).unwrap();
        assert_eq!(
            child.expose(),
            unhex(
                "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c581\
                 1a8e7b5d1cdabd9560b2d5e092d1f24e2d4b85eccdf0ad0dc9abd94b51ee7181\
                 4ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf\
                 285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e66499\
                 4d234cb4"
            )
        );

        let child_dh = prf_plus_parts(alg, sk_d, &[&gir_new, &ni, &nr], dkm_len).unwrap();
        assert_eq!(
            child_dh.expose(),
            unhex(
                "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d373016\
                 28190e38c66232eab4b3ab14c400a5197dd3730ed4820a8a10394d51e1c04000\
                 52f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a\
                 05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054\
                 d56fd74c"
            )
        );

        let rekey = crate::prf::hmac_parts(alg, sk_d, &[&gir_new, &ni, &nr]);
        assert_eq!(
            rekey.expose(),
            unhex("63e81194946ebd05df7df5ebf5d8750056bf1f1d")
        );
    }
}

//! RFC 7296 §3 IANA registries: exchange types, payload types, transforms, notifies and
//! the other code points of the "Internet Key Exchange Version 2 (IKEv2) Parameters"
//! registry.
//!
//! ```text
//!   registry               field width   where it appears
//!   ExchangeType           8 bits        header (§3.1)
//!   PayloadType            8 bits        header, generic payload header (§3.2)
//!   ProtocolId             8 bits        proposal (§3.3.1), notify (§3.10), delete (§3.11)
//!   TransformType          8 bits        transform (§3.3.2)
//!   TransformId            16 bits       transform (§3.3.2), KE payload (§3.4)
//!   AttributeType          15 bits       transform attribute (§3.3.5)
//!   IdType                 8 bits        IDi / IDr (§3.5)
//!   CertEncoding           8 bits        CERT (§3.6), CERTREQ (§3.7)
//!   AuthMethod             8 bits        AUTH (§3.8)
//!   NotifyType             16 bits       notify (§3.10.1)
//!   TsType                 8 bits        traffic selector (§3.13.1)
//!   CfgType                8 bits        CP (§3.15)
//!   CfgAttributeType       15 bits       configuration attribute (§3.15.1)
//! ```
//!
//! Each registry is a newtype over its wire integer with named constants, so a value
//! nobody has assigned yet (or that a peer made up) stays representable, travels through
//! parse and emit unchanged, and prints as hex, e.g. `NotifyType(0x9c41)`.

use core::fmt;

/// Declares a registry newtype, its named constants, `name()`, `short_name()`,
/// `Display`/`Debug` (the name, or `Type(0x..)` for an unnamed value) and the integer
/// conversions.
///
/// A constant may carry `=> "SHORT"`: the abbreviation used in one-line message
/// summaries, as strongSwan prints them.
macro_rules! registry {
    (@pick $default:expr) => { $default };
    (@pick $default:expr, $short:expr) => { $short };
    (
        $(#[$meta:meta])*
        $name:ident($repr:ty) {
            $( $(#[$cmeta:meta])* $konst:ident = $val:literal $(=> $short:literal)? , )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: Self = Self($val); )*

            /// The IANA name, or `None` for a value this registry does not name.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }

            /// The abbreviation used in one-line message summaries; the IANA name where
            /// there is no customary abbreviation.
            pub const fn short_name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(registry!(@pick stringify!($konst) $(, $short)?)), )*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(
                        f,
                        "{}({:#0w$x})",
                        stringify!($name),
                        self.0,
                        w = 2 + 2 * core::mem::size_of::<$repr>()
                    ),
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl From<$repr> for $name {
            fn from(v: $repr) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $repr {
            fn from(v: $name) -> Self {
                v.0
            }
        }
    };
}

registry! {
    /// RFC 7296 §3.1 Exchange Type.
    ExchangeType(u8) {
        IKE_SA_INIT = 34,
        IKE_AUTH = 35,
        CREATE_CHILD_SA = 36,
        INFORMATIONAL = 37,
        /// RFC 5723.
        IKE_SESSION_RESUME = 38,
        /// RFC 9242.
        IKE_INTERMEDIATE = 43,
        /// RFC 9370.
        IKE_FOLLOWUP_KE = 44,
    }
}

registry! {
    /// RFC 7296 §3.2 Payload Type, carried in the header's and every payload's Next
    /// Payload field.
    ///
    /// The constants for the identification and traffic selector payloads keep the RFC's
    /// spelling (`IDi`, `TSr`), which is what every IKE log prints.
    PayloadType(u8) {
        /// No Next Payload: the chain ends here.
        NONE = 0,
        SA = 33,
        KE = 34,
        #[allow(non_upper_case_globals)]
        IDi = 35,
        #[allow(non_upper_case_globals)]
        IDr = 36,
        CERT = 37,
        CERTREQ = 38,
        AUTH = 39,
        NONCE = 40 => "No",
        NOTIFY = 41 => "N",
        DELETE = 42 => "D",
        VENDOR_ID = 43 => "V",
        #[allow(non_upper_case_globals)]
        TSi = 44,
        #[allow(non_upper_case_globals)]
        TSr = 45,
        /// Encrypted and Authenticated (§3.14).
        SK = 46,
        CP = 47,
        EAP = 48,
        /// Generic Secure Password Methods (RFC 6467).
        GSPM = 49,
        /// Group Identification (RFC 9838).
        #[allow(non_upper_case_globals)]
        IDg = 50,
        /// Group Security Association (RFC 9838).
        GSA = 51,
        /// Key Download (RFC 9838).
        KD = 52,
        /// Encrypted and Authenticated Fragment (RFC 7383 §2.5).
        SKF = 53,
        /// Puzzle Solution (RFC 8019).
        PS = 54,
    }
}

registry! {
    /// RFC 7296 §3.3.1 Protocol ID (also in Notify §3.10 and Delete §3.11).
    ProtocolId(u8) {
        /// Reserved: what a notify that concerns no particular SA carries.
        NONE = 0,
        IKE = 1,
        AH = 2,
        ESP = 3,
    }
}

registry! {
    /// RFC 7296 §3.3.2 Transform Type; the additional key exchanges are RFC 9370's.
    TransformType(u8) {
        /// Encryption Algorithm.
        ENCR = 1,
        /// Pseudorandom Function.
        PRF = 2,
        /// Integrity Algorithm.
        INTEG = 3,
        /// Key Exchange Method (formerly "Diffie-Hellman Group", RFC 9370).
        KE = 4,
        /// Extended Sequence Numbers.
        ESN = 5,
        ADDKE1 = 6,
        ADDKE2 = 7,
        ADDKE3 = 8,
        ADDKE4 = 9,
        ADDKE5 = 10,
        ADDKE6 = 11,
        ADDKE7 = 12,
    }
}

impl TransformType {
    /// Whether transform IDs of this type name key exchange methods (KE and RFC 9370's
    /// ADDKE1–7 share one ID registry).
    pub const fn is_key_exchange(self) -> bool {
        matches!(self.0, 4 | 6..=12)
    }
}

/// RFC 7296 §3.3.2 Transform ID: a 16-bit value whose meaning depends on the
/// [`TransformType`] beside it, so the constants carry their type as a prefix
/// (`ENCR_`, `PRF_`, `INTEG_`, `KE_`, `ESN_`).
///
/// The KE payload (§3.4) names its group with the same values as the `KE_` constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TransformId(pub u16);

/// Declares the `TransformId` constants of one transform type and a lookup function
/// from value to name for that type.
macro_rules! transform_ids {
    ($( $lookup:ident { $( $(#[$m:meta])* $konst:ident = $val:literal, )* } )*) => {
        impl TransformId {
            $($( $(#[$m])* pub const $konst: Self = Self($val); )*)*
        }
        $(
            const fn $lookup(v: u16) -> Option<&'static str> {
                match v {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }
        )*
    };
}

transform_ids! {
    encr_name {
        ENCR_DES_IV64 = 1,
        ENCR_DES = 2,
        ENCR_3DES = 3,
        ENCR_RC5 = 4,
        ENCR_IDEA = 5,
        ENCR_CAST = 6,
        ENCR_BLOWFISH = 7,
        ENCR_3IDEA = 8,
        ENCR_DES_IV32 = 9,
        /// ESP only: no encryption (RFC 2410).
        ENCR_NULL = 11,
        /// RFC 3602; takes a KEY_LENGTH attribute.
        ENCR_AES_CBC = 12,
        /// RFC 5930; takes a KEY_LENGTH attribute.
        ENCR_AES_CTR = 13,
        ENCR_AES_CCM_8 = 14,
        ENCR_AES_CCM_12 = 15,
        ENCR_AES_CCM_16 = 16,
        /// AES-GCM with an 8-octet ICV (RFC 5282 for IKE, RFC 4106 for ESP).
        ENCR_AES_GCM_8 = 18,
        /// AES-GCM with a 12-octet ICV.
        ENCR_AES_GCM_12 = 19,
        /// AES-GCM with a 16-octet ICV.
        ENCR_AES_GCM_16 = 20,
        ENCR_NULL_AUTH_AES_GMAC = 21,
        ENCR_CAMELLIA_CBC = 23,
        ENCR_CAMELLIA_CTR = 24,
        ENCR_CAMELLIA_CCM_8 = 25,
        ENCR_CAMELLIA_CCM_12 = 26,
        ENCR_CAMELLIA_CCM_16 = 27,
        /// RFC 7634.
        ENCR_CHACHA20_POLY1305 = 28,
        ENCR_AES_CCM_8_IIV = 29,
        ENCR_AES_GCM_16_IIV = 30,
        ENCR_CHACHA20_POLY1305_IIV = 31,
    }
    prf_name {
        PRF_HMAC_MD5 = 1,
        PRF_HMAC_SHA1 = 2,
        PRF_HMAC_TIGER = 3,
        PRF_AES128_XCBC = 4,
        PRF_HMAC_SHA2_256 = 5,
        PRF_HMAC_SHA2_384 = 6,
        PRF_HMAC_SHA2_512 = 7,
        PRF_AES128_CMAC = 8,
        PRF_HMAC_STREEBOG_512 = 9,
    }
    integ_name {
        /// No separate integrity algorithm: what an AEAD proposal may carry.
        INTEG_NONE = 0,
        INTEG_HMAC_MD5_96 = 1,
        INTEG_HMAC_SHA1_96 = 2,
        INTEG_DES_MAC = 3,
        INTEG_KPDK_MD5 = 4,
        INTEG_AES_XCBC_96 = 5,
        INTEG_HMAC_MD5_128 = 6,
        INTEG_HMAC_SHA1_160 = 7,
        INTEG_AES_CMAC_96 = 8,
        INTEG_AES_128_GMAC = 9,
        INTEG_AES_192_GMAC = 10,
        INTEG_AES_256_GMAC = 11,
        INTEG_HMAC_SHA2_256_128 = 12,
        INTEG_HMAC_SHA2_384_192 = 13,
        INTEG_HMAC_SHA2_512_256 = 14,
    }
    ke_name {
        /// No key exchange: what a Child SA proposal without PFS may carry.
        KE_NONE = 0,
        KE_MODP_768 = 1,
        KE_MODP_1024 = 2,
        KE_MODP_1536 = 5,
        KE_MODP_2048 = 14,
        KE_MODP_3072 = 15,
        KE_MODP_4096 = 16,
        KE_MODP_6144 = 17,
        KE_MODP_8192 = 18,
        KE_ECP_256 = 19,
        KE_ECP_384 = 20,
        KE_ECP_521 = 21,
        KE_MODP_1024_160 = 22,
        KE_MODP_2048_224 = 23,
        KE_MODP_2048_256 = 24,
        KE_ECP_192 = 25,
        KE_ECP_224 = 26,
        KE_BRAINPOOL_P224R1 = 27,
        KE_BRAINPOOL_P256R1 = 28,
        KE_BRAINPOOL_P384R1 = 29,
        KE_BRAINPOOL_P512R1 = 30,
        KE_CURVE25519 = 31,
        KE_CURVE448 = 32,
        KE_GOST3410_2012_256 = 33,
        KE_GOST3410_2012_512 = 34,
        /// FIPS 203, RFC 9370 additional key exchange.
        KE_ML_KEM_512 = 35,
        KE_ML_KEM_768 = 36,
        KE_ML_KEM_1024 = 37,
    }
    esn_name {
        ESN_NO = 0,
        ESN_YES = 1,
    }
}

impl TransformId {
    /// The IANA name of this ID for a transform of type `ty`, or `None` if that type's
    /// registry does not name it.
    pub const fn name(self, ty: TransformType) -> Option<&'static str> {
        match ty.0 {
            1 => encr_name(self.0),
            2 => prf_name(self.0),
            3 => integ_name(self.0),
            5 => esn_name(self.0),
            _ if ty.is_key_exchange() => ke_name(self.0),
            _ => None,
        }
    }

    /// A `Display` adapter printing the name this ID has under `ty`, or
    /// `<type>(0x....)` when it has none.
    pub const fn display(self, ty: TransformType) -> TransformIdDisplay {
        TransformIdDisplay { ty, id: self }
    }
}

/// Prints a [`TransformId`] in the context of its [`TransformType`]; see
/// [`TransformId::display`].
#[derive(Debug, Clone, Copy)]
pub struct TransformIdDisplay {
    ty: TransformType,
    id: TransformId,
}

impl fmt::Display for TransformIdDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id.name(self.ty) {
            Some(n) => f.write_str(n),
            None => write!(f, "{}({:#06x})", self.ty, self.id.0),
        }
    }
}

/// Without its transform type an ID has no name, so it prints as hex.
impl fmt::Display for TransformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransformId({:#06x})", self.0)
    }
}

impl fmt::Debug for TransformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<u16> for TransformId {
    fn from(v: u16) -> Self {
        Self(v)
    }
}

impl From<TransformId> for u16 {
    fn from(v: TransformId) -> Self {
        v.0
    }
}

registry! {
    /// RFC 7296 §3.3.5 Transform Attribute Type (15 bits: the top bit of the field is
    /// the Attribute Format flag).
    AttributeType(u16) {
        /// Key length in bits, for ciphers with variable key sizes; always TV.
        KEY_LENGTH = 14,
    }
}

registry! {
    /// RFC 7296 §3.5 Identification Type.
    IdType(u8) {
        IPV4_ADDR = 1,
        FQDN = 2,
        RFC822_ADDR = 3,
        IPV6_ADDR = 5,
        DER_ASN1_DN = 9,
        DER_ASN1_GN = 10,
        KEY_ID = 11,
        /// RFC 4595.
        FC_NAME = 12,
        /// RFC 7619.
        NULL = 13,
    }
}

registry! {
    /// RFC 7296 §3.6 Certificate Encoding (also used by CERTREQ, §3.7).
    CertEncoding(u8) {
        PKCS7_WRAPPED_X509 = 1,
        PGP = 2,
        DNS_SIGNED_KEY = 3,
        X509_SIGNATURE = 4,
        KERBEROS_TOKEN = 6,
        CRL = 7,
        ARL = 8,
        SPKI = 9,
        X509_ATTRIBUTE = 10,
        RAW_RSA_KEY = 11,
        HASH_AND_URL_X509 = 12,
        HASH_AND_URL_X509_BUNDLE = 13,
        /// RFC 4806.
        OCSP_CONTENT = 14,
        /// RFC 7670.
        RAW_PUBLIC_KEY = 15,
    }
}

registry! {
    /// RFC 7296 §3.8 Authentication Method.
    AuthMethod(u8) {
        RSA_SIG = 1,
        SHARED_KEY_MIC = 2,
        DSS = 3,
        /// RFC 4754.
        ECDSA_256 = 9,
        ECDSA_384 = 10,
        ECDSA_521 = 11,
        /// RFC 6467.
        GENERIC_SECURE_PASSWORD = 12,
        /// RFC 7619.
        NULL = 13,
        /// RFC 7427.
        DIGITAL_SIGNATURE = 14,
    }
}

registry! {
    /// RFC 7296 §3.10.1 Notify Message Type: below 16384 an error, from 16384 on a
    /// status (see [`NotifyType::is_error`]).
    NotifyType(u16) {
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        INVALID_IKE_SPI = 4,
        INVALID_MAJOR_VERSION = 5,
        INVALID_SYNTAX = 7,
        INVALID_MESSAGE_ID = 9,
        INVALID_SPI = 11,
        NO_PROPOSAL_CHOSEN = 14,
        INVALID_KE_PAYLOAD = 17,
        AUTHENTICATION_FAILED = 24,
        SINGLE_PAIR_REQUIRED = 34,
        NO_ADDITIONAL_SAS = 35,
        INTERNAL_ADDRESS_FAILURE = 36,
        FAILED_CP_REQUIRED = 37,
        TS_UNACCEPTABLE = 38,
        INVALID_SELECTORS = 39,
        /// RFC 4555.
        UNACCEPTABLE_ADDRESSES = 40,
        /// RFC 4555.
        UNEXPECTED_NAT_DETECTED = 41,
        /// RFC 5026.
        #[allow(non_upper_case_globals)]
        USE_ASSIGNED_HoA = 42,
        TEMPORARY_FAILURE = 43,
        CHILD_SA_NOT_FOUND = 44,
        /// RFC 9838.
        INVALID_GROUP_ID = 45,
        /// RFC 9838.
        AUTHORIZATION_FAILED = 46,
        /// RFC 9370.
        STATE_NOT_FOUND = 47,
        INITIAL_CONTACT = 16384 => "INIT_CONTACT",
        SET_WINDOW_SIZE = 16385,
        ADDITIONAL_TS_POSSIBLE = 16386,
        IPCOMP_SUPPORTED = 16387,
        NAT_DETECTION_SOURCE_IP = 16388 => "NATD_S_IP",
        NAT_DETECTION_DESTINATION_IP = 16389 => "NATD_D_IP",
        COOKIE = 16390,
        USE_TRANSPORT_MODE = 16391,
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        REKEY_SA = 16393,
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        MOBIKE_SUPPORTED = 16396 => "MOBIKE_SUP",
        ADDITIONAL_IP4_ADDRESS = 16397,
        ADDITIONAL_IP6_ADDRESS = 16398,
        NO_ADDITIONAL_ADDRESSES = 16399,
        UPDATE_SA_ADDRESSES = 16400,
        COOKIE2 = 16401,
        NO_NATS_ALLOWED = 16402,
        AUTH_LIFETIME = 16403,
        MULTIPLE_AUTH_SUPPORTED = 16404 => "MULT_AUTH",
        ANOTHER_AUTH_FOLLOWS = 16405,
        REDIRECT_SUPPORTED = 16406 => "REDIR_SUP",
        REDIRECT = 16407,
        REDIRECTED_FROM = 16408,
        TICKET_LT_OPAQUE = 16409,
        TICKET_REQUEST = 16410,
        TICKET_ACK = 16411,
        TICKET_NACK = 16412,
        TICKET_OPAQUE = 16413,
        LINK_ID = 16414,
        USE_WESP_MODE = 16415,
        ROHC_SUPPORTED = 16416,
        EAP_ONLY_AUTHENTICATION = 16417 => "EAP_ONLY",
        CHILDLESS_IKEV2_SUPPORTED = 16418 => "CHDLESS_SUP",
        QUICK_CRASH_DETECTION = 16419,
        IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
        IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421,
        IKEV2_MESSAGE_ID_SYNC = 16422,
        IPSEC_REPLAY_COUNTER_SYNC = 16423,
        SECURE_PASSWORD_METHODS = 16424,
        PSK_PERSIST = 16425,
        PSK_CONFIRM = 16426,
        ERX_SUPPORTED = 16427,
        IFOM_CAPABILITY = 16428,
        SENDER_REQUEST_ID = 16429,
        IKEV2_FRAGMENTATION_SUPPORTED = 16430 => "FRAG_SUP",
        SIGNATURE_HASH_ALGORITHMS = 16431 => "HASH_ALG",
        CLONE_IKE_SA_SUPPORTED = 16432,
        CLONE_IKE_SA = 16433,
        PUZZLE = 16434,
        USE_PPK = 16435,
        PPK_IDENTITY = 16436,
        NO_PPK_AUTH = 16437,
        INTERMEDIATE_EXCHANGE_SUPPORTED = 16438 => "IKE_INT_SUP",
        IP4_ALLOWED = 16439,
        IP6_ALLOWED = 16440,
        ADDITIONAL_KEY_EXCHANGE = 16441 => "ADD_KE",
        USE_AGGFRAG = 16442,
    }
}

impl NotifyType {
    /// The first status type; every lower value is an error type (RFC 7296 §3.10.1).
    pub const FIRST_STATUS: u16 = 16384;

    /// The start of the private-use range of status types (RFC 7296 §10: 40960–65535).
    pub const FIRST_PRIVATE_STATUS: u16 = 40960;

    /// The default type number of the SEPARATE_TRANSPORTS notify
    /// (draft-smyslov-ipsecme-ikev2-separate-transports), which IANA has not assigned yet.
    ///
    /// It is only the default of a configuration value: both peers must agree on the
    /// number, so the engine takes it from configuration and hands it to
    /// [`Notify::separate_transports`](crate::ike::Notify::separate_transports) and
    /// [`Notify::is_separate_transports`](crate::ike::Notify::is_separate_transports).
    /// It sits at the start of the private-use status range, where no assigned type can
    /// collide with it, and deliberately has no name: the logs print the number a peer
    /// actually used.
    pub const SEPARATE_TRANSPORTS_DEFAULT: Self = Self(Self::FIRST_PRIVATE_STATUS);

    /// Whether this is an error type (RFC 7296 §3.10.1: types below 16384).
    ///
    /// An unrecognized error type in a response still means the request failed, while
    /// an unrecognized status type is ignored, so the engine needs this for unnamed
    /// values too.
    pub const fn is_error(self) -> bool {
        self.0 < Self::FIRST_STATUS
    }
}

registry! {
    /// RFC 7296 §3.13.1 Traffic Selector Type.
    TsType(u8) {
        /// IANA `TS_IPV4_ADDR_RANGE`.
        IPV4_ADDR_RANGE = 7,
        /// IANA `TS_IPV6_ADDR_RANGE`.
        IPV6_ADDR_RANGE = 8,
        /// RFC 4595.
        FC_ADDR_RANGE = 9,
        /// RFC 9478.
        SECLABEL = 10,
    }
}

registry! {
    /// RFC 7296 §3.15 Configuration Type.
    CfgType(u8) {
        REQUEST = 1,
        REPLY = 2,
        SET = 3,
        ACK = 4,
    }
}

registry! {
    /// RFC 7296 §3.15.1 Configuration Attribute Type (15 bits: the top bit of the field
    /// is reserved).
    CfgAttributeType(u16) {
        INTERNAL_IP4_ADDRESS = 1,
        INTERNAL_IP4_NETMASK = 2,
        INTERNAL_IP4_DNS = 3,
        INTERNAL_IP4_NBNS = 4,
        INTERNAL_IP4_DHCP = 6,
        APPLICATION_VERSION = 7,
        INTERNAL_IP6_ADDRESS = 8,
        INTERNAL_IP6_DNS = 10,
        INTERNAL_IP6_DHCP = 12,
        INTERNAL_IP4_SUBNET = 13,
        SUPPORTED_ATTRIBUTES = 14,
        INTERNAL_IP6_SUBNET = 15,
        /// RFC 5026.
        MIP6_HOME_PREFIX = 16,
        /// RFC 5739.
        INTERNAL_IP6_LINK = 17,
        /// RFC 5739.
        INTERNAL_IP6_PREFIX = 18,
        /// 3GPP TS 24.302.
        HOME_AGENT_ADDRESS = 19,
        /// RFC 7651.
        P_CSCF_IP4_ADDRESS = 20,
        /// RFC 7651.
        P_CSCF_IP6_ADDRESS = 21,
        /// RFC 8598.
        INTERNAL_DNS_DOMAIN = 25,
        /// RFC 8598.
        INTERNAL_DNSSEC_TA = 26,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7296_3_registries_print_names_and_unknown_values_as_hex() {
        assert_eq!(
            NotifyType::NAT_DETECTION_SOURCE_IP.to_string(),
            "NAT_DETECTION_SOURCE_IP"
        );
        assert_eq!(NotifyType(0x9c41).to_string(), "NotifyType(0x9c41)");
        assert_eq!(ExchangeType(0x63).to_string(), "ExchangeType(0x63)");
        assert_eq!(PayloadType::IDi.to_string(), "IDi");
        assert_eq!(PayloadType::NONCE.short_name(), Some("No"));
        assert_eq!(PayloadType::SA.short_name(), Some("SA"));
        assert_eq!(
            NotifyType::NAT_DETECTION_DESTINATION_IP.short_name(),
            Some("NATD_D_IP")
        );
        assert_eq!(format!("{:?}", ProtocolId::ESP), "ESP");
        assert_eq!(u16::from(NotifyType::COOKIE), 16390);
        assert_eq!(NotifyType::from(16390), NotifyType::COOKIE);
    }

    #[test]
    fn rfc7296_3_3_2_transform_ids_are_named_per_transform_type() {
        let id = TransformId(12);
        assert_eq!(id.name(TransformType::ENCR), Some("ENCR_AES_CBC"));
        assert_eq!(
            id.name(TransformType::INTEG),
            Some("INTEG_HMAC_SHA2_256_128")
        );
        assert_eq!(
            TransformId::KE_ML_KEM_768.name(TransformType::ADDKE3),
            Some("KE_ML_KEM_768")
        );
        assert_eq!(
            TransformId(999).display(TransformType::PRF).to_string(),
            "PRF(0x03e7)"
        );
        assert_eq!(TransformId(1).name(TransformType(99)), None);
        assert_eq!(
            TransformId::ESN_YES.name(TransformType::ESN),
            Some("ESN_YES")
        );
    }

    #[test]
    fn rfc7296_3_10_1_error_types_are_below_16384() {
        for e in [
            1u16, 4, 5, 7, 9, 11, 14, 17, 24, 34, 35, 36, 37, 38, 39, 43, 44,
        ] {
            assert!(NotifyType(e).is_error(), "{e}");
            assert!(NotifyType(e).name().is_some(), "{e}");
        }
        for s in 16384u16..=16442 {
            assert!(!NotifyType(s).is_error());
            assert!(NotifyType(s).name().is_some(), "{s}");
        }
        assert!(NotifyType(16383).is_error());
    }

    // R-SEP-1: the type number is configurable, its default lies in private use.
    #[test]
    fn separate_transports_default_is_a_private_use_status() {
        let t = NotifyType::SEPARATE_TRANSPORTS_DEFAULT;
        assert_eq!(t.0, 40960);
        assert!(!t.is_error());
        assert_eq!(t.to_string(), "NotifyType(0xa000)");
    }
}

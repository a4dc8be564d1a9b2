//! RFC 7296 §3.5 Identification payloads: the identities a peer claims, as read from the
//! wire and as written in configuration.
//!
//! Configuration strings follow strongSwan's `identification_create_from_string`, so the
//! same text names the same identity on both sides of an interop test:
//! - a type prefix (`ipv4:`, `ipv6:`, `fqdn:`/`dns:`, `rfc822:`/`email:`/`userfqdn:`,
//!   `asn1dn:`/`dn:`, `keyid:`) forces the type; `#` after it introduces hex bytes;
//! - otherwise text containing `=` is a distinguished name (`C=CH, O=strongSwan, CN=foo`,
//!   or OpenSSL's `/C=CH/O=strongSwan/CN=foo`), encoded to DER as strongSwan's `atodn`
//!   does: PrintableString when the value allows it, UTF8String otherwise, IA5String for
//!   e-mail addresses and domain components;
//! - text with `@` is an RFC 822 address, unless it starts with `@` (an FQDN; `@#hex` is a
//!   key ID);
//! - an IPv4 or IPv6 address is an address, anything else an FQDN.
//!
//! Unlike strongSwan, `keyid:` always takes hex (with or without `#`): a key ID is
//! opaque bytes, and the `#` form is what both accept.

use core::fmt;
use core::str::FromStr;
use std::net::{Ipv4Addr, Ipv6Addr};

use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use crate::PkiError;
use crate::der;

/// The content of an IKEv2 Identification payload (RFC 7296 §3.5).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Identity {
    /// ID_IPV4_ADDR (1).
    Ipv4(Ipv4Addr),
    /// ID_IPV6_ADDR (5).
    Ipv6(Ipv6Addr),
    /// ID_FQDN (2): a domain name, without terminator.
    Fqdn(String),
    /// ID_RFC822_ADDR (3): an e-mail style address, without terminator.
    Rfc822(String),
    /// ID_DER_ASN1_DN (9): the DER of an X.501 Name.
    Dn(Vec<u8>),
    /// ID_KEY_ID (11): opaque bytes.
    KeyId(Vec<u8>),
}

impl Identity {
    /// ID Type of an IPv4 address.
    pub const ID_IPV4_ADDR: u8 = 1;
    /// ID Type of a fully qualified domain name.
    pub const ID_FQDN: u8 = 2;
    /// ID Type of an RFC 822 address.
    pub const ID_RFC822_ADDR: u8 = 3;
    /// ID Type of an IPv6 address.
    pub const ID_IPV6_ADDR: u8 = 5;
    /// ID Type of a DER-encoded distinguished name.
    pub const ID_DER_ASN1_DN: u8 = 9;
    /// ID Type of an opaque key identifier.
    pub const ID_KEY_ID: u8 = 11;

    /// The ID Type octet of the payload.
    #[must_use]
    pub fn id_type(&self) -> u8 {
        match self {
            Self::Ipv4(_) => Self::ID_IPV4_ADDR,
            Self::Fqdn(_) => Self::ID_FQDN,
            Self::Rfc822(_) => Self::ID_RFC822_ADDR,
            Self::Ipv6(_) => Self::ID_IPV6_ADDR,
            Self::Dn(_) => Self::ID_DER_ASN1_DN,
            Self::KeyId(_) => Self::ID_KEY_ID,
        }
    }

    /// The Identification Data of the payload.
    #[must_use]
    pub fn data(&self) -> Vec<u8> {
        match self {
            Self::Ipv4(addr) => addr.octets().to_vec(),
            Self::Ipv6(addr) => addr.octets().to_vec(),
            Self::Fqdn(name) | Self::Rfc822(name) => name.as_bytes().to_vec(),
            Self::Dn(der) | Self::KeyId(der) => der.clone(),
        }
    }

    /// Reads an Identification payload's type and data, as received from a peer.
    ///
    /// Addresses must have their exact length, names must be non-empty text without
    /// control characters (RFC 7296 §3.5 forbids terminators), and a DN must be one
    /// well-formed DER Name with nothing after it.
    pub fn from_wire(id_type: u8, data: &[u8]) -> Result<Self, PkiError> {
        match id_type {
            Self::ID_IPV4_ADDR => <[u8; 4]>::try_from(data)
                .map(|octets| Self::Ipv4(Ipv4Addr::from(octets)))
                .map_err(|_| PkiError::InvalidIdentity("IPv4 address must be 4 octets")),
            Self::ID_IPV6_ADDR => <[u8; 16]>::try_from(data)
                .map(|octets| Self::Ipv6(Ipv6Addr::from(octets)))
                .map_err(|_| PkiError::InvalidIdentity("IPv6 address must be 16 octets")),
            Self::ID_FQDN => name_text(data).map(Self::Fqdn),
            Self::ID_RFC822_ADDR => name_text(data).map(Self::Rfc822),
            Self::ID_DER_ASN1_DN => {
                check_dn(data)?;
                Ok(Self::Dn(data.to_vec()))
            }
            Self::ID_KEY_ID if data.is_empty() => Err(PkiError::InvalidIdentity("empty key ID")),
            Self::ID_KEY_ID => Ok(Self::KeyId(data.to_vec())),
            other => Err(PkiError::UnsupportedIdType(other)),
        }
    }

    /// Parses a configuration string (see the module documentation for the rules).
    pub fn parse(text: &str) -> Result<Self, PkiError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PkiError::InvalidIdentity("empty identity"));
        }
        if let Some(identity) = parse_prefixed(text)? {
            return Ok(identity);
        }
        if text.contains('=') {
            return parse_dn(text).map(Self::Dn);
        }
        if let Some(rest) = text.strip_prefix('@') {
            if let Some(hex) = rest.strip_prefix('#') {
                return key_id_from_hex(hex);
            }
            if let Some(address) = rest.strip_prefix('@') {
                return checked_name(address).map(Self::Rfc822);
            }
            return checked_name(rest).map(Self::Fqdn);
        }
        if text.contains('@') {
            return checked_name(text).map(Self::Rfc822);
        }
        if let Ok(addr) = text.parse::<Ipv4Addr>() {
            return Ok(Self::Ipv4(addr));
        }
        if let Ok(addr) = text.parse::<Ipv6Addr>() {
            return Ok(Self::Ipv6(addr));
        }
        if text.contains(':') {
            return Err(PkiError::InvalidIdentity(
                "neither an IPv6 address nor a name",
            ));
        }
        checked_name(text).map(Self::Fqdn)
    }
}

impl FromStr for Identity {
    type Err = PkiError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ipv4(addr) => write!(f, "{addr}"),
            Self::Ipv6(addr) => write!(f, "{addr}"),
            Self::Fqdn(name) | Self::Rfc822(name) => f.write_str(name),
            Self::Dn(der) => match parse_full_dn(der) {
                Some(name) => write!(f, "{name}"),
                None => write!(f, "asn1dn:#{}", hex(der)),
            },
            Self::KeyId(bytes) => write!(f, "keyid:#{}", hex(bytes)),
        }
    }
}

/// Compares two DER Names attribute by attribute: same RDN structure and attribute
/// types, string values equal ignoring ASCII case whatever their string type, other
/// values equal byte for byte.
///
/// Byte equality alone would be too strict: a DN typed into a configuration is encoded
/// with PrintableString where OpenSSL-made certificates use UTF8String, and strongSwan's
/// `compare_dn` accepts such pairs as well.
#[must_use]
pub fn dn_equal(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let (Some(a), Some(b)) = (parse_full_dn(a), parse_full_dn(b)) else {
        return false;
    };
    let (a_rdns, b_rdns): (Vec<_>, Vec<_>) = (a.iter().collect(), b.iter().collect());
    a_rdns.len() == b_rdns.len()
        && a_rdns.iter().zip(&b_rdns).all(|(a_rdn, b_rdn)| {
            let (a_attrs, b_attrs): (Vec<_>, Vec<_>) =
                (a_rdn.iter().collect(), b_rdn.iter().collect());
            a_attrs.len() == b_attrs.len()
                && a_attrs.iter().zip(&b_attrs).all(|(x, y)| {
                    x.attr_type() == y.attr_type()
                        && match (x.as_str(), y.as_str()) {
                            (Ok(xs), Ok(ys)) => xs.eq_ignore_ascii_case(ys),
                            _ => {
                                x.attr_value().tag() == y.attr_value().tag()
                                    && x.attr_value().data == y.attr_value().data
                            }
                        }
                })
        })
}

/// A DER Name spanning all of `der`.
fn parse_full_dn(der: &[u8]) -> Option<X509Name<'_>> {
    match X509Name::from_der(der) {
        Ok((rest, name)) if rest.is_empty() && name.as_raw().len() == der.len() => Some(name),
        _ => None,
    }
}

fn check_dn(der: &[u8]) -> Result<(), PkiError> {
    parse_full_dn(der)
        .map(|_| ())
        .ok_or(PkiError::InvalidIdentity(
            "malformed DER distinguished name",
        ))
}

/// A name from the wire: UTF-8, non-empty, no control characters.
fn name_text(data: &[u8]) -> Result<String, PkiError> {
    let text =
        core::str::from_utf8(data).map_err(|_| PkiError::InvalidIdentity("name is not UTF-8"))?;
    checked_name(text)
}

fn checked_name(text: &str) -> Result<String, PkiError> {
    if text.is_empty() {
        return Err(PkiError::InvalidIdentity("empty name"));
    }
    if text.chars().any(char::is_control) {
        return Err(PkiError::InvalidIdentity(
            "name contains control characters",
        ));
    }
    Ok(text.to_owned())
}

/// The type prefixes of strongSwan's identity syntax.
fn parse_prefixed(text: &str) -> Result<Option<Identity>, PkiError> {
    let Some((prefix, rest)) = text.split_once(':') else {
        return Ok(None);
    };
    let hex_body = rest.strip_prefix('#');
    let identity = match prefix.to_ascii_lowercase().as_str() {
        "ipv4" => Identity::Ipv4(
            rest.parse()
                .map_err(|_| PkiError::InvalidIdentity("malformed IPv4 address"))?,
        ),
        "ipv6" => Identity::Ipv6(
            rest.parse()
                .map_err(|_| PkiError::InvalidIdentity("malformed IPv6 address"))?,
        ),
        "fqdn" | "dns" => Identity::Fqdn(checked_name(rest)?),
        "rfc822" | "email" | "userfqdn" => Identity::Rfc822(checked_name(rest)?),
        "asn1dn" | "dn" => match hex_body {
            Some(hex) => {
                let der = from_hex(hex)?;
                check_dn(&der)?;
                Identity::Dn(der)
            }
            None => Identity::Dn(parse_dn(rest)?),
        },
        "keyid" => return key_id_from_hex(hex_body.unwrap_or(rest)).map(Some),
        _ => return Ok(None),
    };
    Ok(Some(identity))
}

fn key_id_from_hex(hex: &str) -> Result<Identity, PkiError> {
    let bytes = from_hex(hex)?;
    if bytes.is_empty() {
        return Err(PkiError::InvalidIdentity("empty key ID"));
    }
    Ok(Identity::KeyId(bytes))
}

fn from_hex(text: &str) -> Result<Vec<u8>, PkiError> {
    let digits: Vec<u8> = text.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(PkiError::InvalidIdentity("odd number of hex digits"));
    }
    digits
        .chunks_exact(2)
        .map(|pair| {
            let nibble = |d: u8| {
                char::from(d)
                    .to_digit(16)
                    .ok_or(PkiError::InvalidIdentity("invalid hex digit"))
            };
            // Two hex digits always fit in a byte.
            Ok((nibble(pair[0])? * 16 + nibble(pair[1])?) as u8)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How an attribute value is typed when a DN string is encoded.
#[derive(Clone, Copy)]
enum ValueType {
    /// PrintableString when the value allows it, UTF8String otherwise (strongSwan's rule).
    Directory,
    /// IA5String, for attributes defined on ASCII (e-mail address, domain component).
    Ia5,
}

/// Attribute names accepted in DN strings (RFC 4519, PKCS #9), case-insensitive.
const ATTRIBUTES: &[(&[&str], &[u64], ValueType)] = &[
    (&["CN", "commonName"], &[2, 5, 4, 3], ValueType::Directory),
    (&["SN", "surname"], &[2, 5, 4, 4], ValueType::Directory),
    (&["serialNumber"], &[2, 5, 4, 5], ValueType::Directory),
    (&["C", "countryName"], &[2, 5, 4, 6], ValueType::Directory),
    (&["L", "localityName"], &[2, 5, 4, 7], ValueType::Directory),
    (
        &["ST", "stateOrProvinceName"],
        &[2, 5, 4, 8],
        ValueType::Directory,
    ),
    (
        &["STREET", "streetAddress"],
        &[2, 5, 4, 9],
        ValueType::Directory,
    ),
    (
        &["O", "organizationName"],
        &[2, 5, 4, 10],
        ValueType::Directory,
    ),
    (
        &["OU", "organizationalUnitName"],
        &[2, 5, 4, 11],
        ValueType::Directory,
    ),
    (&["T", "title"], &[2, 5, 4, 12], ValueType::Directory),
    (&["D", "description"], &[2, 5, 4, 13], ValueType::Directory),
    (&["postalCode"], &[2, 5, 4, 17], ValueType::Directory),
    (&["N", "name"], &[2, 5, 4, 41], ValueType::Directory),
    (
        &["G", "GN", "givenName"],
        &[2, 5, 4, 42],
        ValueType::Directory,
    ),
    (&["I", "initials"], &[2, 5, 4, 43], ValueType::Directory),
    (&["dnQualifier"], &[2, 5, 4, 46], ValueType::Directory),
    (&["pseudonym"], &[2, 5, 4, 65], ValueType::Directory),
    (
        &["UID", "userId"],
        &[0, 9, 2342, 19200300, 100, 1, 1],
        ValueType::Directory,
    ),
    (
        &["DC", "domainComponent"],
        &[0, 9, 2342, 19200300, 100, 1, 25],
        ValueType::Ia5,
    ),
    (
        &["E", "Email", "emailAddress"],
        &[1, 2, 840, 113549, 1, 9, 1],
        ValueType::Ia5,
    ),
];

/// Most RDNs a configured DN may have (strongSwan's `RDN_MAX`).
const MAX_RDNS: usize = 20;

/// Encodes a DN string as a DER Name, one attribute per RDN, in the order written.
fn parse_dn(text: &str) -> Result<Vec<u8>, PkiError> {
    let text = text.trim();
    // OpenSSL prints `/C=CH/O=...`; a leading slash picks `/` as the separator.
    let (separator, body) = match text.strip_prefix('/') {
        Some(rest) => ('/', rest),
        None => (',', text),
    };
    let mut parts: Vec<(String, String)> = Vec::new();
    let (mut key, mut value, mut in_value) = (String::new(), String::new(), false);
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let escaped = chars
                    .next()
                    .ok_or(PkiError::InvalidIdentity("DN ends with a backslash"))?;
                if in_value { &mut value } else { &mut key }.push(escaped);
            }
            c if c == separator => {
                push_part(&mut parts, &key, &value, in_value)?;
                key.clear();
                value.clear();
                in_value = false;
            }
            '=' if !in_value => in_value = true,
            c => if in_value { &mut value } else { &mut key }.push(c),
        }
    }
    push_part(&mut parts, &key, &value, in_value)?;
    if parts.is_empty() {
        return Err(PkiError::InvalidIdentity("DN without attributes"));
    }
    if parts.len() > MAX_RDNS {
        return Err(PkiError::InvalidIdentity("DN with too many attributes"));
    }
    let mut rdns = Vec::new();
    for (key, value) in &parts {
        let (oid, value_type) = attribute(key)?;
        let value_element = match value_type {
            ValueType::Ia5 if value.is_ascii() => der::tlv(der::IA5_STRING, value.as_bytes()),
            ValueType::Ia5 => {
                return Err(PkiError::InvalidIdentity(
                    "non-ASCII value in an ASCII attribute",
                ));
            }
            ValueType::Directory if value.chars().all(is_printable) => {
                der::tlv(der::PRINTABLE_STRING, value.as_bytes())
            }
            ValueType::Directory => der::tlv(der::UTF8_STRING, value.as_bytes()),
        };
        let mut pair = der::tlv(der::OID, &oid);
        pair.extend_from_slice(&value_element);
        rdns.extend_from_slice(&der::tlv(der::SET, &der::tlv(der::SEQUENCE, &pair)));
    }
    Ok(der::tlv(der::SEQUENCE, &rdns))
}

/// Adds one `key=value` part; a part of only spaces (as between `//`) is skipped.
fn push_part(
    parts: &mut Vec<(String, String)>,
    key: &str,
    value: &str,
    had_equals: bool,
) -> Result<(), PkiError> {
    let (key, value) = (key.trim(), value.trim());
    if !had_equals {
        return if key.is_empty() {
            Ok(())
        } else {
            Err(PkiError::InvalidIdentity("DN attribute without '='"))
        };
    }
    if key.is_empty() {
        return Err(PkiError::InvalidIdentity("DN attribute without a type"));
    }
    if value.is_empty() {
        return Err(PkiError::InvalidIdentity("DN attribute without a value"));
    }
    if value.chars().any(char::is_control) {
        return Err(PkiError::InvalidIdentity(
            "DN value contains control characters",
        ));
    }
    parts.push((key.to_owned(), value.to_owned()));
    Ok(())
}

/// The OID contents and value type of a DN attribute name or dotted OID.
fn attribute(key: &str) -> Result<(Vec<u8>, ValueType), PkiError> {
    if let Some((_, arcs, value_type)) = ATTRIBUTES
        .iter()
        .find(|(names, _, _)| names.iter().any(|n| n.eq_ignore_ascii_case(key)))
    {
        let oid = der::oid_contents(arcs).ok_or(PkiError::InvalidIdentity("bad OID"))?;
        return Ok((oid, *value_type));
    }
    let arcs: Vec<u64> = key
        .split('.')
        .map(|arc| arc.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| PkiError::InvalidIdentity("unknown DN attribute type"))?;
    let oid =
        der::oid_contents(&arcs).ok_or(PkiError::InvalidIdentity("invalid DN attribute OID"))?;
    Ok((oid, ValueType::Directory))
}

/// The PrintableString alphabet (X.680 §41.4).
fn is_printable(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_encoding_matches_strongswan_atodn() {
        // SEQUENCE { SET { SEQUENCE { 2.5.4.6, PrintableString "CH" } }, ... }
        let der = parse_dn("C=CH, O=strongSwan, CN=foo").unwrap();
        let expected: &[u8] = &[
            0x30, 0x30, //
            0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, b'C', b'H', //
            0x31, 0x13, 0x30, 0x11, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x13, 0x0a, b's', b't', b'r',
            b'o', b'n', b'g', b'S', b'w', b'a', b'n', //
            0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x13, 0x03, b'f', b'o', b'o',
        ];
        assert_eq!(der, expected);
        assert_eq!(parse_dn("/C=CH/O=strongSwan/CN=foo").unwrap(), expected);
    }

    #[test]
    fn dn_value_types() {
        let der = parse_dn("CN=Grüezi, E=a@b.test, 2.5.4.11=unit").unwrap();
        let name = parse_full_dn(&der).unwrap();
        let tags: Vec<_> = name
            .iter_attributes()
            .map(|a| a.attr_value().tag().0)
            .collect();
        assert_eq!(tags, [12, 22, 19]);
        assert!(parse_dn("CN=a, foo=b").is_err());
        assert!(parse_dn("CN").is_err());
        assert!(parse_dn("CN=").is_err());
        assert!(parse_dn("E=ä@b").is_err());
        let escaped = parse_dn(r"CN=a\, b").unwrap();
        let name = parse_full_dn(&escaped).unwrap();
        let values: Vec<_> = name
            .iter_attributes()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(values, ["a, b"]);
    }

    #[test]
    fn dn_comparison_ignores_string_type_and_case() {
        let printable = parse_dn("O=iketcp-test, CN=a.ecdsa.ss.test").unwrap();
        // The same attributes as UTF8String, as OpenSSL writes them.
        let rdn = |oid: &[u8], value: &str| {
            let mut pair = der::tlv(der::OID, oid);
            pair.extend_from_slice(&der::tlv(der::UTF8_STRING, value.as_bytes()));
            der::tlv(der::SET, &der::tlv(der::SEQUENCE, &pair))
        };
        let mut rdns = rdn(&[0x55, 0x04, 0x0a], "iketcp-test");
        rdns.extend_from_slice(&rdn(&[0x55, 0x04, 0x03], "a.ecdsa.ss.test"));
        let utf8 = der::tlv(der::SEQUENCE, &rdns);
        assert_ne!(printable, utf8);
        assert!(dn_equal(&printable, &utf8));
        assert!(dn_equal(
            &printable,
            &parse_dn("O=IKETCP-test, CN=A.ecdsa.ss.test").unwrap()
        ));
        assert!(!dn_equal(
            &printable,
            &parse_dn("CN=a.ecdsa.ss.test, O=iketcp-test").unwrap()
        ));
        assert!(!dn_equal(&printable, &parse_dn("O=iketcp-test").unwrap()));
        assert!(!dn_equal(&printable, b"garbage"));
    }
}

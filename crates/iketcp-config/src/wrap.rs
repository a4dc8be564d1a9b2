//! How a connection's TCP streams are wrapped (R-CFG-2): TLS with its server check, SNI
//! and ALPN (R-TLS-1), and a web proxy (R-TLS-2).

use std::path::PathBuf;

use iketcp_io::proxy::Proxy;
use iketcp_io::tls::{ClientSettings, MinVersion, Verify};
use iketcp_io::wrap::StreamSettings;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use toml::Spanned;

use crate::config::Check;
use crate::error::ConfigError;
use crate::schema;
use crate::secret;

/// The checked TLS and proxy settings of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamWrap {
    pub tls: Option<TlsClient>,
    pub proxy: Option<Proxy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsClient {
    pub verify: Verify,
    pub server_name: Option<String>,
    pub alpn: Vec<String>,
}

impl StreamWrap {
    /// What the driver opens connections to this peer with.
    pub fn settings(&self, peer: std::net::IpAddr, min: MinVersion) -> StreamSettings {
        StreamSettings {
            tls: self.tls.as_ref().and_then(|t| {
                ClientSettings::new(
                    t.verify.clone(),
                    t.server_name.as_deref(),
                    peer,
                    &t.alpn,
                    min,
                )
                .ok()
            }),
            proxy: self.proxy.clone(),
        }
    }

    /// How status names the transport's way out, if not direct.
    pub fn via(&self) -> Option<&'static str> {
        self.proxy.as_ref().map(|_| "via proxy")
    }
}

/// `sha256:` and 64 hex digits, colons allowed between bytes.
fn pin(text: &str) -> Option<[u8; 32]> {
    let hex: String = text
        .strip_prefix("sha256:")?
        .chars()
        .filter(|&c| c != ':')
        .collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Check<'_> {
    pub(crate) fn stream_wrap(
        &self,
        c: &schema::Connection,
        tcp_enabled: bool,
        min: MinVersion,
    ) -> Result<StreamWrap, ConfigError> {
        let tls_on = c.tcp_tls.as_ref().is_some_and(|t| *t.get_ref());
        if let Some(t) = c.tcp_tls.as_ref().filter(|_| tls_on && !tcp_enabled) {
            return self.fail(
                t.span(),
                "tcp_tls needs enable_tcp = \"yes\" or \"fallback\"",
            );
        }
        if let Some(p) = c.http_proxy.as_ref().filter(|_| !tcp_enabled) {
            return self.fail(
                p.span(),
                "http_proxy needs enable_tcp = \"yes\" or \"fallback\" (a proxy carries TCP only)",
            );
        }
        let tls_only = [
            (
                "tls_server_name",
                c.tls_server_name.as_ref().map(Spanned::span),
            ),
            ("tls_alpn", c.tls_alpn.as_ref().map(Spanned::span)),
            ("tls_ca_file", c.tls_ca_file.as_ref().map(Spanned::span)),
            ("tls_pin", c.tls_pin.as_ref().map(Spanned::span)),
        ];
        if !tls_on && let Some((key, Some(span))) = tls_only.iter().find(|(_, s)| s.is_some()) {
            return self.fail(span.clone(), format!("{key} needs tcp_tls = true"));
        }
        let tls = if tls_on {
            let verify = match (&c.tls_ca_file, &c.tls_pin) {
                (Some(_), Some(p)) => {
                    return self.fail(p.span(), "tls_ca_file and tls_pin: give only one");
                }
                (Some(f), None) => {
                    let path = self.path(f.get_ref());
                    let cas = CertificateDer::pem_file_iter(&path)
                        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                        .or_else(|e| self.fail(f.span(), format!("{}: {e}", path.display())))?;
                    if cas.is_empty() {
                        return self.fail(
                            f.span(),
                            format!("{}: no PEM CERTIFICATE in it", path.display()),
                        );
                    }
                    Verify::Ca(cas)
                }
                (None, Some(p)) => match pin(p.get_ref()) {
                    Some(v) => Verify::Pin(v),
                    None => {
                        return self.fail(
                            p.span(),
                            "a pin is \"sha256:\" and the 64 hex digits of the server certificate's SHA-256",
                        );
                    }
                },
                (None, None) => Verify::None,
            };
            let server_name = match &c.tls_server_name {
                Some(n) => {
                    if rustls_pki_types::ServerName::try_from(n.get_ref().as_str()).is_err() {
                        return self.fail(n.span(), "not a DNS name or an address");
                    }
                    Some(n.get_ref().clone())
                }
                None => None,
            };
            let alpn = match &c.tls_alpn {
                Some(a) if a.get_ref().iter().any(|p| p.is_empty() || p.len() > 255) => {
                    return self.fail(a.span(), "an ALPN protocol name is 1 to 255 bytes");
                }
                Some(a) => a.get_ref().clone(),
                None => Vec::new(),
            };
            // Built once here so that errors show at load time, not at connect time.
            ClientSettings::new(
                verify.clone(),
                server_name.as_deref(),
                std::net::Ipv4Addr::LOCALHOST.into(),
                &alpn,
                min,
            )
            .or_else(|e| {
                let span = c.tcp_tls.as_ref().map(Spanned::span).unwrap_or_default();
                self.fail(span, e.to_string())
            })?;
            Some(TlsClient {
                verify,
                server_name,
                alpn,
            })
        } else {
            None
        };
        let proxy = match &c.http_proxy {
            None => {
                if let Some(f) = &c.http_proxy_credentials_file {
                    return self.fail(f.span(), "http_proxy_credentials_file needs http_proxy");
                }
                None
            }
            Some(url) => {
                let parsed = if url.get_ref() == "env" {
                    let env = |k: &str| (self.env)(k).and_then(|v| v.into_string().ok());
                    match Proxy::from_env(env) {
                        Some(p) => p,
                        None => {
                            return self.fail(
                                url.span(),
                                "http_proxy = \"env\", but neither https_proxy nor HTTPS_PROXY is set",
                            );
                        }
                    }
                } else {
                    Proxy::parse(url.get_ref())
                };
                let mut proxy = parsed.or_else(|e| self.fail(url.span(), e.to_string()))?;
                if let Some(f) = &c.http_proxy_credentials_file {
                    let path: PathBuf = self.path(f.get_ref());
                    let raw =
                        secret::read_private_file(&path).or_else(|e| self.fail(f.span(), e))?;
                    let text = std::str::from_utf8(&raw)
                        .ok()
                        .map(str::trim)
                        .filter(|t| t.contains(':') && !t.contains('\n'))
                        .ok_or(())
                        .or_else(|()| {
                            self.fail(
                                f.span(),
                                format!("{}: one line, user:password", path.display()),
                            )
                        })?;
                    proxy = proxy.with_credentials(text.to_string());
                }
                Some(proxy)
            }
        };
        Ok(StreamWrap { tls, proxy })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pins() {
        let hex = "ab".repeat(32);
        assert_eq!(super::pin(&format!("sha256:{hex}")), Some([0xab; 32]));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(super::pin(&format!("sha256:{colons}")), Some([0xab; 32]));
        assert_eq!(super::pin(&hex), None);
        assert_eq!(super::pin("sha256:abcd"), None);
        assert_eq!(super::pin(&format!("sha256:{}", "zz".repeat(32))), None);
    }
}

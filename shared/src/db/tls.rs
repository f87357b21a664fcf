//! TLS to PostgreSQL, with rustls, as libpq's `sslmode` and `sslrootcert`
//! say it in `database_url` (`postgres://…/fila?sslmode=verify-full&
//! sslrootcert=/etc/fila/ca.pem`, or `sslmode=require` in the key=value
//! form):
//!
//! | sslmode | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | - |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always | not checked; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | signed by a trusted authority |
//! | `verify-full` | always | signed by a trusted authority, for the host connected to |
//!
//! The trusted authorities are those of `sslrootcert` (a PEM file), or the
//! system's (also `sslrootcert=system`). fila negotiates TLS itself (the
//! `SSLRequest` of PostgreSQL's protocol), so that the connection's
//! watchdog reads the protocol above it (see [`super::watchdog`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A `database_url` whose TLS options are not understood.
#[derive(Debug, thiserror::Error)]
pub enum TlsOptionError {
    #[error("sslmode {0:?} is not one of disable, allow, prefer, require, verify-ca, verify-full")]
    Mode(String),
    #[error("sslrootcert {path}: {reason}")]
    RootCert { path: PathBuf, reason: String },
    #[error("the system's trusted authorities cannot be read: {0}")]
    SystemRoots(String),
}

/// When TLS is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Result<Self, TlsOptionError> {
        Ok(match value {
            "disable" => Mode::Disable,
            "allow" | "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => return Err(TlsOptionError::Mode(other.to_string())),
        })
    }
}

/// The TLS options of `database_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    /// `sslrootcert`: a PEM file, or `system`.
    pub root_cert: Option<String>,
}

const OPTIONS: [&str; 2] = ["sslmode", "sslrootcert"];

/// Takes the TLS options out of a connection string (URL or key=value), so
/// that the rest goes to `tokio_postgres::Config`, which knows fewer modes.
pub fn split(url: &str) -> Result<(String, Options), TlsOptionError> {
    let mut found: Vec<(String, String)> = Vec::new();
    let rest = if let Some((base, query)) = url.split_once('?').filter(|_| url.contains("://")) {
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if OPTIONS.contains(&key) {
                let value = form_urlencoded::parse(format!("v={value}").as_bytes())
                    .next()
                    .map_or_else(String::new, |(_, v)| v.into_owned());
                found.push((key.to_string(), value));
            } else {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_string()
    } else {
        let mut kept = Vec::new();
        for pair in url.split_whitespace() {
            match pair.split_once('=') {
                Some((key, value)) if OPTIONS.contains(&key) => {
                    found.push((key.to_string(), value.trim_matches('\'').to_string()));
                }
                _ => kept.push(pair),
            }
        }
        kept.join(" ")
    };
    let mut options = Options {
        mode: Mode::Prefer,
        root_cert: None,
    };
    for (key, value) in found {
        match key.as_str() {
            "sslmode" => options.mode = Mode::parse(&value)?,
            _ => options.root_cert = Some(value),
        }
    }
    Ok((rest, options))
}

/// How to check the server, once TLS is on.
#[derive(Debug, Clone)]
pub struct Tls {
    pub mode: Mode,
    config: Arc<ClientConfig>,
}

impl Tls {
    /// The client configuration the options ask for; `None` for `disable`.
    pub fn new(options: &Options) -> Result<Option<Self>, TlsOptionError> {
        crate::tls::install();
        let mode = match (options.mode, &options.root_cert) {
            (Mode::Disable, _) => return Ok(None),
            (Mode::Require, Some(_)) => Mode::VerifyCa,
            (mode, _) => mode,
        };
        let builder = ClientConfig::builder();
        let config = match mode {
            Mode::Disable | Mode::Prefer | Mode::Require => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked::new()))
                .with_no_client_auth(),
            Mode::VerifyCa | Mode::VerifyFull => {
                let roots = Arc::new(roots(options.root_cert.as_deref())?);
                let webpki = WebPkiServerVerifier::builder(roots)
                    .build()
                    .map_err(|e| TlsOptionError::SystemRoots(e.to_string()))?;
                let verifier: Arc<dyn ServerCertVerifier> = if mode == Mode::VerifyFull {
                    webpki
                } else {
                    Arc::new(AnyName(webpki))
                };
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth()
            }
        };
        Ok(Some(Self {
            mode,
            config: Arc::new(config),
        }))
    }

    /// Whether a server that does not offer TLS is refused.
    pub fn required(&self) -> bool {
        self.mode != Mode::Prefer
    }

    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config.clone())
    }
}

fn roots(root_cert: Option<&str>) -> Result<RootCertStore, TlsOptionError> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) if path != "system" => {
            let error = |reason: String| TlsOptionError::RootCert {
                path: PathBuf::from(path),
                reason,
            };
            for cert in crate::tls::pem_certificates(Path::new(path)).map_err(error)? {
                roots.add(cert).map_err(|e| error(e.to_string()))?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            if found.certs.is_empty() {
                let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(TlsOptionError::SystemRoots(errors.join("; ")));
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    Ok(roots)
}

/// `prefer` and `require` without `sslrootcert`: the connection is
/// encrypted, the certificate is not checked (as libpq does); the
/// handshake's signatures still are.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl Unchecked {
    fn new() -> Self {
        Self(Arc::new(rustls::crypto::ring::default_provider()))
    }
}

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain is checked, the name is not.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_leave_the_rest_of_the_url() {
        let (rest, options) = split(
            "postgres://fila:pw@db:5432/fila?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("valid");
        assert_eq!(rest, "postgres://fila:pw@db:5432/fila?application_name=x");
        assert_eq!(options.mode, Mode::VerifyFull);
        assert_eq!(options.root_cert.as_deref(), Some("/etc/ca.pem"));

        let (rest, options) = split("postgres://db/fila?sslmode=require").expect("valid");
        assert_eq!(rest, "postgres://db/fila");
        assert_eq!(options.mode, Mode::Require);

        let (rest, options) =
            split("host=db user=fila sslmode=verify-ca sslrootcert=/ca.pem").expect("valid");
        assert_eq!(rest, "host=db user=fila");
        assert_eq!(options.mode, Mode::VerifyCa);
        assert_eq!(options.root_cert.as_deref(), Some("/ca.pem"));

        let (rest, options) = split("postgres://db/fila").expect("valid");
        assert_eq!(rest, "postgres://db/fila");
        assert_eq!(options.mode, Mode::Prefer);
        assert!(split("postgres://db/fila?sslmode=maybe").is_err());
    }

    #[test]
    fn require_with_a_root_certificate_checks_the_chain() {
        let options = Options {
            mode: Mode::Require,
            root_cert: Some("/nowhere/ca.pem".into()),
        };
        let refused = Tls::new(&options).expect_err("the file is missing");
        assert!(
            refused
                .to_string()
                .starts_with("sslrootcert /nowhere/ca.pem")
        );
        let disabled = Options {
            mode: Mode::Disable,
            root_cert: None,
        };
        assert!(Tls::new(&disabled).expect("valid").is_none());
        let preferred = Options {
            mode: Mode::Prefer,
            root_cert: None,
        };
        let tls = Tls::new(&preferred).expect("valid").expect("tls");
        assert!(!tls.required());
    }
}

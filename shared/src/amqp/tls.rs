//! TLS to RabbitMQ (`amqps://`), with rustls and the `ring` provider. The
//! broker's certificate must chain to a trusted root and name the host of
//! `amqp_url` (a DNS name or an IP address in its subject alternative
//! names). The trusted roots are the certificates of `amqp_tls_ca_file`
//! when it is set, and only them; otherwise the system's (as
//! `SSL_CERT_FILE` or `SSL_CERT_DIR` may point them elsewhere). With
//! `amqp_tls_client_cert_file` and its key, fila presents a client
//! certificate. The files are read once, at start.

use std::path::{Path, PathBuf};

use lapin::tcp::{RustlsConnector, RustlsConnectorConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{setting} {}: {reason}", path.display())]
    File {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("TLS to RabbitMQ: {0}")]
    Setup(std::io::Error),
}

/// The TLS connector of `config`'s `amqps://` URL.
pub fn connector(config: &Config) -> Result<RustlsConnector, TlsError> {
    crate::tls::install();
    let roots = match &config.amqp_tls_ca_file {
        Some(path) => RustlsConnectorConfig::default()
            .with_parsable_certificates(certificates("amqp_tls_ca_file", path)?),
        None => RustlsConnectorConfig::new_with_native_certs().map_err(TlsError::Setup)?,
    };
    let client = config
        .amqp_tls_client_cert_file
        .as_deref()
        .zip(config.amqp_tls_client_key_file.as_deref());
    let connector = match client {
        Some((cert, key)) => {
            let chain = certificates("amqp_tls_client_cert_file", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
                setting: "amqp_tls_client_key_file",
                path: key.to_path_buf(),
                reason: format!("no private key read: {e}"),
            })?;
            roots.connector_with_single_cert(chain, key)
        }
        None => roots.connector_with_no_client_auth(),
    };
    connector.map_err(TlsError::Setup)
}

/// The certificates of a PEM file; at least one.
fn certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    crate::tls::pem_certificates(path).map_err(|reason| TlsError::File {
        setting,
        path: path.to_path_buf(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn a_missing_or_empty_file_is_named() {
        let dir = std::env::temp_dir().join(format!("fila-amqp-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("file");
        for path in [dir.join("missing.pem"), empty] {
            let config = Config {
                amqp_url: SecretString::from("amqps://fila:pw@mq:5671/%2f"),
                amqp_tls_ca_file: Some(path.clone()),
                ..Config::default()
            };
            let error = connector(&config).expect_err("refused");
            let text = error.to_string();
            assert!(text.starts_with("amqp_tls_ca_file"), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

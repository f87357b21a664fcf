//! TLS for fila's clients (HTTP destinations, OTLP, RabbitMQ and its
//! management API, PostgreSQL): rustls with the `ring` provider, installed
//! once per process before a client is built, and the certificates of PEM
//! files.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Installs the provider; later calls change nothing.
pub fn install() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificates of a PEM file, at least one; why not, otherwise.
pub fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certificates.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certificates)
}

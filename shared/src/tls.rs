//! TLS for fila's HTTP clients (destinations, OTLP, RabbitMQ's management
//! API): rustls with the `ring` provider, installed once per process
//! before a client is built.

/// Installs the provider; later calls change nothing.
pub fn install() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

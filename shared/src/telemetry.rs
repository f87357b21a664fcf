//! Structured logs with `tracing`: JSON when stdout is not a terminal (the
//! case under Kubernetes and in tests), readable text on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Installs the global subscriber; `filter` is an EnvFilter directive.
pub fn init(filter: &str, format: LogFormat) -> Result<(), TelemetryError> {
    let filter = EnvFilter::try_new(filter)?;
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.try_init()
    };
    installed.map_err(|_| TelemetryError::AlreadyInstalled)
}

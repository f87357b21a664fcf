//! Logs and traces. Logs are structured with `tracing`: JSON when stdout is
//! not a terminal (the case under Kubernetes and in tests), readable text
//! on a terminal. When `otlp_endpoint` is set, spans are exported over
//! OTLP/HTTP (JSON) to `<otlp_endpoint>/v1/traces`, and a trace follows
//! work across processes in W3C `traceparent` values: from the HTTP request
//! (which may carry one), through the outbox and the AMQP headers, to the
//! worker that processes it and the results it publishes.

use std::io::IsTerminal;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// The W3C header (and AMQP header, and carrier key) of a trace context.
pub const TRACEPARENT: &str = "traceparent";

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("log: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("a global logger is already installed")]
    AlreadyInstalled,
    #[error("otlp_endpoint: {0}")]
    Exporter(String),
}

/// What must be flushed at exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered (blocks: call it off the async
    /// workers, e.g. in `spawn_blocking`).
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("traces not all exported: {e}");
        }
    }
}

/// Installs the global subscriber; `filter` is an EnvFilter directive;
/// `service` names the process in traces.
pub fn init(
    filter: &str,
    format: LogFormat,
    otlp_endpoint: Option<&str>,
    service: &str,
) -> Result<Telemetry, TelemetryError> {
    // The exporter's own HTTP calls are not traced into the pipeline.
    let filter = EnvFilter::try_new(format!(
        "{filter},opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off"
    ))?;
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let provider = otlp_endpoint
        .map(|endpoint| exporter(endpoint, service))
        .transpose()?;
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("fila")));
    let json_logs = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
    });
    let text_logs = (!json).then(tracing_subscriber::fmt::layer);
    tracing_subscriber::registry()
        .with(filter)
        .with(json_logs)
        .with(text_logs)
        .with(traces)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    Ok(Telemetry { provider })
}

fn exporter(endpoint: &str, service: &str) -> Result<SdkTracerProvider, TelemetryError> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    crate::tls::install();
    // The batch processor exports from its own thread, with a blocking
    // client; building that client inside a runtime is refused, so it is
    // built on a thread of its own.
    let client = std::thread::spawn(|| reqwest::blocking::Client::builder().build())
        .join()
        .map_err(|_| TelemetryError::Exporter("the HTTP client could not be built".into()))?
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url)
        .with_http_client(client)
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let resource = Resource::builder()
        .with_service_name(service.to_string())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build())
}

/// The `traceparent` of the current span; `None` when traces are off.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `traceparent` (from a request or a message) the parent of `span`,
/// which must not have been entered yet (an absent or malformed value
/// leaves `span` a root), then records the trace id in the span's
/// `trace_id` field, if it has one, for the logs.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier =
            std::collections::HashMap::from([(TRACEPARENT.to_string(), traceparent.to_string())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    let context = span.context();
    let trace = context.span();
    let span_context = trace.span_context();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
    }
}

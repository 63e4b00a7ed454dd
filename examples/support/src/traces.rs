//! Traces: the binaries' `tracing` spans exported through OpenTelemetry (OTLP over
//! HTTP/protobuf), when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; nothing at all when neither is.
//!
//! A login is one trace across instances: core keeps the W3C `traceparent` of the span
//! that started it with its sealed record ([`vipps_login_core::trace`]); this module is
//! the OpenTelemetry side of that, turning span contexts into `traceparent`s and back.
//! Only spans are exported (log events stay in the logs), and the engine's spans name a
//! login by its keyed hash only.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use vipps_login_core::trace::TracePropagation;

/// Either of these set turns the export on (the SDK reads them, with the other
/// `OTEL_EXPORTER_OTLP_*` settings: headers, timeout).
const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// The exporting tracer provider, kept to flush what is left at a graceful stop.
#[must_use = "flush it at the end, or the last spans are lost"]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Sends the spans still batched and stops the exporter; call it from a blocking
    /// context (the batch task runs on the runtime, which must still be running).
    pub fn shut_down(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("traces: the last spans could not be exported: {e}");
        }
    }
}

/// Installs the binaries' `tracing` subscriber: logs to stderr (filter from `RUST_LOG`,
/// default `info`) and, when an OTLP endpoint is configured, spans to it. Must run inside
/// the tokio runtime (the exporter's batch task runs on it).
///
/// # Errors
/// A configured exporter that cannot be built (a malformed endpoint).
pub fn init(service: &str) -> Result<Option<Traces>, String> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let configured = ENDPOINT_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if !configured {
        tracing_subscriber::registry()
            .with(filter)
            .with(logs)
            .init();
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| format!("OTLP trace exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    let provider = SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_span_processor(
            BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build(),
        )
        .build();
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(service.to_owned()))
        // Spans only: log events (which may name a login's id) stay in the logs.
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| meta.is_span()));
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .init();
    // `main` installs the subscriber once, so the propagation is installed once too.
    let _ = vipps_login_core::trace::set_propagation(W3cPropagation);
    Ok(Some(Traces { provider }))
}

/// The W3C trace context over OpenTelemetry's spans.
struct W3cPropagation;

impl TracePropagation for W3cPropagation {
    fn current(&self) -> Option<String> {
        let context = tracing::Span::current().context();
        if !context.span().span_context().is_valid() {
            return None;
        }
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&context, &mut carrier);
        carrier.remove("traceparent")
    }

    fn adopt(&self, span: &tracing::Span, traceparent: &str) {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            // Fails only for a span already entered; the engine adopts before entering.
            let _ = span.set_parent(parent);
        }
    }
}

//! One trace per login, across instances: the engine keeps the W3C `traceparent` of the
//! span that started a login with its sealed record, and runs later work on the login
//! (polls, webhook pings, the browser's return, the redemption) in spans whose parent it
//! names, on whichever instance does the work.
//!
//! Core knows no tracing backend: the binary that installs the `tracing` subscriber
//! installs a [`TracePropagation`] too (the reference binaries do it with OpenTelemetry
//! when an OTLP endpoint is configured). Without one, no traceparent is kept and the
//! spans are plain `tracing` spans.

use std::sync::OnceLock;

/// Turns a span's trace context into a W3C `traceparent` and back; installed once per
/// process with [`set_propagation`].
pub trait TracePropagation: Send + Sync + 'static {
    /// The `traceparent` of the current span, when it is part of a trace.
    fn current(&self) -> Option<String>;

    /// Makes `span`, not yet entered, a child of the span `traceparent` names; a value
    /// that does not parse leaves `span` as it is.
    fn adopt(&self, span: &tracing::Span, traceparent: &str);
}

/// The propagation was installed already (it is installed once per process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the trace propagation is installed already")]
pub struct AlreadyInstalled;

static PROPAGATION: OnceLock<Box<dyn TracePropagation>> = OnceLock::new();

/// Installs the trace propagation for this process, as the `tracing` subscriber is
/// installed: once, at start-up.
///
/// # Errors
/// [`AlreadyInstalled`] when one was installed before.
pub fn set_propagation(propagation: impl TracePropagation) -> Result<(), AlreadyInstalled> {
    PROPAGATION
        .set(Box::new(propagation))
        .map_err(|_| AlreadyInstalled)
}

/// The current span's `traceparent`, when a propagation is installed and the span is traced.
pub(crate) fn current() -> Option<String> {
    PROPAGATION.get().and_then(|p| p.current())
}

/// Makes `span` a child of `traceparent`, when a propagation is installed.
pub(crate) fn adopt(span: &tracing::Span, traceparent: &str) {
    if let Some(p) = PROPAGATION.get() {
        p.adopt(span, traceparent);
    }
}

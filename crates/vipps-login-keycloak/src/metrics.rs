//! The channel's metrics, through the `metrics` facade (nothing is recorded until the
//! application installs a recorder, as the reference binaries do with
//! `--management-listen`). Labels come from closed sets only.

use ::http::StatusCode;

/// Counter: authentication requests from Keycloak, by the `status` the channel answered
/// (`201` the login runs; `400`, `401`, `413`, `503` refused before anything was sent).
pub const REQUESTS: &str = "vipps_login_keycloak_requests_total";
/// Counter: results sent back to Keycloak, by `status` (`SUCCEED`, `UNAUTHORIZED`,
/// `CANCELLED`) and `delivery` (`delivered`, `refused` by Keycloak, `gave_up` after the
/// retries).
pub const CALLBACKS: &str = "vipps_login_keycloak_callbacks_total";

/// Describes the channel's metrics to the installed recorder (their help texts).
pub fn describe() {
    metrics::describe_counter!(
        REQUESTS,
        "Keycloak channel requests, by the status answered."
    );
    metrics::describe_counter!(
        CALLBACKS,
        "Results sent to Keycloak, by status and whether they were delivered."
    );
}

pub(crate) fn request(status: StatusCode) {
    let label = match status.as_u16() {
        201 => "201",
        400 => "400",
        401 => "401",
        413 => "413",
        503 => "503",
        _ => "other",
    };
    metrics::counter!(REQUESTS, "status" => label).increment(1);
}

/// One result sent to Keycloak: `status` as the channel's wire text
/// ([`ChannelStatus::as_str`](crate::ChannelStatus::as_str)).
pub(crate) fn callback(status: &'static str, delivery: &'static str) {
    metrics::counter!(CALLBACKS, "status" => status, "delivery" => delivery).increment(1);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_callbacks_are_counted_with_closed_labels() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            request(StatusCode::CREATED);
            request(StatusCode::UNAUTHORIZED);
            request(StatusCode::IM_A_TEAPOT);
            callback("SUCCEED", "delivered");
            callback("CANCELLED", "gave_up");
        });
        let text = handle.render();
        for line in [
            "vipps_login_keycloak_requests_total{status=\"201\"} 1",
            "vipps_login_keycloak_requests_total{status=\"401\"} 1",
            "vipps_login_keycloak_requests_total{status=\"other\"} 1",
            "vipps_login_keycloak_callbacks_total{status=\"SUCCEED\",delivery=\"delivered\"} 1",
            "vipps_login_keycloak_callbacks_total{status=\"CANCELLED\",delivery=\"gave_up\"} 1",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
    }
}

//! Calls to Keycloak (JWKS, callback, admin API) share these: bodies read up to a cap,
//! and transport errors told apart without their URLs.

/// A reqwest error without its URL (which may carry nothing secret here, but keep logs short).
pub(crate) fn short(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection refused or unreachable"
    } else if e.is_body() || e.is_decode() {
        "bad body"
    } else {
        "transport error"
    }
}

/// Reads a response body of at most `cap` bytes.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the body failed ({})", short(&e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(format!("the body is larger than {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

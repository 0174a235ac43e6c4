//! The glue that lets openidconnect's relying-party code speak HTTP through reqwest. Used by the
//! demo app and by the test kit.

/// Sends one openidconnect request. Redirects are not followed (OIDC back-channel calls never
/// need them).
pub async fn http_call(
    client: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let resp = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await?.to_vec();
    let mut out = openidconnect::http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// A reqwest client for back-channel calls: no redirects, bounded time.
pub fn back_channel_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

//! A custom SMS gateway: an HTTP POST of JSON to a configured URL, signed so the gateway can check it
//! came from Ostiary and is fresh.
//!
//! `X-Ostiary-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`; the body is
//! `{"id", "to", "text", "created_at"}`. A receiver recomputes the HMAC over the raw bytes, compares in
//! constant time, refuses a `t` more than 300 s away from its clock, and drops a repeated `id` (the
//! same message is retried with the same `id`). 2xx accepts; 429 and 5xx are retried; other 4xx are
//! final, with `{"message": …}` as the reason. The scheme is the one Stripe uses for webhooks.

use aws_lc_rs::hmac;
use serde_json::json;

use domain::Secret;
use serde::Deserialize;

use super::providers::{Outgoing, SendError, http_outcome};

pub const SIGNATURE_HEADER: &str = "X-Ostiary-Signature";

pub struct GatewaySender {
    pub(crate) http: reqwest::Client,
    pub(crate) url: String,
    pub(crate) key: hmac::Key,
    pub(crate) clock: std::sync::Arc<dyn domain::Clock>,
}

/// The signature header for `body` sent at `t`.
pub fn signature(key: &hmac::Key, t: i64, body: &[u8]) -> String {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(format!("{t}.").as_bytes());
    ctx.update(body);
    let tag: String = ctx.sign().as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={tag}")
}

impl GatewaySender {
    pub fn new(
        url: &str,
        secret: &domain::Secret,
        clock: std::sync::Arc<dyn domain::Clock>,
        http: reqwest::Client,
    ) -> Self {
        Self { http, url: url.to_owned(), key: hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes()), clock }
    }

    pub(crate) async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let t = self.clock.now();
        let body = serde_json::to_vec(&json!({ "id": m.id, "to": m.to, "text": m.text, "created_at": t }))
            .map_err(|e| SendError::permanent(e.to_string()))?;
        let resp = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.key, t, &body))
            .body(body)
            .send()
            .await
            .map_err(SendError::network)?;
        http_outcome(resp, |v| v["message"].as_str().map(str::to_owned)).await
    }
}

/// `[delivery.gateway]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Empty: no gateway.
    #[serde(deserialize_with = "super::settings::optional_http_url")]
    pub url: Option<url::Url>,
    /// The HMAC key the gateway checks `X-Ostiary-Signature` with (at least 32 characters).
    #[serde(deserialize_with = "domain::settings::optional_long_secret")]
    pub secret: Option<Secret>,
}

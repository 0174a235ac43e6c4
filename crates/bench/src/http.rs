//! The virtual users' HTTP: clients that follow nothing by themselves, every request timed.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The longest a request of any virtual user may take.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// A request's answer, read whole (the time to read the body is part of its latency).
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Answer {
    /// The `Location` of a redirect (any 3xx), or an error naming what came instead.
    pub fn redirect(&self, step: &str) -> anyhow::Result<&str> {
        match (&self.location, self.status) {
            (Some(location), 300..=399) => Ok(location),
            _ => bail!("{step}: expected a redirect, got {} {}", self.status, snippet(&self.body)),
        }
    }

    /// The body of a 200, or an error naming what came instead.
    pub fn ok(&self, step: &str) -> anyhow::Result<&str> {
        if self.status == 200 { Ok(&self.body) } else { bail!("{step}: {} {}", self.status, snippet(&self.body)) }
    }

    pub fn json(&self, step: &str) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(self.ok(step)?).with_context(|| format!("{step}: not JSON"))
    }
}

/// The start of a body, for an error message.
pub(crate) fn snippet(body: &str) -> String {
    body.chars().take(300).collect()
}

/// The time of every request a virtual user made, with the step it was.
#[derive(Default)]
pub struct Recorder {
    pub requests: Vec<(&'static str, Duration)>,
}

impl Recorder {
    pub async fn send(&mut self, step: &'static str, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let started = Instant::now();
        let response = request.send().await?;
        let status = response.status().as_u16();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.text().await?;
        self.requests.push((step, started.elapsed()));
        Ok(Answer { status, location, body })
    }
}

/// A client for API calls (token, introspection, userinfo, discovery): keep-alive, no cookies.
pub fn api_client() -> anyhow::Result<reqwest::Client> {
    client(false)
}

/// A fresh browser: its own cookie jar, so each sign-in comes from a new device.
pub fn browser() -> anyhow::Result<reqwest::Client> {
    client(true)
}

fn client(cookies: bool) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        // Plain http only: no trust store to load for each simulated browser.
        .tls_certs_only([])
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .tcp_nodelay(true)
        .build()
        .context("HTTP client")
}

/// The CSRF token of the first form of a page.
pub fn csrf_of(html: &str) -> anyhow::Result<String> {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).ok_or_else(|| anyhow!("no csrf field on the page"))? + marker.len();
    Ok(html[start..].split('"').next().unwrap_or_default().to_owned())
}

/// A PKCE verifier and its S256 challenge (RFC 7636 §4.2).
pub fn pkce() -> (String, String) {
    let verifier = domain::secret::random_token(32);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier.clone(), URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// A query parameter of a URL.
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_base64url_sha256_of_the_verifier() {
        let (verifier, challenge) = pkce();
        assert_eq!(verifier.len(), 43);
        assert_eq!(challenge.len(), 43);
        assert_ne!(verifier, challenge);
    }

    #[test]
    fn the_csrf_token_is_read_from_the_form() {
        let html = r#"<form><input type="hidden" name="csrf" value="abc-123"><input name="email"></form>"#;
        assert_eq!(csrf_of(html).expect("a token"), "abc-123");
        assert!(csrf_of("<p>no form</p>").is_err());
    }
}

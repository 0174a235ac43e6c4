//! Signatures per the Standard Webhooks specification (standardwebhooks.com, "Signature scheme"):
//! the secret is `whsec_` and its base64 key; a message's signature is
//! `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")), sent in the
//! `webhook-signature` header beside `webhook-id` and `webhook-timestamp` (Unix seconds).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer};

/// The prefix of a Standard Webhooks secret.
pub const PREFIX: &str = "whsec_";

/// A hook's signing key: at least 24 bytes (the specification recommends 24 to 64), never shown.
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

impl SigningSecret {
    /// `whsec_` and the base64 of at least 24 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let key = text.strip_prefix(PREFIX).ok_or_else(|| format!("must start with {PREFIX}"))?;
        let key = STANDARD.decode(key.trim()).map_err(|_| format!("must be {PREFIX} and base64"))?;
        if key.len() < 24 {
            return Err("must hold at least 24 bytes of key".into());
        }
        Ok(SigningSecret(key))
    }

    /// The `webhook-signature` of a message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(format!("{id}.{timestamp}.").as_bytes());
        ctx.update(body);
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }

    /// A POST of the JSON `body` to `url`, signed with this key: the `webhook-id`, `webhook-timestamp`
    /// and `webhook-signature` headers of the specification. The one way Ostiary sends to the
    /// operator's hooks, webhook endpoints and `send_message` sender.
    pub fn post(
        &self,
        http: &reqwest::Client,
        url: &str,
        timeout: std::time::Duration,
        id: &str,
        now: i64,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let signature = self.sign(id, now, &body);
        http.post(url)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
    }

    /// Whether one of the space-separated signatures of `header` is this key's (compared in
    /// constant time), and the timestamp is within `tolerance` seconds of `now`.
    pub fn verify(&self, id: &str, timestamp: i64, body: &[u8], header: &str, now: i64, tolerance: i64) -> bool {
        if (now - timestamp).abs() > tolerance {
            return false;
        }
        let expected = self.sign(id, timestamp, body);
        header.split(' ').any(|s| domain::secret::constant_time_eq(s.as_bytes(), expected.as_bytes()))
    }
}

impl<'de> Deserialize<'de> for SigningSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SigningSecret::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries (their test vector).
    #[test]
    fn the_reference_vector_signs_and_verifies() {
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let header = format!("v1,bm9wZQ== {signature}");
        assert!(secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &header, 1614265331, 300));
        assert!(!secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b"{}", &header, 1614265331, 300));
        assert!(!secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &header, 1614266331, 300));
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        assert!(SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningSecret::parse("whsec_c2hvcnQ=").is_err());
        assert!(SigningSecret::parse("whsec_!!!").is_err());
        let s = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert!(!format!("{s:?}").contains("MfKQ"));
    }
}

//! Amazon SES API v2 `SendEmail`: `POST /v2/email/outbound-emails`, JSON, signed with AWS Signature
//! Version 4 under the signing name `ses` (https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html).

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::json;

use super::providers::{Outgoing, SendError, body_reason};

pub struct SesSender {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) region: String,
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: domain::Secret,
    pub(crate) from: lettre::message::Mailbox,
}

impl SesSender {
    /// `base_url` empty means the region's public endpoint, `https://email.{region}.amazonaws.com`.
    pub fn new(
        region: &str,
        base_url: &str,
        access_key_id: &str,
        secret_access_key: domain::Secret,
        from: lettre::message::Mailbox,
        http: reqwest::Client,
    ) -> Self {
        let base_url = if base_url.is_empty() {
            format!("https://email.{region}.amazonaws.com")
        } else {
            base_url.trim_end_matches('/').to_owned()
        };
        Self {
            http,
            base_url,
            region: region.to_owned(),
            access_key_id: access_key_id.to_owned(),
            secret_access_key,
            from,
        }
    }

    pub(crate) async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let utf8 = |data: &str| json!({ "Data": data, "Charset": "UTF-8" });
        let mut body = json!({ "Text": utf8(m.text) });
        if let Some(html) = m.html {
            body["Html"] = utf8(html);
        }
        let request = json!({
            "FromEmailAddress": self.from.to_string(),
            "Destination": { "ToAddresses": [m.to] },
            "Content": { "Simple": { "Subject": utf8(m.subject), "Body": body } },
        });
        // The exact bytes that are signed are the ones sent.
        let payload = serde_json::to_vec(&request).map_err(|e| SendError::permanent(e.to_string()))?;
        let url = format!("{}/v2/email/outbound-emails", self.base_url);
        let headers = self.signed_headers(&url, &payload, SystemTime::now()).map_err(SendError::permanent)?;
        let mut req = self.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let resp = req.body(payload).send().await.map_err(SendError::network)?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        // REST-JSON errors: the code in `x-amzn-ErrorType` (`Name:namespace…`), the text in `message`.
        let code = resp
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split([':', '#']).next().unwrap_or(v).to_owned());
        let text = resp.text().await.unwrap_or_default();
        let message = body_reason(&text, |v| v["message"].as_str().or(v["Message"].as_str()).map(str::to_owned));
        let reason = match code {
            Some(code) => format!("{code}: {message}"),
            None => message,
        };
        Err(SendError::from_status(status, reason))
    }

    /// SigV4 headers (`authorization`, `x-amz-date`) for a JSON POST to `url`.
    fn signed_headers(&self, url: &str, payload: &[u8], at: SystemTime) -> Result<Vec<(String, String)>, String> {
        let identity = aws_credential_types::Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose(),
            None,
            None,
            "ostiary-config",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ses")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("SigV4 parameters: {e}"))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            [("content-type", "application/json")].into_iter(),
            SignableBody::Bytes(payload),
        )
        .map_err(|e| format!("SigV4 request: {e}"))?;
        let (instructions, _) = sign(signable, &params).map_err(|e| format!("SigV4 signing: {e}"))?.into_parts();
        Ok(instructions.headers().map(|(n, v)| (n.to_owned(), v.to_owned())).collect())
    }
}

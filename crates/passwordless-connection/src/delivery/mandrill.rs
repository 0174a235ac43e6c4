//! Mandrill (Mailchimp Transactional) `messages/send`: `POST /api/1.0/messages/send` with the API key
//! in the JSON body. A 200 answer lists each recipient's status, and a rejected recipient is still a
//! 200 (https://mailchimp.com/developer/transactional/api/messages/send-new-message/).

use serde_json::json;

use super::providers::{Outgoing, SendError, body_reason};

pub struct MandrillSender {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) api_key: domain::Secret,
    pub(crate) from: lettre::message::Mailbox,
}

impl MandrillSender {
    pub fn new(base_url: &str, api_key: domain::Secret, from: lettre::message::Mailbox, http: reqwest::Client) -> Self {
        Self { http, base_url: base_url.trim_end_matches('/').to_owned(), api_key, from }
    }

    pub(crate) async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let mut message = json!({
            "from_email": self.from.email.to_string(),
            "to": [{ "email": m.to, "type": "to" }],
            "subject": m.subject,
            "text": m.text,
            "headers": { "X-Ostiary-Message-Id": m.id },
        });
        if let Some(name) = &self.from.name {
            message["from_name"] = json!(name);
        }
        if let Some(html) = m.html {
            message["html"] = json!(html);
        }
        let body = json!({ "key": self.api_key.expose(), "message": message });
        let resp = self
            .http
            .post(format!("{}/messages/send", self.base_url))
            .json(&body)
            .send()
            .await
            .map_err(SendError::network)?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let parsed: Option<serde_json::Value> = serde_json::from_str(&text).ok();
        // Errors are {"status":"error","name":…,"message":…}, historically with HTTP 500 for all of
        // them: the name decides whether a retry can help.
        if let Some(err) = parsed.as_ref().filter(|v| v["status"] == "error") {
            let name = err["name"].as_str().unwrap_or("Error");
            let reason = format!("{name}: {}", err["message"].as_str().unwrap_or(""));
            let transient = matches!(name, "GeneralError" | "ServiceUnavailable") || status.as_u16() == 429;
            return Err(if transient { SendError::transient(reason) } else { SendError::permanent(reason) });
        }
        if !status.is_success() {
            return Err(SendError::from_status(status, body_reason(&text, |_| None)));
        }
        let results = parsed.as_ref().and_then(|v| v.as_array().cloned()).unwrap_or_default();
        let Some(result) = results.first() else {
            return Err(SendError::transient("the answer lists no recipient"));
        };
        match result["status"].as_str() {
            Some("sent" | "queued" | "scheduled") => Ok(()),
            other => Err(SendError::permanent(format!(
                "{}: {}",
                other.unwrap_or("unknown"),
                result["reject_reason"].as_str().unwrap_or("no reason given")
            ))),
        }
    }
}

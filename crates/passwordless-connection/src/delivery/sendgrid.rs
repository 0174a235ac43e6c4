//! SendGrid v3 Mail Send: `POST /v3/mail/send`, `Authorization: Bearer <API key>`, JSON; 202 on
//! success (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send).

use serde_json::json;

use super::providers::{Outgoing, SendError, http_outcome};

pub struct SendGridSender {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) api_key: domain::Secret,
    pub(crate) from: lettre::message::Mailbox,
}

impl SendGridSender {
    pub fn new(base_url: &str, api_key: domain::Secret, from: lettre::message::Mailbox, http: reqwest::Client) -> Self {
        Self { http, base_url: base_url.trim_end_matches('/').to_owned(), api_key, from }
    }

    pub(crate) async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        // text/plain must come before text/html, or SendGrid answers 400.
        let mut content = vec![json!({ "type": "text/plain", "value": m.text })];
        if let Some(html) = m.html {
            content.push(json!({ "type": "text/html", "value": html }));
        }
        let mut from = json!({ "email": self.from.email.to_string() });
        if let Some(name) = &self.from.name {
            from["name"] = json!(name);
        }
        let body = json!({
            "personalizations": [{ "to": [{ "email": m.to }] }],
            "from": from,
            "subject": m.subject,
            "content": content,
            "custom_args": { "ostiary_message_id": m.id },
        });
        let resp = self
            .http
            .post(format!("{}/v3/mail/send", self.base_url))
            .bearer_auth(self.api_key.expose())
            .json(&body)
            .send()
            .await
            .map_err(SendError::network)?;
        http_outcome(resp, |v| {
            let messages: Vec<String> = v["errors"]
                .as_array()?
                .iter()
                .filter_map(|e| {
                    let msg = e["message"].as_str()?;
                    Some(match e["field"].as_str() {
                        Some(f) if f != "null" => format!("{f}: {msg}"),
                        _ => msg.to_owned(),
                    })
                })
                .collect();
            (!messages.is_empty()).then(|| messages.join("; "))
        })
        .await
    }
}

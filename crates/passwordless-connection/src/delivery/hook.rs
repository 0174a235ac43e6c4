//! The operator's own sender, the `send_message` hook: a provider named `hook` in the email or the
//! SMS chain (or both), which POSTs each message to `[hooks.send_message]`, signed per the Standard
//! Webhooks specification. The message's id is the `webhook-id`, the same on every retry, so the
//! sender can drop a repeat. Any 2xx takes the message; 429 and 5xx (or no answer within the
//! hook's `timeout_ms`) are tried again, after the rest of the chain; other 4xx are final, with
//! `{"message": …}` as the reason. `on_failure` plays no part: the chain's failover is the rule.

use std::sync::Arc;
use std::time::Duration;

use domain::{Channel, Clock};
use serde_json::json;

use super::providers::{Outgoing, Provider, SendError, http_outcome};

pub struct HookSender {
    http: reqwest::Client,
    settings: hooks::HookSettings,
    channel: Channel,
    clock: Arc<dyn Clock>,
}

impl HookSender {
    pub fn new(settings: hooks::HookSettings, channel: Channel, clock: Arc<dyn Clock>, http: reqwest::Client) -> Self {
        Self { http, settings, channel, clock }
    }

    /// Sends a sample message (for `ostiary hooks test send_message`); the sender's reason when it
    /// does not take it.
    pub async fn send_sample(&self, id: &str, to: &str) -> Result<(), String> {
        let text = "This is a test of the send_message hook: 123456";
        let m = Outgoing { id, to, subject: "A test message", text, html: None };
        self.send(&m).await.map_err(|e| e.reason)
    }

    pub(crate) async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let now = self.clock.now();
        let email = self.channel == Channel::Email;
        let body = json!({
            "type": "send_message",
            "timestamp": now,
            "id": m.id,
            "channel": self.channel.as_str(),
            "to": m.to,
            "subject": if email { Some(m.subject) } else { None },
            "text": m.text,
            "html": m.html,
        });
        let body = serde_json::to_vec(&body).map_err(|e| SendError::permanent(e.to_string()))?;
        let timeout = Duration::from_millis(self.settings.timeout_ms);
        let resp = self
            .settings
            .secret
            .post(&self.http, &self.settings.url, timeout, m.id, now, body)
            .send()
            .await
            .map_err(SendError::network)?;
        http_outcome(resp, |v| v["message"].as_str().map(str::to_owned)).await
    }
}

/// Builds the provider `hook` for a channel.
pub(crate) type Build<'a> = dyn Fn(domain::Channel) -> Result<Provider, String> + 'a;

/// The provider `hook`: the operator's sender, `[hooks.send_message]`.
pub(crate) fn provider(
    send_message: Option<&hooks::HookSettings>,
    channel: domain::Channel,
    clock: &Arc<dyn Clock>,
    http: &reqwest::Client,
) -> Result<Provider, String> {
    let settings = send_message
        .ok_or("delivery: the provider `hook` sends through [hooks.send_message], which is not configured")?;
    let sender = HookSender::new(settings.clone(), channel, Arc::clone(clock), http.clone());
    Ok(Provider::Hook(Box::new(sender)))
}

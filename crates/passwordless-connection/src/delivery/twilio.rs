//! Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
//! (an API key SID and secret, or the Account SID and auth token), a form body with `To`, `From` or
//! `MessagingServiceSid`, and `Body`; 201 on success (https://www.twilio.com/docs/messaging/api/message-resource).

use super::providers::{Outgoing, SendError, http_outcome};

pub struct TwilioSender {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) account_sid: String,
    /// The Basic user: an API key SID (`SK…`), or the Account SID itself.
    pub(crate) username: String,
    pub(crate) secret: domain::Secret,
    pub(crate) sender: TwilioFrom,
}

/// Who the text comes from: a number or alphanumeric sender id, or a Messaging Service.
#[derive(Clone, Debug)]
pub enum TwilioFrom {
    From(String),
    MessagingService(String),
}

impl TwilioSender {
    pub fn new(
        base_url: &str,
        account_sid: &str,
        username: &str,
        secret: domain::Secret,
        sender: TwilioFrom,
        http: reqwest::Client,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            username: if username.is_empty() { account_sid.to_owned() } else { username.to_owned() },
            secret,
            sender,
        }
    }

    pub(crate) async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let (from_key, from_value) = match &self.sender {
            TwilioFrom::From(f) => ("From", f.as_str()),
            TwilioFrom::MessagingService(s) => ("MessagingServiceSid", s.as_str()),
        };
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base_url, self.account_sid);
        let resp = self
            .http
            .post(url)
            .basic_auth(&self.username, Some(self.secret.expose()))
            .form(&[("To", m.to), (from_key, from_value), ("Body", m.text)])
            .send()
            .await
            .map_err(SendError::network)?;
        http_outcome(resp, |v| Some(format!("{}: {}", v["code"].as_i64()?, v["message"].as_str().unwrap_or_default())))
            .await
    }
}

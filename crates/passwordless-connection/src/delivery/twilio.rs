//! Twilio Programmable Messaging: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
//! (an API key SID and secret, or the Account SID and auth token), a form body with `To`, `From` or
//! `MessagingServiceSid`, and `Body`; 201 on success (https://www.twilio.com/docs/messaging/api/message-resource).

use domain::Secret;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

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

/// `[delivery.twilio]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    #[serde(deserialize_with = "alphanumeric")]
    pub account_sid: String,
    /// An API key SID (`SK…`) to authenticate with; empty: the Account SID and its auth token.
    pub api_key_sid: String,
    /// The API key's secret, or the account's auth token.
    pub auth_token: Secret,
    /// A sender number (E.164) or alphanumeric sender id; or leave empty and set the service.
    pub from: String,
    pub messaging_service_sid: String,
    #[serde(deserialize_with = "super::settings::http_url")]
    pub base_url: url::Url,
}

/// Letters and digits only (a Twilio SID like AC…), or empty.
fn alphanumeric<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(text)
    } else {
        Err(D::Error::custom("must be letters and digits (AC…)"))
    }
}

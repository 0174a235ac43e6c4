//! Where messages go. Each provider sends one message per call and says whether a failure is worth
//! retrying; [`Chain`] tries a channel's providers in order (primary, then failovers).

use super::smtp::SmtpSender;
use super::twilio::TwilioSender;
use super::{gateway::GatewaySender, mandrill::MandrillSender, sendgrid::SendGridSender, ses::SesSender};

/// A message with its bodies opened, ready for a provider.
#[derive(Clone, Debug)]
pub struct Outgoing<'a> {
    /// The queue row's id: a stable idempotency key and `Message-ID` where the provider takes one.
    pub id: &'a str,
    /// An email address or an E.164 phone number.
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: Option<&'a str>,
}

/// Why a provider did not take a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    /// The provider's own reason, short and free of credentials.
    pub reason: String,
    /// True when trying again cannot help (a refused recipient, bad credentials): 4xx other than 429.
    pub permanent: bool,
}

impl SendError {
    pub fn transient(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: false }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: true }
    }

    /// Classifies an HTTP answer: 429 and 5xx are worth a retry, other 4xx are not.
    pub fn from_status(status: reqwest::StatusCode, reason: String) -> Self {
        let reason = format!("HTTP {}: {}", status.as_u16(), reason.chars().take(300).collect::<String>());
        if status.as_u16() == 429 || status.is_server_error() {
            Self::transient(reason)
        } else {
            Self::permanent(reason)
        }
    }

    /// A network failure (refused, reset, timed out): worth a retry.
    pub fn network(err: reqwest::Error) -> Self {
        // Without the URL: it may carry an account id, and the provider name says where it went.
        Self::transient(format!("network error: {}", err.without_url()))
    }
}

pub enum Provider {
    /// Development: nothing leaves the machine; `/dev/outbox` shows every message.
    Outbox,
    Smtp(Box<SmtpSender>),
    SendGrid(SendGridSender),
    Mandrill(MandrillSender),
    Ses(SesSender),
    Twilio(TwilioSender),
    Gateway(Box<GatewaySender>),
    /// The operator's own sender (`[hooks.send_message]`).
    Hook(Box<super::hook::HookSender>),
}

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Outbox => "outbox",
            Provider::Smtp(_) => "smtp",
            Provider::SendGrid(_) => "sendgrid",
            Provider::Mandrill(_) => "mandrill",
            Provider::Ses(_) => "ses",
            Provider::Twilio(_) => "twilio",
            Provider::Gateway(_) => "gateway",
            Provider::Hook(_) => "hook",
        }
    }

    pub async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        match self {
            Provider::Outbox => Ok(()),
            Provider::Smtp(s) => s.send(m).await,
            Provider::SendGrid(s) => s.send(m).await,
            Provider::Mandrill(s) => s.send(m).await,
            Provider::Ses(s) => s.send(m).await,
            Provider::Twilio(s) => s.send(m).await,
            Provider::Gateway(s) => s.send(m).await,
            Provider::Hook(s) => s.send(m).await,
        }
    }
}

/// The providers of one channel, primary first.
#[derive(Default)]
pub struct Chain(pub Vec<Provider>);

/// What [`Chain::send`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum ChainOutcome {
    /// Sent by the provider named.
    Sent(&'static str),
    /// Every provider failed; `permanent` when none of them is worth retrying.
    Failed { reason: String, permanent: bool },
}

impl Chain {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(Provider::name).collect()
    }

    /// Tries each provider in turn until one takes the message (failover).
    pub async fn send(&self, m: &Outgoing<'_>) -> ChainOutcome {
        if self.0.is_empty() {
            return ChainOutcome::Failed {
                reason: "no provider is configured for this channel".into(),
                permanent: true,
            };
        }
        let mut reasons = Vec::new();
        let mut permanent = true;
        for provider in &self.0 {
            let result = provider.send(m).await;
            let outcome = match &result {
                Ok(()) => "sent",
                Err(e) if e.permanent => "refused",
                Err(_) => "failed",
            };
            metrics::counter!("ostiary_messages_total", "provider" => provider.name(), "result" => outcome)
                .increment(1);
            match result {
                Ok(()) => return ChainOutcome::Sent(provider.name()),
                Err(e) => {
                    tracing::warn!(provider = provider.name(), message = %m.id, error = %e.reason, "provider refused a message");
                    permanent &= e.permanent;
                    reasons.push(format!("{}: {}", provider.name(), e.reason));
                }
            }
        }
        ChainOutcome::Failed { reason: reasons.join("; "), permanent }
    }
}

/// The HTTP client every API provider shares: rustls, short timeouts, no redirects (an API that
/// redirects is misconfigured, and credentials must not follow a redirect).
pub fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ostiary/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A provider's HTTP answer: any 2xx took the message; otherwise the status says whether a retry
/// can help, and `pick` finds the reason in the error body.
pub(crate) async fn http_outcome(
    resp: reqwest::Response,
    pick: impl Fn(&serde_json::Value) -> Option<String>,
) -> Result<(), SendError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    Err(SendError::from_status(status, body_reason(&text, pick)))
}

/// The reason text of an error body: the fields named, joined, else the first characters.
pub(crate) fn body_reason(body: &str, pick: impl Fn(&serde_json::Value) -> Option<String>) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| pick(&v))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

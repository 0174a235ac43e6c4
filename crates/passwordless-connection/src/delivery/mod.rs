//! Outgoing messages: rendered from templates, queued with their challenge, and sent by a worker
//! with retries, backoff and provider failover. Providers: the dev outbox (messages stay readable at
//! `/dev/outbox`), SMTP (lettre, optional DKIM), SendGrid, Mandrill, Amazon SES, Twilio, and a
//! signed custom SMS gateway.

pub mod gateway;
pub mod hook;
pub mod mandrill;
pub mod providers;
pub mod sendgrid;
pub mod ses;
mod settings;
pub mod smtp;
pub mod twilio;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::secret::Sealer;
use domain::{Channel, Clock};

use crate::storage::{MessageStore, QueuedMessage};

pub use gateway::GatewaySettings;
pub use providers::{Chain, ChainOutcome, Outgoing, Provider, SendError};
pub use settings::{
    ApiKeySettings, DeliverySettings, DkimAlgorithm, EmailProvider, SesSettings, SmsProvider, SmtpSettings,
};
pub use twilio::TwilioSettings;

/// Message bodies carry codes and links, so the queue keeps them sealed (AES-256-GCM, bound to the
/// message id), never in clear.
pub fn seal_body(sealer: &Sealer, message_id: &str, body: &str) -> String {
    URL_SAFE_NO_PAD.encode(sealer.seal(message_id.as_bytes(), body.as_bytes()))
}

/// Opens a body sealed by [`seal_body`].
pub fn open_body(sealer: &Sealer, message_id: &str, sealed: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    String::from_utf8(sealer.open(message_id.as_bytes(), &bytes).ok()?).ok()
}

/// The provider chains of both channels.
#[derive(Default)]
pub struct Delivery {
    pub email: Chain,
    pub sms: Chain,
}

impl Delivery {
    /// Development: every message of both channels stays in the dev outbox.
    pub fn outbox() -> Self {
        Delivery { email: Chain(vec![Provider::Outbox]), sms: Chain(vec![Provider::Outbox]) }
    }

    pub fn uses_outbox(&self) -> bool {
        self.email.0.iter().chain(&self.sms.0).any(|p| matches!(p, Provider::Outbox))
    }

    fn chain(&self, channel: Channel) -> &Chain {
        match channel {
            Channel::Sms => &self.sms,
            Channel::Email => &self.email,
        }
    }

    /// Opens the sealed bodies and hands the message to the channel's providers in turn.
    async fn send(&self, m: &QueuedMessage, sealer: &Sealer) -> ChainOutcome {
        let open = |body: &Option<String>| match body {
            Some(b) => open_body(sealer, m.id.as_str(), b).map(Some).ok_or(()),
            None => Ok(None),
        };
        let (Ok(text), Ok(html)) = (open(&m.text_body), open(&m.html_body)) else {
            return ChainOutcome::Failed { reason: "the message body cannot be opened".into(), permanent: false };
        };
        let text = text.unwrap_or_default();
        let outgoing =
            Outgoing { id: m.id.as_str(), to: &m.recipient, subject: &m.subject, text: &text, html: html.as_deref() };
        self.chain(m.channel).send(&outgoing).await
    }
}

/// Attempts before a message is given up, and the lease a worker holds on a message it sends.
const MAX_ATTEMPTS: i32 = 6;
const LEASE_SECONDS: i64 = 120;

/// Sends every message that is due; returns how many were handled.
pub async fn deliver_due(store: &dyn MessageStore, delivery: &Delivery, sealer: &Sealer, clock: &dyn Clock) -> usize {
    let now = clock.now();
    let batch = match store.claim_due_messages(now, LEASE_SECONDS, 20).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "could not read the message queue");
            return 0;
        }
    };
    let count = batch.len();
    for m in batch {
        let outcome = delivery.send(&m, sealer).await;
        let now = clock.now();
        let recorded = match outcome {
            // The outbox keeps the body so a developer can read it; real providers wipe it.
            ChainOutcome::Sent(provider) => store.mark_message_sent(&m.id, provider, now, provider == "outbox").await,
            ChainOutcome::Failed { reason, permanent } => {
                // 4, 8, 16, 32, 64 s: about two minutes in all, inside the default five-minute code lifetime.
                // A failure no provider can get past (a refused recipient) is not retried.
                let retry_at =
                    (!permanent && m.attempts < MAX_ATTEMPTS).then(|| now + 2 * (1i64 << m.attempts.clamp(0, 10)));
                tracing::warn!(message = %m.id, attempt = m.attempts, permanent, error = %reason, "message delivery failed");
                store.mark_message_failed(&m.id, &reason, retry_at).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, message = %m.id, "could not record delivery status");
        }
    }
    count
}

/// Runs the delivery loop until the process ends: wakes when a message is queued, and every second
/// for retries and messages queued by other nodes.
pub fn spawn_worker(
    store: Arc<dyn MessageStore>,
    delivery: Arc<Delivery>,
    sealer: Sealer,
    clock: Arc<dyn Clock>,
    ready: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            while deliver_due(store.as_ref(), &delivery, &sealer, clock.as_ref()).await > 0 {}
            tokio::select! {
                () = ready.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })
}

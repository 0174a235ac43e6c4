//! Outgoing messages: rendered from templates, queued with their challenge, and sent by a worker
//! with retries and backoff. Providers: the dev outbox (messages stay readable at `/dev/outbox`)
//! and SMTP via lettre. Issue 4 adds SendGrid, Mandrill, SES, Twilio and a custom SMS gateway.

use std::sync::Arc;
use std::time::Duration;

use domain::{Clock, EmailAddress, Interaction};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use store::Store;
use store::messages::{Message, NewMessage};

use crate::PasswordlessConnection;

fn render_pair(
    conn: &PasswordlessConnection,
    name: &str,
    ctx: &tera::Context,
) -> Result<(String, String), tera::Error> {
    Ok((conn.tera.render(&format!("email/{name}.txt"), ctx)?, conn.tera.render(&format!("email/{name}.html"), ctx)?))
}

fn base_context(conn: &PasswordlessConnection, interaction: &Interaction, now: i64) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("product_name", &conn.config.product_name);
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("requested_at", &domain::clock::rfc3339(now).replace('T', " ").replace('Z', " UTC"));
    ctx.insert("ttl_minutes", &(conn.config.challenge_ttl / 60).max(1));
    ctx
}

/// The sign-in email: the code, the magic link, when it was asked for, and a reminder that
/// nobody will ever ask for a password.
pub(crate) fn sign_in_message(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    to: &EmailAddress,
    code: &str,
    link: &str,
    now: i64,
) -> Result<NewMessage, tera::Error> {
    let mut ctx = base_context(conn, interaction, now);
    ctx.insert("code", code);
    ctx.insert("link", link);
    let (text, html) = render_pair(conn, "sign_in", &ctx)?;
    Ok(NewMessage {
        id: domain::ids::sortable_id(),
        channel: "email".into(),
        recipient: to.to_string(),
        subject: format!("Your sign-in code for {}", interaction.client_name),
        text_body: text,
        html_body: Some(html),
    })
}

/// Sent instead when the address has no account and sign-ups are closed: only the mailbox owner
/// learns that, never the person at the keyboard.
pub(crate) fn no_account_message(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    to: &EmailAddress,
    now: i64,
) -> Result<NewMessage, tera::Error> {
    let ctx = base_context(conn, interaction, now);
    let (text, html) = render_pair(conn, "no_account", &ctx)?;
    Ok(NewMessage {
        id: domain::ids::sortable_id(),
        channel: "email".into(),
        recipient: to.to_string(),
        subject: format!("Sign-in attempt at {}", interaction.client_name),
        text_body: text,
        html_body: Some(html),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Implicit TLS, usually port 465.
    Tls,
    /// STARTTLS upgrade (required), usually port 587.
    StartTls,
    /// Plain text: only for a relay on the same host.
    None,
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<domain::Secret>,
    pub from: String,
}

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
        let from: Mailbox = config.from.parse().map_err(|e| format!("delivery.smtp.from: {e}"))?;
        let builder = match config.tls {
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(|e| e.to_string())?,
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(|e| e.to_string())?
            }
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        };
        let mut builder = builder.port(config.port).timeout(Some(Duration::from_secs(20)));
        if let (Some(user), Some(pass)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
        }
        Ok(Self { transport: builder.build(), from })
    }

    async fn send(&self, m: &Message) -> Result<(), String> {
        let to: Mailbox = m.recipient.parse().map_err(|e| format!("bad recipient: {e}"))?;
        let text = m.text_body.clone().unwrap_or_default();
        let builder = lettre::Message::builder().from(self.from.clone()).to(to).subject(m.subject.clone());
        let email = match &m.html_body {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html.clone())),
            None => builder.body(text),
        }
        .map_err(|e| e.to_string())?;
        self.transport.send(email).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

/// Where messages go.
pub enum Delivery {
    /// Development: nothing leaves the machine; `/dev/outbox` shows every message.
    Outbox,
    Smtp(SmtpSender),
}

impl Delivery {
    pub fn name(&self) -> &'static str {
        match self {
            Delivery::Outbox => "outbox",
            Delivery::Smtp(_) => "smtp",
        }
    }

    async fn send(&self, m: &Message) -> Result<(), String> {
        match self {
            Delivery::Outbox => Ok(()),
            Delivery::Smtp(s) => s.send(m).await,
        }
    }
}

/// Attempts before a message is given up, and the lease a worker holds on a message it sends.
const MAX_ATTEMPTS: i32 = 6;
const LEASE_SECONDS: i64 = 120;

/// Sends every message that is due; returns how many were handled.
pub async fn deliver_due(store: &Store, delivery: &Delivery, clock: &dyn Clock) -> usize {
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
        let outcome = delivery.send(&m).await;
        let now = clock.now();
        let recorded = match outcome {
            // The outbox keeps the body so a developer can read it; real providers wipe it.
            Ok(()) => store.mark_message_sent(&m.id, delivery.name(), now, matches!(delivery, Delivery::Outbox)).await,
            Err(reason) => {
                let retry_at = (m.attempts < MAX_ATTEMPTS).then(|| now + 5 * (1i64 << m.attempts.clamp(0, 10)));
                tracing::warn!(message = %m.id, attempt = m.attempts, error = %reason, "message delivery failed");
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
    store: Store,
    delivery: Arc<Delivery>,
    clock: Arc<dyn Clock>,
    ready: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            while deliver_due(&store, &delivery, clock.as_ref()).await > 0 {}
            tokio::select! {
                () = ready.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })
}

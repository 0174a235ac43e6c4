//! Outgoing messages: rendered from templates, queued with their challenge, and sent by a worker
//! with retries and backoff. Providers: the dev outbox (messages stay readable at `/dev/outbox`)
//! and SMTP via lettre. Issue 4 adds SendGrid, Mandrill, SES, Twilio and a custom SMS gateway.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::secret::Sealer;
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

fn sealed_email(
    conn: &PasswordlessConnection,
    to: &EmailAddress,
    subject: String,
    text: &str,
    html: &str,
) -> NewMessage {
    let id = domain::ids::sortable_id();
    NewMessage {
        text_body: seal_body(&conn.sealer, &id, text),
        html_body: Some(seal_body(&conn.sealer, &id, html)),
        id,
        channel: "email".into(),
        recipient: to.to_string(),
        subject,
    }
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
    Ok(sealed_email(conn, to, format!("Your sign-in code for {}", interaction.client_name), &text, &html))
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
    Ok(sealed_email(conn, to, format!("Sign-in attempt at {}", interaction.client_name), &text, &html))
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

    async fn send(&self, m: &Message, text: String, html: Option<String>) -> Result<(), String> {
        let to: Mailbox = m.recipient.parse().map_err(|e| format!("bad recipient: {e}"))?;
        let builder = lettre::Message::builder().from(self.from.clone()).to(to).subject(m.subject.clone());
        let email = match html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html)),
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

    async fn send(&self, m: &Message, sealer: &Sealer) -> Result<(), String> {
        let open = |body: &Option<String>| match body {
            Some(b) => {
                open_body(sealer, &m.id, b).map(Some).ok_or_else(|| "the message body cannot be opened".to_owned())
            }
            None => Ok(None),
        };
        let text = open(&m.text_body)?.unwrap_or_default();
        let html = open(&m.html_body)?;
        match self {
            Delivery::Outbox => Ok(()),
            Delivery::Smtp(s) => s.send(m, text, html).await,
        }
    }
}

/// Attempts before a message is given up, and the lease a worker holds on a message it sends.
const MAX_ATTEMPTS: i32 = 6;
const LEASE_SECONDS: i64 = 120;

/// Sends every message that is due; returns how many were handled.
pub async fn deliver_due(store: &Store, delivery: &Delivery, sealer: &Sealer, clock: &dyn Clock) -> usize {
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
            Ok(()) => store.mark_message_sent(&m.id, delivery.name(), now, matches!(delivery, Delivery::Outbox)).await,
            Err(reason) => {
                // 4, 8, 16, 32, 64 s: about two minutes in all, inside the default five-minute code lifetime.
                let retry_at = (m.attempts < MAX_ATTEMPTS).then(|| now + 2 * (1i64 << m.attempts.clamp(0, 10)));
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
    sealer: Sealer,
    clock: Arc<dyn Clock>,
    ready: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            while deliver_due(&store, &delivery, &sealer, clock.as_ref()).await > 0 {}
            tokio::select! {
                () = ready.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })
}

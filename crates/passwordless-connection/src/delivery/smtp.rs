//! SMTP through lettre: implicit TLS, STARTTLS (required) or plain for a relay on the same host,
//! optional authentication and optional DKIM signing (RFC 6376; Ed25519 per RFC 8463).

use std::time::Duration;

use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm, DkimSigningKey,
};
use lettre::message::header::HeaderName;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::providers::{Outgoing, SendError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Implicit TLS, usually port 465.
    Tls,
    /// STARTTLS upgrade (required), usually port 587.
    StartTls,
    /// Plain text: only for a relay on the same host.
    None,
}

/// DKIM signing: the key signs every message for `domain` under `selector`.
#[derive(Clone, Debug)]
pub struct DkimSettings {
    pub domain: String,
    pub selector: String,
    /// RSA: a PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`). Ed25519: the base64 of the 32-byte seed.
    pub key: domain::Secret,
    pub ed25519: bool,
}

#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<domain::Secret>,
    pub from: Mailbox,
    pub dkim: Option<DkimSettings>,
}

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    dkim: Option<DkimConfig>,
}

impl SmtpSender {
    pub fn new(config: &SmtpConfig) -> Result<Self, String> {
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
        let dkim = config
            .dkim
            .as_ref()
            .map(|d| {
                let alg = if d.ed25519 { DkimSigningAlgorithm::Ed25519 } else { DkimSigningAlgorithm::Rsa };
                // relaxed/relaxed (RFC 6376 §3.4.2, §3.4.4): lettre folds the DKIM-Signature header
                // differently once the signature is in it, which `simple` header canonicalization
                // would count as a change; relaxed also survives relays that refold headers.
                // Only headers lettre has set when `sign` runs: it adds MIME-Version and the multipart
                // Content-Type while writing the message, after signing.
                let headers = ["From", "To", "Subject", "Date", "Message-ID"]
                    .into_iter()
                    .map(HeaderName::new_from_ascii_str)
                    .collect();
                let relaxed = DkimCanonicalization {
                    header: DkimCanonicalizationType::Relaxed,
                    body: DkimCanonicalizationType::Relaxed,
                };
                DkimSigningKey::new(d.key.expose(), alg)
                    .map(|key| DkimConfig::new(d.selector.clone(), d.domain.clone(), key, headers, relaxed))
                    .map_err(|e| format!("the DKIM key cannot be read: {e}"))
            })
            .transpose()?;
        Ok(Self { transport: builder.build(), from: config.from.clone(), dkim })
    }

    pub(crate) async fn send(&self, m: &Outgoing<'_>) -> Result<(), SendError> {
        let to: Mailbox = m.to.parse().map_err(|e| SendError::permanent(format!("bad recipient: {e}")))?;
        // A Message-ID fixed by the queue row, so a retried message is recognisably the same one.
        let message_id = format!("<{}@{}>", m.id, self.from.email.domain());
        let builder =
            lettre::Message::builder().from(self.from.clone()).to(to).subject(m.subject).message_id(Some(message_id));
        let mut email = match m.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(m.text.to_owned(), html.to_owned())),
            None => builder.body(m.text.to_owned()),
        }
        .map_err(|e| SendError::permanent(e.to_string()))?;
        if let Some(dkim) = &self.dkim {
            email.sign(dkim);
        }
        self.transport.send(email).await.map(|_| ()).map_err(|e| {
            // 5xx replies are final (RFC 5321 §4.2.1); 4xx and connection trouble are worth a retry.
            if e.is_permanent() { SendError::permanent(e.to_string()) } else { SendError::transient(e.to_string()) }
        })
    }
}

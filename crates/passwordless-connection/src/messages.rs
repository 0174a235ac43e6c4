//! The messages the connection sends, rendered from `templates/email/` and `templates/sms/` in the
//! user's language, with sealed bodies (they carry codes and links).

use domain::StorageError as StoreError;
use domain::message::OutgoingMessage as NewMessage;
use domain::{Channel, EmailAddress, Interaction, LoginMethod};

use crate::PasswordlessConnection;
use crate::challenge::{Destination, Origin, Secrets};
use crate::delivery::seal_body;

/// The fields every message template reads.
pub(crate) fn context(
    conn: &PasswordlessConnection,
    lang: &str,
    product_name: &str,
    client_name: &str,
    now: i64,
) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("t", conn.catalog.table_for(lang, domain::i18n::MESSAGES));
    ctx.insert("lang", lang);
    ctx.insert("product_name", &one_line(product_name));
    ctx.insert("client_name", &one_line(client_name));
    at_time(&mut ctx, now, None);
    // A text's last line binds its code to our origin, so phones can offer to fill it in (WebOTP,
    // https://wicg.github.io/sms-one-time-codes/): "@host #code".
    let host = url::Url::parse(&conn.config.public_url).ok().and_then(|u| u.host_str().map(str::to_owned));
    ctx.insert("host", &host.unwrap_or_default());
    ctx
}

/// The time a message gives (`requested_at`): in the recipient's time zone when the account has one.
pub(crate) fn at_time(ctx: &mut tera::Context, now: i64, zone: Option<&str>) {
    ctx.insert("requested_at", &domain::clock::for_people(now, zone));
}

/// The product name an interaction's pages and messages carry: the client's branding, or ours.
pub(crate) fn product_name<'a>(conn: &'a PasswordlessConnection, interaction: &'a Interaction) -> &'a str {
    interaction.client_settings.branding.product_name.as_deref().unwrap_or(&conn.config.product_name)
}

/// A sealed email with a text and an HTML body.
pub(crate) fn sealed_email(
    conn: &PasswordlessConnection,
    to: &EmailAddress,
    subject: String,
    text: &str,
    html: &str,
) -> NewMessage {
    let id = domain::MessageId::sortable();
    NewMessage {
        text_body: seal_body(&conn.sealer, id.as_str(), text),
        html_body: Some(seal_body(&conn.sealer, id.as_str(), html)),
        leased_until: None,
        id,
        channel: Channel::Email,
        recipient: to.to_string(),
        subject,
    }
}

/// Renders `email/{name}.txt` and `.html`, and seals them into a message to `to`.
pub(crate) fn email(
    conn: &PasswordlessConnection,
    to: &EmailAddress,
    name: &str,
    subject: String,
    ctx: &mut tera::Context,
) -> Result<NewMessage, StoreError> {
    ctx.insert("subject", &subject);
    let render = |file: String| {
        conn.tera.render(&file, ctx).map_err(|e| StoreError::Corrupt(format!("message template {file}: {e:?}")))
    };
    let text = render(format!("email/{name}.txt"))?;
    let html = render(format!("email/{name}.html"))?;
    Ok(sealed_email(conn, to, subject, &text, &html))
}

/// Names were checked when they were set; a control character that got into one anyway (an older
/// record) becomes a space before it reaches a message, so a subject stays one header line.
fn one_line(value: &str) -> String {
    value.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// A subject with its `{placeholders}` filled in, each value on one line.
fn fill(template: &str, pairs: &[(&str, &str)]) -> String {
    let lines: Vec<String> = pairs.iter().map(|(_, v)| one_line(v)).collect();
    let values: Vec<(&str, &str)> = pairs.iter().zip(&lines).map(|((k, _), v)| (*k, v.as_str())).collect();
    domain::i18n::fill(template, &values)
}

/// What a sign-in email carries: the code, the link, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sent {
    pub code: bool,
    pub link: bool,
}

impl Sent {
    /// The hosted pages send whatever the client allows.
    pub fn for_client(settings: &domain::ClientSettings) -> Self {
        Sent { code: settings.allows(LoginMethod::EmailCode), link: settings.allows(LoginMethod::EmailLink) }
    }
}

/// The message of a challenge: the sign-in email (code, link, or both) or text; or, when sign-ups
/// are closed and nobody has this address, an email saying so (only the mailbox's owner learns
/// it). A text to an unknown number with sign-ups closed sends nothing.
#[allow(clippy::too_many_arguments)] // each is one fact about the message; a struct would only rename them
pub(crate) async fn for_challenge(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    to: &Destination,
    secrets: &Secrets,
    sent: Sent,
    origin: &Origin,
    lang: &str,
    now: i64,
) -> Result<Option<NewMessage>, StoreError> {
    let product = product_name(conn, interaction);
    let mut ctx = context(conn, lang, product, &interaction.client_name, now);
    // The client's logo heads the HTML email, beside its name (which stays when images are blocked).
    if let Some(logo) = &interaction.client_settings.branding.logo_url {
        ctx.insert("logo_url", logo);
    }
    ctx.insert("place", &origin.place());
    let ttl = conn.config.channel(to.channel()).ttl;
    ctx.insert("ttl_minutes", &(ttl / 60).max(1).to_string());
    let text = |key: &'static str| conn.catalog.text(lang, key);
    match to {
        Destination::Email(address) => {
            let user = conn.store.user_by_email(address).await?;
            if let Some(zone) = user.as_ref().and_then(|u| u.profile.zoneinfo.as_deref()) {
                at_time(&mut ctx, now, Some(zone));
            }
            if !(user.is_some() || conn.config.signups_enabled) {
                let subject = fill(text("no_account_subject"), &[("client", &interaction.client_name)]);
                return email(conn, address, "no_account", subject, &mut ctx).map(Some);
            }
            let (with_code, with_link) = (sent.code, sent.link);
            if with_code {
                ctx.insert("code", &secrets.code);
            }
            if with_link {
                let link = crate::paths::link(&conn.config.public_url, &secrets.link_token);
                ctx.insert("link", &link);
            }
            let subject_key = if with_code { "email_subject_code" } else { "email_subject_link" };
            let template = conn.config.email_subject.as_deref().unwrap_or(text(subject_key));
            let subject = fill(template, &[("client", &interaction.client_name), ("product", product)]);
            email(conn, address, "sign_in", subject, &mut ctx).map(Some)
        }
        Destination::Phone(phone) => {
            let known = conn.store.user_by_phone(phone).await?.is_some();
            if !(known || conn.config.signups_enabled) {
                return Ok(None);
            }
            ctx.insert("code", &secrets.code);
            let body = conn
                .tera
                .render("sms/sign_in.txt", &ctx)
                .map_err(|e| StoreError::Corrupt(format!("message template sms/sign_in.txt: {e:?}")))?;
            let id = domain::MessageId::sortable();
            Ok(Some(NewMessage {
                text_body: seal_body(&conn.sealer, id.as_str(), body.trim()),
                html_body: None,
                leased_until: None,
                id,
                channel: Channel::Sms,
                recipient: phone.to_string(),
                subject: String::new(),
            }))
        }
    }
}

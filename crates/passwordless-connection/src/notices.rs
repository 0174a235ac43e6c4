//! Messages the admin API and the account page ask for ([`AccountNotices`]): a notice to an
//! account's owner at the address or number it is leaving, and the account page's codes. The
//! connection owns the messages, their templates, their sealing and the limits on sending.

use std::sync::Arc;

use domain::message::OutgoingMessage as NewMessage;
use domain::ports::{
    AccountCode, AccountNotices, BoxFuture, CodeError, CodePurpose, ContactChanged, NoticeError, PasskeyChanged,
};
use domain::{Channel, ClientIp, Destination, StorageError};

use crate::PasswordlessConnection;
use crate::abuse::{Refusal, check_send};
use crate::delivery::seal_body;

/// The connection as the admin API's notifier.
pub struct Notices(pub Arc<PasswordlessConnection>);

/// Queues a rendered message durably and wakes the delivery worker.
async fn queue(conn: &PasswordlessConnection, message: Result<NewMessage, StorageError>, what: &str) -> Result<(), ()> {
    let now = conn.clock.now();
    let queued = match message {
        Ok(message) => conn.store.enqueue_message(message, now).await,
        Err(e) => Err(e),
    };
    match queued {
        Ok(()) => {
            conn.outbox_ready.notify_one();
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "the {what} could not be queued");
            Err(())
        }
    }
}

impl AccountNotices for Notices {
    fn contact_changed(&self, notice: ContactChanged) -> BoxFuture<'_, Result<(), NoticeError>> {
        Box::pin(async move {
            let conn = &self.0;
            let message = render(conn, &notice, conn.clock.now());
            queue(conn, message, "contact-change notice").await.map_err(|()| NoticeError)
        })
    }

    fn passkey_changed(&self, notice: PasskeyChanged) -> BoxFuture<'_, Result<(), NoticeError>> {
        Box::pin(async move {
            let conn = &self.0;
            let lang = conn.catalog.negotiate(Some(&notice.lang), None);
            let product = notice.product.as_deref().unwrap_or(&conn.config.product_name);
            let now = conn.clock.now();
            let mut ctx = crate::messages::context(conn, lang, product, "", now);
            crate::messages::at_time(&mut ctx, now, notice.zone.as_deref());
            ctx.insert("name", &notice.name);
            ctx.insert("added", &notice.added);
            let key = if notice.added { "passkey_added_subject" } else { "passkey_removed_subject" };
            let subject = domain::i18n::fill(conn.catalog.text(lang, key), &[("product", product)]);
            let message = crate::messages::email(conn, &notice.to, "passkey_changed", subject, &mut ctx);
            queue(conn, message, "passkey notice").await.map_err(|()| NoticeError)
        })
    }

    fn send_code(&self, code: AccountCode) -> BoxFuture<'_, Result<(), CodeError>> {
        Box::pin(async move {
            let conn = &self.0;
            if code.to.channel() == Channel::Sms && !conn.config.sms_policy.available {
                return Err(CodeError::Unavailable);
            }
            // The same limits as a sign-in code: per address or number, per network.
            let origin = crate::challenge::Origin { ip: ClientIp::new(code.ip), country: None, device: None };
            match check_send(conn, &origin, &code.to).await {
                Ok(()) => {}
                Err(Refusal::Limited { retry_after } | Refusal::TooSoon { retry_after }) => {
                    return Err(CodeError::Limited { retry_after });
                }
                Err(Refusal::Blocked) => return Err(CodeError::Blocked),
                Err(Refusal::Country | Refusal::Unavailable) => return Err(CodeError::Unavailable),
            }
            if code.silent {
                return Ok(());
            }
            let message = render_code(conn, &code, conn.clock.now());
            queue(conn, message, "account code").await.map_err(|()| CodeError::Unavailable)
        })
    }
}

/// The account page's code, in the page's language: what it is for, the code, and its lifetime.
fn render_code(conn: &PasswordlessConnection, code: &AccountCode, now: i64) -> Result<NewMessage, StorageError> {
    let lang = code.lang.as_str();
    let product = code.product.as_deref().unwrap_or(&conn.config.product_name);
    let mut ctx = crate::messages::context(conn, lang, product, "", now);
    let intro = match code.purpose {
        CodePurpose::ConfirmAddress => "account_code_confirm",
        CodePurpose::DeleteAccount => "account_code_delete",
    };
    ctx.insert("intro", &domain::i18n::fill(conn.catalog.text(lang, intro), &[("product", product)]));
    ctx.insert("code", code.code.expose());
    ctx.insert("ttl_minutes", &(domain::ports::ACCOUNT_CODE_TTL / 60).to_string());
    match &code.to {
        Destination::Email(to) => {
            let subject = domain::i18n::fill(conn.catalog.text(lang, "account_code_subject"), &[("product", product)]);
            crate::messages::email(conn, to, "account_code", subject, &mut ctx)
        }
        Destination::Phone(to) => sms(conn, to, "sms/account_code.txt", &ctx),
    }
}

/// A sealed text message from `template`.
fn sms(
    conn: &PasswordlessConnection,
    to: &domain::PhoneNumber,
    template: &str,
    ctx: &tera::Context,
) -> Result<NewMessage, StorageError> {
    let body = conn
        .tera
        .render(template, ctx)
        .map_err(|e| StorageError::Corrupt(format!("message template {template}: {e:?}")))?;
    let id = domain::MessageId::sortable();
    Ok(NewMessage {
        text_body: seal_body(&conn.sealer, id.as_str(), body.trim()),
        html_body: None,
        leased_until: None,
        id,
        channel: Channel::Sms,
        recipient: to.to_string(),
        subject: String::new(),
    })
}

/// The notice in the default language (the account keeps none), to the old address or number.
fn render(conn: &PasswordlessConnection, notice: &ContactChanged, now: i64) -> Result<NewMessage, StorageError> {
    let lang = domain::i18n::DEFAULT_LANGUAGE;
    let product = conn.config.product_name.as_str();
    let mut ctx = crate::messages::context(conn, lang, product, "", now);
    crate::messages::at_time(&mut ctx, now, notice.zone.as_deref());
    let new = notice.new.as_ref().map(Destination::shown).unwrap_or_else(|| "—".into());
    ctx.insert("old", &notice.old.shown());
    ctx.insert("new", &new);
    ctx.insert("undo_url", &notice.undo_url);
    match &notice.old {
        Destination::Email(to) => {
            let subject =
                domain::i18n::fill(conn.catalog.text(lang, "contact_changed_subject"), &[("product", product)]);
            crate::messages::email(conn, to, "contact_changed", subject, &mut ctx)
        }
        Destination::Phone(to) => sms(conn, to, "sms/contact_changed.txt", &ctx),
    }
}

//! Notices to an account's owner that the admin API asks for ([`AccountNotices`]): the connection
//! owns the messages, their templates and their sealing.

use std::sync::Arc;

use domain::message::OutgoingMessage;
use domain::ports::{AccountNotices, BoxFuture, ContactChanged, NoticeError};
use domain::{Channel, Destination, StorageError};

use crate::PasswordlessConnection;
use crate::delivery::seal_body;

/// The connection as the admin API's notifier.
pub struct Notices(pub Arc<PasswordlessConnection>);

impl AccountNotices for Notices {
    fn contact_changed(&self, notice: ContactChanged) -> BoxFuture<'_, Result<(), NoticeError>> {
        Box::pin(async move {
            let conn = &self.0;
            let now = conn.clock.now();
            let queued = match render(conn, &notice, now) {
                Ok(message) => conn.store.enqueue_message(message, now).await,
                Err(e) => Err(e),
            };
            match queued {
                Ok(()) => {
                    conn.outbox_ready.notify_one();
                    Ok(())
                }
                Err(e) => {
                    tracing::error!(error = %e, "the contact-change notice could not be queued");
                    Err(NoticeError)
                }
            }
        })
    }
}

/// The notice in the default language (the account keeps none), to the old address or number.
fn render(conn: &PasswordlessConnection, notice: &ContactChanged, now: i64) -> Result<OutgoingMessage, StorageError> {
    let lang = domain::i18n::DEFAULT_LANGUAGE;
    let product = conn.config.product_name.as_str();
    let mut ctx = crate::messages::context(conn, lang, product, "", now);
    let new = notice.new.as_ref().map(Destination::shown).unwrap_or_else(|| "—".into());
    ctx.insert("old", &notice.old.shown());
    ctx.insert("new", &new);
    match &notice.old {
        Destination::Email(to) => {
            let subject =
                domain::i18n::fill(conn.catalog.text(lang, "contact_changed_subject"), &[("product", product)]);
            crate::messages::email(conn, to, "contact_changed", subject, &mut ctx)
        }
        Destination::Phone(to) => {
            let body = conn
                .tera
                .render("sms/contact_changed.txt", &ctx)
                .map_err(|e| StorageError::Corrupt(format!("message template sms/contact_changed.txt: {e:?}")))?;
            let id = domain::MessageId::sortable();
            Ok(OutgoingMessage {
                text_body: seal_body(&conn.sealer, id.as_str(), body.trim()),
                html_body: None,
                id,
                channel: Channel::Sms,
                recipient: to.to_string(),
                subject: String::new(),
            })
        }
    }
}

//! The outgoing message queue. A message is written in the same transaction as the challenge it
//! belongs to, then delivered by a worker that leases it, so a crash neither loses it nor (short of
//! a crash between the provider's acceptance and our commit) sends it twice.

use diesel::prelude::*;

use domain::{Channel, MessageId, StorageError};
use passwordless_connection::storage::QueuedMessage;

use crate::schema::messages;
use crate::{Store, StoreError};

pub use domain::message::OutgoingMessage as NewMessage;

/// Where a message is in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageStatus {
    Queued,
    /// Leased by a worker.
    Sending,
    Sent,
    /// Given up.
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [MessageStatus::Queued, MessageStatus::Sending, MessageStatus::Sent, MessageStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

impl PartialEq<&str> for MessageStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A message as the queue holds it (for the development outbox and operators).
#[derive(Clone, Debug)]
pub struct Message {
    pub id: MessageId,
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub status: MessageStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub provider: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = messages, treat_none_as_default_value = false)]
pub(crate) struct MessageRow {
    id: String,
    channel: String,
    recipient: String,
    subject: String,
    text_body: Option<String>,
    html_body: Option<String>,
    status: String,
    attempts: i32,
    next_attempt_at: i64,
    last_error: Option<String>,
    provider: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl MessageRow {
    pub(crate) fn queued(m: NewMessage, now: i64) -> Self {
        // A message handed to its node's worker is stored as a claim would leave it: leased
        // (`sending`), its first attempt counted, due again when the lease runs out.
        let (status, attempts, next_attempt_at) = match m.leased_until {
            Some(until) => ("sending", 1, until),
            None => ("queued", 0, now),
        };
        MessageRow {
            id: m.id.to_string(),
            channel: m.channel.as_str().to_owned(),
            recipient: m.recipient,
            subject: m.subject,
            text_body: Some(m.text_body),
            html_body: m.html_body,
            status: status.into(),
            attempts,
            next_attempt_at,
            last_error: None,
            provider: None,
            created_at: now,
            sent_at: None,
        }
    }

    fn into_queued(self) -> Result<QueuedMessage, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("message {what}"));
        Ok(QueuedMessage {
            id: MessageId::parse(&self.id).ok_or_else(|| corrupt("id"))?,
            channel: Channel::parse(&self.channel).ok_or_else(|| corrupt("channel"))?,
            recipient: self.recipient,
            subject: self.subject,
            text_body: self.text_body,
            html_body: self.html_body,
            attempts: self.attempts,
        })
    }

    fn into_message(self) -> Result<Message, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("message {what}"));
        Ok(Message {
            id: MessageId::parse(&self.id).ok_or_else(|| corrupt("id"))?,
            channel: Channel::parse(&self.channel).ok_or_else(|| corrupt("channel"))?,
            recipient: self.recipient,
            subject: self.subject,
            text_body: self.text_body,
            html_body: self.html_body,
            status: MessageStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            attempts: self.attempts,
            last_error: self.last_error,
            provider: self.provider,
            created_at: self.created_at,
            sent_at: self.sent_at,
        })
    }
}

/// Queues a message inside the caller's transaction.
pub(crate) fn queue_in(conn: &mut crate::DbConnection, message: NewMessage, now: i64) -> Result<(), StoreError> {
    crate::db::execute(conn, diesel::insert_into(messages::table).values(&MessageRow::queued(message, now)))?;
    Ok(())
}

impl Store {
    pub async fn enqueue_message(&self, message: NewMessage, now: i64) -> Result<(), StoreError> {
        self.run(move |conn| queue_in(conn, message, now)).await
    }

    /// The newest messages first.
    pub async fn recent_messages(&self, limit: i64) -> Result<Vec<Message>, StoreError> {
        self.run(move |conn| {
            messages::table
                .order((messages::created_at.desc(), messages::id.desc()))
                .limit(limit)
                .select(MessageRow::as_select())
                .load(conn)?
                .into_iter()
                .map(MessageRow::into_message)
                .collect()
        })
        .await
    }
}

#[async_trait::async_trait]
impl step_up::storage::MessageStore for Store {
    async fn enqueue_message(&self, message: NewMessage, now: i64) -> Result<(), StorageError> {
        Ok(Store::enqueue_message(self, message, now).await?)
    }
}

/// The messages due at `now`: queued, or sending under a lease that ran out. Two comparisons
/// rather than `eq_any`, whose `IN (…)` diesel never caches as a prepared statement.
#[diesel::dsl::auto_type]
fn due(now: i64) -> _ {
    let (queued, sending): (&'static str, &'static str) = ("queued", "sending");
    messages::table
        .filter(messages::status.eq(queued).or(messages::status.eq(sending)))
        .filter(messages::next_attempt_at.le(now))
}

#[async_trait::async_trait]
impl passwordless_connection::storage::MessageStore for Store {
    async fn enqueue_message(&self, message: NewMessage, now: i64) -> Result<(), StorageError> {
        Ok(Store::enqueue_message(self, message, now).await?)
    }

    /// Leases up to `limit` due messages for `lease` seconds. A message whose lease ran out (its
    /// worker died) is due again. Each claim is a conditional update, so two workers never share one.
    async fn claim_due_messages(&self, now: i64, lease: i64, limit: i64) -> Result<Vec<QueuedMessage>, StorageError> {
        // Most polls find nothing due (the worker looks again after each batch): a read says so
        // without a write transaction, and, on SQLite, without the writer's queue and a commit.
        let any_due = self
            .read(move |conn| {
                let first: Option<String> =
                    crate::db::on_backend!(conn, |c| due(now).select(messages::id).first(c).optional())?;
                Ok(first.is_some())
            })
            .await?;
        if !any_due {
            return Ok(Vec::new());
        }
        self.run(move |conn| {
            let ids: Vec<String> = crate::db::on_backend!(conn, |c| {
                due(now).order(messages::next_attempt_at.asc()).select(messages::id).limit(limit).load(c)
            })?;
            let mut claimed = Vec::new();
            for id in ids {
                // The claimed row comes back with its update (`RETURNING`), not from a second read.
                let row: Option<MessageRow> = crate::db::on_backend!(conn, |c| {
                    crate::cached::update(
                        due(now).filter(messages::id.eq(&id)),
                        (
                            messages::status.eq("sending"),
                            messages::next_attempt_at.eq(now + lease),
                            messages::attempts.eq(messages::attempts + 1),
                        ),
                    )
                    .returning(MessageRow::as_select())
                    .get_result(c)
                    .optional()
                })?;
                if let Some(row) = row {
                    claimed.push(row.into_queued()?);
                }
            }
            Ok(claimed)
        })
        .await
        .map_err(Into::into)
    }

    async fn renew_message_lease(&self, id: &MessageId, leased_until: i64, until: i64) -> Result<bool, StorageError> {
        let id = id.to_string();
        self.run(move |conn| {
            let own = messages::table
                .filter(messages::id.eq(id))
                .filter(messages::status.eq("sending"))
                .filter(messages::next_attempt_at.eq(leased_until));
            Ok(crate::cached::update(own, messages::next_attempt_at.eq(until)).execute(conn)? == 1)
        })
        .await
        .map_err(Into::into)
    }

    /// Records delivery. With `keep_body == false` the text is wiped: it held a code or a link, and
    /// a sent message has no more use for it.
    async fn mark_message_sent(
        &self,
        id: &MessageId,
        provider: &str,
        now: i64,
        keep_body: bool,
    ) -> Result<(), StorageError> {
        let (id, provider) = (id.to_string(), provider.to_owned());
        self.run_repeatable(move |conn| {
            let target = messages::table.find(id.as_str());
            if keep_body {
                crate::cached::update(
                    target,
                    (
                        messages::status.eq("sent"),
                        messages::provider.eq(Some(provider.as_str())),
                        messages::sent_at.eq(Some(now)),
                    ),
                )
                .execute(conn)?;
            } else {
                crate::cached::update(
                    target,
                    (
                        messages::status.eq("sent"),
                        messages::provider.eq(Some(provider.as_str())),
                        messages::sent_at.eq(Some(now)),
                        messages::text_body.eq(None::<String>),
                        messages::html_body.eq(None::<String>),
                    ),
                )
                .execute(conn)?;
            }
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    /// Records a failed attempt: retried at `retry_at`, or given up (`None`).
    async fn mark_message_failed(
        &self,
        id: &MessageId,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<(), StorageError> {
        let (id, error) = (id.to_string(), error.chars().take(500).collect::<String>());
        self.run(move |conn| {
            let target = messages::table.find(id);
            match retry_at {
                Some(at) => crate::cached::update(
                    target,
                    (
                        messages::status.eq("queued"),
                        messages::next_attempt_at.eq(at),
                        messages::last_error.eq(Some(error)),
                    ),
                )
                .execute(conn)?,
                None => crate::cached::update(
                    target,
                    (
                        messages::status.eq("failed"),
                        messages::last_error.eq(Some(error)),
                        messages::text_body.eq(None::<String>),
                        messages::html_body.eq(None::<String>),
                    ),
                )
                .execute(conn)?,
            };
            Ok(())
        })
        .await
        .map_err(Into::into)
    }
}

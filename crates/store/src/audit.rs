//! The audit log: append only. Nothing in Ostiary edits or deletes an entry but the purge, after
//! the retention period.

use admin::storage::{AuditQuery, AuditRecord};
use diesel::prelude::*;
use domain::audit::{AuditEntry, AuditEvent, AuditKind, AuditLog, Audited};
use domain::{ClientId, StorageError, UserId};

use crate::schema::audit_log;
use crate::{Store, StoreError};

#[async_trait::async_trait]
impl<D: Audited> AuditLog<D> for Store {
    async fn record(&self, entry: AuditEntry<D>) -> Result<(), StorageError> {
        self.run(move |conn| conn.transaction(|conn| insert(conn, &entry))).await.map_err(Into::into)
    }
}

/// Writes one entry on `conn`, inside the caller's transaction when it has one: a change and its
/// entry are kept together or not at all.
pub(crate) fn insert<D: Audited>(conn: &mut crate::DbConnection, entry: &AuditEntry<D>) -> Result<(), StoreError> {
    let row = (
        audit_log::id.eq(domain::ids::sortable_id()),
        audit_log::created_at.eq(entry.at),
        audit_log::kind.eq(entry.what.kind().as_str()),
        audit_log::user_id.eq(entry.user.as_ref().map(|u| u.to_string())),
        audit_log::client_id.eq(entry.client.as_ref().map(|c| c.to_string())),
        audit_log::detail.eq(crate::to_json(&entry.what)),
        audit_log::actor.eq(entry.what.actor()),
    );
    crate::db::execute(conn, diesel::insert_into(audit_log::table).values(row))?;
    crate::events::emit_audited(conn, entry)
}

/// An audit row as read: kind, user, client, detail (JSON) and time.
type AuditRow = (String, Option<String>, Option<String>, String, i64);

fn into_event((kind, user, client, detail, at): AuditRow) -> Result<AuditEvent, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("audit entry {what}"));
    Ok(AuditEvent {
        kind: AuditKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        user: user.map(|u| UserId::parse(&u).ok_or_else(|| corrupt("user"))).transpose()?,
        client: client.map(|c| ClientId::parse(&c).ok_or_else(|| corrupt("client"))).transpose()?,
        detail: crate::from_json(&detail, "audit entry detail")?,
        at,
    })
}

/// A page of the log, newest first (ids sort by creation), filtered as `query` says.
pub(crate) fn page(conn: &mut crate::DbConnection, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
    let mut q = audit_log::table
        .order(audit_log::id.desc())
        .limit(query.limit)
        .select((
            audit_log::id,
            (audit_log::kind, audit_log::user_id, audit_log::client_id, audit_log::detail, audit_log::created_at),
        ))
        .into_boxed();
    if let Some(kind) = query.kind {
        q = q.filter(audit_log::kind.eq(kind.as_str()));
    }
    if let Some(user) = &query.user {
        q = q.filter(audit_log::user_id.eq(user.as_str().to_owned()));
    }
    if let Some(client) = &query.client {
        q = q.filter(audit_log::client_id.eq(client.as_str().to_owned()));
    }
    if let Some(actor) = &query.actor {
        q = q.filter(audit_log::actor.eq(actor.clone()));
    }
    if let Some(since) = query.since {
        q = q.filter(audit_log::created_at.ge(since));
    }
    if let Some(until) = query.until {
        q = q.filter(audit_log::created_at.lt(until));
    }
    if let Some(before) = &query.before {
        q = q.filter(audit_log::id.lt(before.clone()));
    }
    let rows: Vec<(String, AuditRow)> = q.load(conn)?;
    rows.into_iter().map(|(id, row)| Ok(AuditRecord { id, event: into_event(row)? })).collect()
}

impl Store {
    /// The newest audit entries about a client.
    pub async fn audit_of_client(&self, client: &ClientId, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let query = AuditQuery { client: Some(client.clone()), limit, ..Default::default() };
        self.run(move |conn| Ok(page(conn, &query)?.into_iter().map(|r| r.event).collect())).await
    }

    /// The newest audit entries about a user.
    pub async fn audit_of(&self, user: &UserId, limit: i64) -> Result<Vec<AuditEvent>, StoreError> {
        let user = user.to_string();
        self.run(move |conn| {
            let rows: Vec<AuditRow> = audit_log::table
                .filter(audit_log::user_id.eq(user))
                .order((audit_log::created_at.desc(), audit_log::id.desc()))
                .limit(limit)
                .select((
                    audit_log::kind,
                    audit_log::user_id,
                    audit_log::client_id,
                    audit_log::detail,
                    audit_log::created_at,
                ))
                .load(conn)?;
            rows.into_iter().map(into_event).collect()
        })
        .await
    }
}

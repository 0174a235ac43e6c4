//! The admin crate's security views: IP blocks, the outbox's deliveries and the audit log.

use admin::storage::{AdminAudit, AuditQuery, AuditRecord, BlockInfo, EndpointInfo, EventInfo, MessageInfo, Oversight};
use diesel::prelude::*;
use domain::StorageError;
use domain::audit::AuditEntry;
use domain::events::EventType;

use crate::Store;

#[async_trait::async_trait]
impl Oversight for Store {
    async fn recent_messages(&self, limit: i64, failing: bool) -> Result<Vec<MessageInfo>, StorageError> {
        use crate::schema::messages;
        let rows = self.run(move |conn| {
            let mut query = messages::table.into_boxed();
            if failing {
                query = query.filter(
                    messages::status.eq("failed").or(messages::status.ne("sent").and(messages::attempts.gt(0))),
                );
            }
            Ok(query
                .order(messages::created_at.desc())
                .limit(limit.clamp(1, 500))
                .select((
                    messages::id,
                    messages::channel,
                    messages::recipient,
                    messages::status,
                    messages::attempts,
                    messages::provider,
                    messages::last_error,
                    messages::created_at,
                    messages::sent_at,
                ))
                .load::<(String, String, String, String, i32, Option<String>, Option<String>, i64, Option<i64>)>(
                    conn,
                )?)
        });
        Ok(rows
            .await?
            .into_iter()
            .map(|(id, channel, recipient, status, attempts, provider, last_error, created_at, sent_at)| MessageInfo {
                id,
                channel,
                recipient,
                status,
                attempts,
                provider,
                last_error,
                created_at,
                sent_at,
            })
            .collect())
    }

    async fn active_blocks(&self, now: i64) -> Result<Vec<BlockInfo>, StorageError> {
        let blocks = Store::active_blocks(self, now).await?;
        Ok(blocks
            .into_iter()
            .map(|b| BlockInfo {
                all_accounts: matches!(b.scope, passwordless_connection::storage::BlockScope::AllAccounts),
                id: b.id,
                ip: b.ip,
                reason: b.reason,
                created_at: b.created_at,
                expires_at: b.expires_at,
            })
            .collect())
    }

    async fn lift_block(&self, id: &str, now: i64, audit: AdminAudit) -> Result<bool, StorageError> {
        let id = id.to_owned();
        let lifted = self.run(move |conn| {
            conn.transaction(|conn| {
                if !crate::blocks::lift_in(conn, &id, now)? {
                    return Ok(false);
                }
                crate::audit::insert(conn, &AuditEntry { what: audit, user: None, client: None, at: now })?;
                Ok(true)
            })
        });
        Ok(lifted.await?)
    }

    async fn audit_page(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StorageError> {
        let query = query.clone();
        Ok(self.run(move |conn| crate::audit::page(conn, &query)).await?)
    }

    async fn webhook_endpoints(&self) -> Result<Vec<EndpointInfo>, StorageError> {
        let routes = self.routes();
        Ok(self.read(move |conn| crate::event_views::endpoints(conn, &routes)).await?)
    }

    async fn enable_endpoint(&self, name: &str, now: i64, audit: AdminAudit) -> Result<bool, StorageError> {
        if !self.routes().iter().any(|r| r.endpoint == name) {
            return Ok(false);
        }
        let name = name.to_owned();
        let enabled = self.run(move |conn| {
            conn.transaction(|conn| {
                crate::event_views::enable_in(conn, &name, now)?;
                crate::audit::insert(conn, &AuditEntry { what: audit, user: None, client: None, at: now })?;
                Ok(true)
            })
        });
        Ok(enabled.await?)
    }

    async fn recent_events(
        &self,
        event_type: Option<EventType>,
        before: Option<String>,
        limit: i64,
    ) -> Result<Vec<EventInfo>, StorageError> {
        Ok(self.read(move |conn| crate::event_views::page(conn, event_type, before, limit.clamp(1, 500))).await?)
    }

    async fn replay_event(
        &self,
        id: &str,
        endpoint: Option<String>,
        now: i64,
        audit: AdminAudit,
    ) -> Result<Option<Vec<String>>, StorageError> {
        let (routes, id) = (self.routes(), id.to_owned());
        let replayed = self.run(move |conn| {
            conn.transaction(|conn| {
                let to = crate::event_views::replay_in(conn, &routes, &id, endpoint.as_deref(), now)?;
                if to.is_some() {
                    crate::audit::insert(conn, &AuditEntry { what: audit, user: None, client: None, at: now })?;
                }
                Ok(to)
            })
        });
        Ok(replayed.await?)
    }
}

//! The sign-in history (`login_events`): every sign-in that passed step-up, where from, on what,
//! what step-up decided and why; and "This wasn't me".

use diesel::prelude::*;
use domain::{Acr, ClientId, StorageError, UserId};

use step_up::storage::{HistoryStore, LoginEvent, NotMeConsequence, NotMeOutcome, NotMeReport, SignInRecord};

use crate::schema::{audit_log, login_events};
use crate::{Store, StoreError, from_json, to_json};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = login_events, treat_none_as_default_value = false)]
struct LoginEventRow {
    id: String,
    user_id: String,
    client_id: String,
    created_at: i64,
    ip: String,
    network: String,
    country: Option<String>,
    device_hash: Vec<u8>,
    device: String,
    amr: String,
    acr: String,
    reasons: String,
    outcome: String,
    not_me_hash: Option<Vec<u8>>,
    not_me_at: Option<i64>,
}

/// Only successful sign-ins are recorded (refusals are in the audit log).
const SIGNED_IN: &str = "signed_in";

impl LoginEventRow {
    fn from_event(e: &LoginEvent) -> Self {
        LoginEventRow {
            id: e.id.clone(),
            user_id: e.user_id.to_string(),
            client_id: e.client_id.to_string(),
            created_at: e.created_at,
            ip: e.ip.clone(),
            network: e.network.clone(),
            country: e.country.clone(),
            device_hash: e.device_hash.clone(),
            device: e.device.clone(),
            amr: to_json(&e.amr),
            acr: e.acr.as_str().to_owned(),
            reasons: to_json(&e.reasons),
            outcome: SIGNED_IN.into(),
            not_me_hash: e.not_me_hash.clone(),
            not_me_at: None,
        }
    }

    fn into_event(self) -> Result<LoginEvent, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("login event {what}"));
        Ok(LoginEvent {
            user_id: UserId::parse(&self.user_id).ok_or_else(|| corrupt("user"))?,
            client_id: ClientId::parse(&self.client_id).ok_or_else(|| corrupt("client"))?,
            amr: from_json(&self.amr, "login event amr")?,
            acr: Acr::parse(&self.acr).ok_or_else(|| corrupt("acr"))?,
            reasons: from_json(&self.reasons, "login event reasons")?,
            id: self.id,
            created_at: self.created_at,
            ip: self.ip,
            network: self.network,
            country: self.country,
            device_hash: self.device_hash,
            device: self.device,
            not_me_hash: self.not_me_hash,
        })
    }
}

#[async_trait::async_trait]
impl HistoryStore for Store {
    async fn record_sign_in(&self, record: SignInRecord<'_>, now: i64) -> Result<bool, StorageError> {
        let complete = record.complete.map(|(id, result)| (id.to_string(), crate::to_json(result)));
        let row = LoginEventRow::from_event(record.event);
        let e = record.event;
        let device = record.remember_device.then(|| (e.user_id.to_string(), e.device_hash.clone(), e.device.clone()));
        let audit = record.audit;
        let queued = record.message.map(|message| crate::messages::MessageRow::queued(message, now));
        // One piece of work: the completion, the history, the device, the audit entries (and their
        // events) and the owner's email, all or none (on PostgreSQL in one transaction, where each
        // statement would otherwise commit alone).
        self.atomic(move |conn| {
            if let Some((id, result)) = &complete
                && !crate::interactions::complete_in(conn, id, result, now)?
            {
                return Ok(false);
            }
            crate::db::execute(conn, diesel::insert_into(login_events::table).values(&row))?;
            if let Some((user, hash, description)) = &device {
                crate::devices::remember_in(conn, user, hash, description, now)?;
            }
            for entry in &audit {
                crate::audit::insert(conn, entry)?;
            }
            if let Some(queued) = &queued {
                crate::db::execute(conn, diesel::insert_into(crate::schema::messages::table).values(queued))?;
            }
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    async fn login_history(&self, user: &UserId, limit: i64) -> Result<Vec<LoginEvent>, StorageError> {
        let user = user.to_string();
        self.read(move |conn| {
            let rows: Vec<LoginEventRow> = crate::db::on_backend!(conn, |c| {
                login_events::table
                    .filter(login_events::user_id.eq(&user))
                    .filter(login_events::outcome.eq(SIGNED_IN))
                    .order((login_events::created_at.desc(), login_events::id.desc()))
                    .limit(limit)
                    .select(LoginEventRow::as_select())
                    .load(c)
            })?;
            rows.into_iter().map(LoginEventRow::into_event).collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn login_event_by_not_me(
        &self,
        hash: Vec<u8>,
        issued_after: i64,
    ) -> Result<Option<LoginEvent>, StorageError> {
        self.run(move |conn| {
            login_events::table
                .filter(login_events::not_me_hash.eq(hash))
                .filter(login_events::not_me_at.is_null())
                .filter(login_events::created_at.ge(issued_after))
                .select(LoginEventRow::as_select())
                .first(conn)
                .optional()?
                .map(LoginEventRow::into_event)
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn report_not_me(&self, report: NotMeReport<'_>) -> Result<Option<NotMeOutcome>, StorageError> {
        let NotMeReport { link_hash, issued_after, consequences, at: now } = report;
        let consequences = consequences.to_vec();
        self.run(move |conn| {
            conn.transaction(|conn| {
                // The link is spent first (a write: SQLite's lock is taken at once), and only once.
                let spent = crate::cached::update(
                    login_events::table
                        .filter(login_events::not_me_hash.eq(&link_hash))
                        .filter(login_events::not_me_at.is_null())
                        .filter(login_events::created_at.ge(issued_after)),
                    login_events::not_me_at.eq(Some(now)),
                )
                .execute(conn)?;
                if spent != 1 {
                    return Ok(None);
                }
                let event = login_events::table
                    .filter(login_events::not_me_hash.eq(&link_hash))
                    .select(LoginEventRow::as_select())
                    .first(conn)?
                    .into_event()?;
                let user = event.user_id.to_string();
                let (mut sessions_ended, mut grants_revoked) = (0, 0);
                for consequence in &consequences {
                    match consequence {
                        NotMeConsequence::EndSessions => {
                            sessions_ended = crate::sessions::end_all_in(conn, &user, now)?
                        }
                        NotMeConsequence::RevokeGrants => {
                            grants_revoked = crate::grants::revoke_all_of_user_in(conn, &user, now)?
                        }
                        NotMeConsequence::BlockDevice => {
                            crate::devices::block_in(conn, &user, &event.device_hash, &event.device, now)?
                        }
                    }
                }
                let detail = serde_json::json!({
                    "sessions_ended": sessions_ended, "grants_revoked": grants_revoked, "device": event.device,
                    "ip": event.ip,
                });
                diesel::insert_into(audit_log::table)
                    .values((
                        audit_log::id.eq(domain::ids::sortable_id()),
                        audit_log::created_at.eq(now),
                        audit_log::kind.eq(domain::audit::AuditKind::NotMe.as_str()),
                        audit_log::user_id.eq(Some(&user)),
                        audit_log::client_id.eq(Some(event.client_id.as_str())),
                        audit_log::detail.eq(detail.to_string()),
                    ))
                    .execute(conn)?;
                Ok(Some(NotMeOutcome { event, sessions_ended, grants_revoked }))
            })
        })
        .await
        .map_err(Into::into)
    }
}

//! The account page's storage: pending codes (keyed hashes), undo links for a replaced address or
//! number, and the owner's own sign-out everywhere. Every change is one transaction with its audit
//! entry.

use admin::storage::{
    AccountStore, Actor, AdminAudit, AuditChanged, CodeFor, Contact, DeviceInfo, PendingCode, Restored, Saved, Undo,
    UserChange,
};
use diesel::prelude::*;
use domain::audit::AuditEntry;
use domain::{EmailAddress, PhoneNumber, StorageError, UserId};

use crate::schema::{account_codes, contact_undos, devices, users};
use crate::{Store, StoreError};

fn purpose_of(text: &str) -> Option<CodeFor> {
    [CodeFor::Email, CodeFor::Phone, CodeFor::Delete].into_iter().find(|p| p.as_str() == text)
}

fn field_name(field: Contact) -> &'static str {
    match field {
        Contact::Email => "email",
        Contact::PhoneNumber => "phone",
    }
}

/// The change that puts `value` back in `field`, verified (whoever follows the link holds it).
fn restoring(field: Contact, value: &str) -> Result<UserChange, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("contact_undos: unreadable {} {value:?}", field_name(field)));
    Ok(match field {
        Contact::Email => UserChange {
            email: Some(Some(EmailAddress::parse(value).map_err(|_| corrupt())?)),
            email_verified: Some(true),
            ..Default::default()
        },
        Contact::PhoneNumber => UserChange {
            phone: Some(Some(PhoneNumber::parse(value, None).map_err(|_| corrupt())?)),
            phone_verified: Some(true),
            ..Default::default()
        },
    })
}

type UndoRow = (Vec<u8>, String, String, String, String, i64);

const UNDO_COLUMNS: (
    contact_undos::token_hash,
    contact_undos::user_id,
    contact_undos::field,
    contact_undos::old_value,
    contact_undos::new_value,
    contact_undos::expires_at,
) = (
    contact_undos::token_hash,
    contact_undos::user_id,
    contact_undos::field,
    contact_undos::old_value,
    contact_undos::new_value,
    contact_undos::expires_at,
);

fn undo_of(row: UndoRow) -> Result<Undo, StoreError> {
    let (token_hash, user, field, old_value, new_value, expires_at) = row;
    let field = match field.as_str() {
        "email" => Contact::Email,
        "phone" => Contact::PhoneNumber,
        other => return Err(StoreError::Corrupt(format!("contact_undos: unknown field {other:?}"))),
    };
    let user = UserId::parse(&user).ok_or_else(|| StoreError::Corrupt("contact_undos: bad user id".into()))?;
    Ok(Undo { token_hash, user, field, old_value, new_value, expires_at })
}

fn live_undo(conn: &mut crate::DbConnection, token_hash: &[u8], now: i64) -> Result<Option<Undo>, StoreError> {
    contact_undos::table
        .find(token_hash)
        .filter(contact_undos::used_at.is_null())
        .filter(contact_undos::expires_at.gt(now))
        .select(UNDO_COLUMNS)
        .first::<UndoRow>(conn)
        .optional()?
        .map(undo_of)
        .transpose()
}

/// The account's current value of `field`.
fn current(conn: &mut crate::DbConnection, user: &str, field: Contact) -> Result<Option<String>, StoreError> {
    let query = users::table.find(user);
    Ok(match field {
        Contact::Email => query.select(users::email).first::<Option<String>>(conn).optional()?.flatten(),
        Contact::PhoneNumber => query.select(users::phone).first::<Option<String>>(conn).optional()?.flatten(),
    })
}

fn restore(
    conn: &mut crate::DbConnection,
    token_hash: &[u8],
    now: i64,
    ip: std::net::IpAddr,
) -> Result<Restored, StoreError> {
    conn.transaction(|conn| {
        // Spend the link first (a write, so SQLite takes the write lock): two clicks restore once.
        let spent = crate::cached::update(
            contact_undos::table
                .find(token_hash)
                .filter(contact_undos::used_at.is_null())
                .filter(contact_undos::expires_at.gt(now)),
            contact_undos::used_at.eq(Some(now)),
        )
        .execute(conn)?;
        if spent == 0 {
            return Ok(Restored::Gone);
        }
        let row = contact_undos::table.find(token_hash).select(UNDO_COLUMNS).first::<UndoRow>(conn)?;
        let undo = undo_of(row)?;
        // Only while the account still has the value the link replaced: a later change wins.
        if current(conn, undo.user.as_str(), undo.field)?.as_deref() != Some(undo.new_value.as_str()) {
            return Ok(Restored::Gone);
        }
        let change = restoring(undo.field, &undo.old_value)?;
        match crate::admin::change(conn, &undo.user, None, change, now, None)? {
            Saved::Saved { .. } => {}
            Saved::Taken(_) => return Ok(Restored::Taken),
            _ => return Ok(Restored::Gone),
        }
        // The same rule as "This wasn't me": a takeover may have happened, so nobody stays in.
        let sessions_ended = crate::sessions::end_all_in(conn, undo.user.as_str(), now)?;
        let grants_revoked = crate::grants::revoke_all_of_user_in(conn, undo.user.as_str(), now)?;
        let what =
            AdminAudit::ContactRestored { actor: Actor::Owner, ip, field: undo.field, sessions_ended, grants_revoked };
        crate::audit::insert(conn, &AuditEntry { what, user: Some(undo.user.clone()), client: None, at: now })?;
        Ok(Restored::Restored { user: undo.user })
    })
}

#[async_trait::async_trait]
impl AccountStore for Store {
    async fn put_code(&self, code: PendingCode, now: i64) -> Result<(), StorageError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let (user, purpose) = (code.user.as_str(), code.purpose.as_str());
                diesel::delete(account_codes::table.find((user, purpose))).execute(conn)?;
                diesel::insert_into(account_codes::table)
                    .values((
                        account_codes::user_id.eq(user),
                        account_codes::purpose.eq(purpose),
                        account_codes::destination.eq(&code.destination),
                        account_codes::code_hash.eq(&code.code_hash),
                        account_codes::failures.eq(0),
                        account_codes::created_at.eq(now),
                        account_codes::expires_at.eq(code.expires_at),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn code(&self, user: &UserId, purpose: CodeFor) -> Result<Option<PendingCode>, StorageError> {
        let user = user.clone();
        self.run(move |conn| {
            let row = account_codes::table
                .find((user.as_str(), purpose.as_str()))
                .select((
                    account_codes::purpose,
                    account_codes::destination,
                    account_codes::code_hash,
                    account_codes::failures,
                    account_codes::expires_at,
                ))
                .first::<(String, String, Vec<u8>, i32, i64)>(conn)
                .optional()?;
            Ok(row.and_then(|(p, destination, code_hash, failures, expires_at)| {
                let purpose = purpose_of(&p)?;
                Some(PendingCode { user: user.clone(), purpose, destination, code_hash, failures, expires_at })
            }))
        })
        .await
        .map_err(Into::into)
    }

    async fn code_failed(&self, user: &UserId, purpose: CodeFor) -> Result<i32, StorageError> {
        let user = user.to_string();
        self.run(move |conn| {
            conn.transaction(|conn| {
                let target = account_codes::table.find((user.as_str(), purpose.as_str()));
                crate::cached::update(target, account_codes::failures.eq(account_codes::failures + 1)).execute(conn)?;
                Ok(target.select(account_codes::failures).first::<i32>(conn).optional()?.unwrap_or(0))
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn drop_code(&self, user: &UserId, purpose: CodeFor) -> Result<(), StorageError> {
        let user = user.to_string();
        self.run(move |conn| {
            diesel::delete(account_codes::table.find((user.as_str(), purpose.as_str()))).execute(conn)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    async fn prove_contact(
        &self,
        code: &PendingCode,
        version: i64,
        change: UserChange,
        undo: Option<Undo>,
        now: i64,
        audit: AuditChanged,
    ) -> Result<Saved, StorageError> {
        let code = code.clone();
        let spent_already = || StoreError::Query(diesel::result::Error::RollbackTransaction);
        self.run(move |conn| {
            conn.transaction(|conn| {
                // The change first: when it cannot be made (stale, taken) nothing is written, and
                // the code stays for another try.
                let saved = crate::admin::change(conn, &code.user, Some(version), change, now, Some(audit))?;
                if !matches!(saved, Saved::Saved { .. }) {
                    return Ok(saved);
                }
                let spent = diesel::delete(
                    account_codes::table
                        .find((code.user.as_str(), code.purpose.as_str()))
                        .filter(account_codes::code_hash.eq(&code.code_hash)),
                )
                .execute(conn)?;
                if spent == 0 {
                    // Spent by a concurrent confirmation: this one changes nothing.
                    return Err(spent_already());
                }
                if let Some(undo) = undo {
                    diesel::insert_into(contact_undos::table)
                        .values((
                            contact_undos::token_hash.eq(&undo.token_hash),
                            contact_undos::user_id.eq(undo.user.as_str()),
                            contact_undos::field.eq(field_name(undo.field)),
                            contact_undos::old_value.eq(&undo.old_value),
                            contact_undos::new_value.eq(&undo.new_value),
                            contact_undos::created_at.eq(now),
                            contact_undos::expires_at.eq(undo.expires_at),
                        ))
                        .execute(conn)?;
                }
                Ok(saved)
            })
            .or_else(|e| match e {
                StoreError::Query(diesel::result::Error::RollbackTransaction) => Ok(Saved::NotFound),
                other => Err(other),
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn undo(&self, token_hash: &[u8], now: i64) -> Result<Option<Undo>, StorageError> {
        let token_hash = token_hash.to_vec();
        self.run(move |conn| live_undo(conn, &token_hash, now)).await.map_err(Into::into)
    }

    async fn restore_contact(
        &self,
        token_hash: &[u8],
        now: i64,
        ip: std::net::IpAddr,
    ) -> Result<Restored, StorageError> {
        let token_hash = token_hash.to_vec();
        self.run(move |conn| restore(conn, &token_hash, now, ip)).await.map_err(Into::into)
    }

    async fn sign_out_everywhere(&self, user: &UserId, now: i64, ip: std::net::IpAddr) -> Result<(), StorageError> {
        let user = user.clone();
        self.run(move |conn| {
            conn.transaction(|conn| {
                let sessions_ended = crate::sessions::end_all_in(conn, user.as_str(), now)?;
                let grants_revoked = crate::grants::revoke_all_of_user_in(conn, user.as_str(), now)?;
                let what = AdminAudit::SignedOutEverywhere { actor: Actor::Owner, ip, sessions_ended, grants_revoked };
                crate::audit::insert(conn, &AuditEntry { what, user: Some(user.clone()), client: None, at: now })?;
                Ok(())
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn devices_of(&self, user: &UserId) -> Result<Vec<DeviceInfo>, StorageError> {
        let user = user.to_string();
        self.run(move |conn| {
            let rows = devices::table
                .filter(devices::user_id.eq(user))
                .order(devices::last_seen_at.desc())
                .limit(50)
                .select((devices::description, devices::created_at, devices::last_seen_at, devices::blocked_at))
                .load::<(String, i64, i64, Option<i64>)>(conn)?;
            Ok(rows
                .into_iter()
                .map(|(description, first_seen_at, last_seen_at, blocked_at)| DeviceInfo {
                    description,
                    first_seen_at,
                    last_seen_at,
                    blocked: blocked_at.is_some(),
                })
                .collect())
        })
        .await
        .map_err(Into::into)
    }
}

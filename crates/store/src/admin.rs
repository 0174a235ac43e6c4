//! The admin crate's storage: finding, creating and changing accounts. Every change is one
//! transaction with its audit entry, checked against the version it was made from.

use admin::storage::{
    AdminAudit, AuditBlocked, AuditChanged, AuditCreated, AuditEnded, Blocked, Contact, Created, NewUser, Saved,
    SessionDirectory, SessionInfo, SignInEvent, UserChange, UserDirectory, UserQuery,
};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::audit::AuditEntry;
use domain::{StorageError, User, UserId};

use crate::schema::users;
use crate::users::UserRow;
use crate::{Store, StoreError};

/// Why a change transaction stopped: its outcome (rolled back), or a failure.
enum Stop {
    Outcome(Saved),
    Failed(StoreError),
}

impl From<DieselError> for Stop {
    fn from(e: DieselError) -> Self {
        Stop::Failed(e.into())
    }
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Failed(e)
    }
}

fn unique(e: &DieselError) -> bool {
    matches!(e, DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))
}

/// Applies `change` to the account `id` when it is still at `version` (any version for `None`),
/// with its audit entry, all in one transaction.
pub(crate) fn change(
    conn: &mut crate::DbConnection,
    id: &UserId,
    version: Option<i64>,
    change: UserChange,
    now: i64,
    audit: Option<AuditChanged>,
) -> Result<Saved, StoreError> {
    let id = id.as_str();
    let result = conn.transaction(|conn| -> Result<Saved, Stop> {
        // A write first, so SQLite takes the write lock for the whole transaction.
        crate::cached::update(users::table.find(id), users::version.eq(users::version)).execute(conn)?;
        let Some(before) = crate::users::user_in(conn, id)? else {
            return Err(Stop::Outcome(Saved::NotFound));
        };
        let from = version.unwrap_or(before.version);
        // The version is checked in the update itself (RFC 9110 §13.1.1: a stale If-Match changes nothing).
        let bumped = crate::cached::update(
            users::table.find(id).filter(users::version.eq(from)),
            (users::version.eq(from + 1), users::updated_at.eq(now)),
        )
        .execute(conn)?;
        if bumped == 0 {
            return Err(Stop::Outcome(Saved::Stale(Box::new(before))));
        }
        apply(conn, id, &before, &change)?;
        let after = crate::users::user_in(conn, id)?.ok_or_else(|| StoreError::Corrupt("user vanished".into()))?;
        if after.email.is_none() && after.phone.is_none() {
            return Err(Stop::Outcome(Saved::NoContact));
        }
        if let Some(audit) = audit {
            let what = audit(&before, &after);
            crate::audit::insert(conn, &AuditEntry { what, user: Some(after.id.clone()), client: None, at: now })?;
        }
        Ok(Saved::Saved { before: Box::new(before), after: Box::new(after) })
    });
    match result {
        Ok(saved) => Ok(saved),
        Err(Stop::Outcome(saved)) => Ok(saved),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// Writes each field the change names. A new address or number is unverified unless the change
/// says otherwise; the same one keeps its verification.
fn apply(conn: &mut crate::DbConnection, id: &str, before: &User, change: &UserChange) -> Result<(), Stop> {
    let target = users::table.find(id);
    if let Some(profile) = &change.profile {
        crate::cached::update(target, users::profile.eq(crate::to_json(profile))).execute(conn)?;
    }
    if let Some(admin) = change.is_admin {
        crate::cached::update(target, users::is_admin.eq(admin)).execute(conn)?;
    }
    if let Some(email) = &change.email {
        let same = email.as_ref() == before.email.as_ref();
        let verified = email.is_some() && change.email_verified.unwrap_or(same && before.email_verified);
        crate::cached::update(
            target,
            (users::email.eq(email.as_ref().map(|e| e.as_str())), users::email_verified.eq(verified)),
        )
        .execute(conn)
        .map_err(|e| if unique(&e) { Stop::Outcome(Saved::Taken(Contact::Email)) } else { e.into() })?;
    } else if let Some(verified) = change.email_verified {
        crate::cached::update(target.filter(users::email.is_not_null()), users::email_verified.eq(verified))
            .execute(conn)?;
    }
    if let Some(phone) = &change.phone {
        let same = phone.as_ref() == before.phone.as_ref();
        let verified = phone.is_some() && change.phone_verified.unwrap_or(same && before.phone_verified);
        crate::cached::update(
            target,
            (users::phone.eq(phone.as_ref().map(|p| p.as_str())), users::phone_verified.eq(verified)),
        )
        .execute(conn)
        .map_err(|e| if unique(&e) { Stop::Outcome(Saved::Taken(Contact::PhoneNumber)) } else { e.into() })?;
    } else if let Some(verified) = change.phone_verified {
        crate::cached::update(target.filter(users::phone.is_not_null()), users::phone_verified.eq(verified))
            .execute(conn)?;
    }
    Ok(())
}

/// Which of the row's address and number another account already holds.
fn taken(conn: &mut crate::DbConnection, row: &UserRow) -> Result<Option<Contact>, StoreError> {
    let holder = |conn: &mut crate::DbConnection, column_is_email: bool, value: &str| -> Result<bool, StoreError> {
        let query = users::table.select(users::id);
        let found = match column_is_email {
            true => query.filter(users::email.eq(value)).first::<String>(conn).optional()?,
            false => query.filter(users::phone.eq(value)).first::<String>(conn).optional()?,
        };
        Ok(found.is_some())
    };
    if let Some(email) = row.email.as_deref()
        && holder(conn, true, email)?
    {
        return Ok(Some(Contact::Email));
    }
    if let Some(phone) = row.phone.as_deref()
        && holder(conn, false, phone)?
    {
        return Ok(Some(Contact::PhoneNumber));
    }
    Ok(None)
}

/// `%` and `_` match themselves in a LIKE pattern.
fn like_pattern(text: &str) -> String {
    let escaped: String =
        text.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("%{escaped}%")
}

#[async_trait::async_trait]
impl UserDirectory for Store {
    async fn erase_user(&self, id: &UserId, now: i64, audit: AdminAudit) -> Result<bool, StorageError> {
        let id = id.clone();
        Ok(self.run(move |conn| crate::erase::erase(conn, &id, now, || audit)).await?)
    }

    async fn set_blocked(
        &self,
        id: &UserId,
        blocked: bool,
        now: i64,
        audit: AuditBlocked,
    ) -> Result<Option<Blocked>, StorageError> {
        let id = id.clone();
        Ok(self.run(move |conn| self::set_blocked(conn, &id, blocked, now, audit)).await?)
    }

    async fn find_users(&self, query: &UserQuery) -> Result<Vec<User>, StorageError> {
        let query = query.clone();
        self.run(move |conn| {
            let mut q =
                users::table.select(UserRow::as_select()).order(users::id.asc()).limit(query.limit).into_boxed();
            if let Some(after) = &query.after {
                q = q.filter(users::id.gt(after.as_str().to_owned()));
            }
            if let Some(text) = &query.q {
                // Email addresses are stored lower-case; numbers in E.164.
                let pattern = like_pattern(&text.to_lowercase());
                q = q.filter(
                    users::id
                        .eq(text.clone())
                        .or(users::email.like(pattern.clone()).escape('\\'))
                        .or(users::phone.like(pattern).escape('\\')),
                );
            }
            q.load(conn)?.into_iter().map(UserRow::into_user).collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn user(&self, id: &UserId) -> Result<Option<User>, StorageError> {
        Ok(Store::user(self, id).await?)
    }

    async fn link_users(
        &self,
        primary: &UserId,
        secondary: &UserId,
        now: i64,
        audit: AdminAudit,
    ) -> Result<admin::storage::Linked, StorageError> {
        let (p, s) = (primary.clone(), secondary.clone());
        Ok(self.run(move |conn| crate::links::link(conn, &p, &s, now, audit)).await?)
    }

    async fn unlink_users(
        &self,
        primary: &UserId,
        secondary: &UserId,
        now: i64,
        audit: AdminAudit,
    ) -> Result<bool, StorageError> {
        let (p, s) = (primary.clone(), secondary.clone());
        Ok(self.run(move |conn| crate::links::unlink(conn, &p, &s, now, audit)).await?)
    }

    async fn reset_factors(&self, id: &UserId, now: i64, audit: AdminAudit) -> Result<bool, StorageError> {
        let id = id.clone();
        Ok(self.run(move |conn| crate::factors::reset_in(conn, &id, now, audit)).await?)
    }

    async fn linked_to(&self, primary: &UserId) -> Result<Vec<User>, StorageError> {
        let p = primary.clone();
        Ok(self.run(move |conn| crate::links::linked_to(conn, &p)).await?)
    }

    async fn user_by_email(&self, email: &domain::EmailAddress) -> Result<Option<User>, StorageError> {
        Ok(Store::user_by_email(self, email).await?)
    }

    async fn user_by_phone(&self, phone: &domain::PhoneNumber) -> Result<Option<User>, StorageError> {
        Ok(Store::user_by_phone(self, phone).await?)
    }

    async fn create_user(&self, user: NewUser, now: i64, audit: AuditCreated) -> Result<Created, StorageError> {
        let row = UserRow::of(&user, now);
        let created = self.run(move |conn| {
            if let Some(contact) = taken(conn, &row)? {
                return Ok(Created::Taken(contact));
            }
            let inserted = conn.transaction(|conn| -> Result<User, Stop> {
                crate::db::execute(conn, diesel::insert_into(users::table).values(&row))?;
                let created =
                    crate::users::user_in(conn, &row.id)?.ok_or_else(|| StoreError::Corrupt("user vanished".into()))?;
                let entry = AuditEntry { what: audit(&created), user: Some(created.id.clone()), client: None, at: now };
                crate::audit::insert(conn, &entry)?;
                Ok(created)
            });
            match inserted {
                Ok(user) => Ok(Created::Created(Box::new(user))),
                // Another account took the address or number in the meantime.
                Err(Stop::Failed(StoreError::Query(e))) if unique(&e) => {
                    Ok(Created::Taken(taken(conn, &row)?.unwrap_or(Contact::Email)))
                }
                Err(Stop::Failed(e)) => Err(e),
                Err(Stop::Outcome(_)) => Err(StoreError::Corrupt("no outcome is decided while inserting".into())),
            }
        });
        Ok(created.await?)
    }

    async fn change_user(
        &self,
        id: &UserId,
        version: i64,
        change: UserChange,
        now: i64,
        audit: AuditChanged,
    ) -> Result<Saved, StorageError> {
        let id = id.clone();
        Ok(self.run(move |conn| self::change(conn, &id, Some(version), change, now, Some(audit))).await?)
    }
}

/// Blocks or unblocks `id`: see [`UserDirectory::set_blocked`].
fn set_blocked(
    conn: &mut crate::DbConnection,
    id: &UserId,
    blocked: bool,
    now: i64,
    audit: AuditBlocked,
) -> Result<Option<Blocked>, StoreError> {
    conn.transaction(|conn| {
        let target = users::table.find(id.as_str());
        // A block keeps the time it began; an unblock clears it.
        let moved = (users::version.eq(users::version + 1), users::updated_at.eq(now));
        let changed = match blocked {
            true => crate::cached::update(
                target.filter(users::blocked_at.is_null()),
                (users::blocked_at.eq(Some(now)), moved),
            )
            .execute(conn)?,
            false => crate::cached::update(
                target.filter(users::blocked_at.is_not_null()),
                (users::blocked_at.eq(None::<i64>), moved),
            )
            .execute(conn)?,
        };
        let Some(user) = crate::users::user_in(conn, id.as_str())? else {
            return Ok(None);
        };
        let (mut sessions_ended, mut grants_revoked) = (0, 0);
        if blocked {
            // The same rule as "This wasn't me": every session ends, every grant is revoked.
            sessions_ended = crate::sessions::end_all_in(conn, id.as_str(), now)?;
            grants_revoked = crate::grants::revoke_all_of_user_in(conn, id.as_str(), now)?;
        }
        let outcome = Blocked { user: Box::new(user), sessions_ended, grants_revoked };
        if changed > 0 || blocked {
            let entry = AuditEntry { what: audit(&outcome), user: Some(id.clone()), client: None, at: now };
            crate::audit::insert(conn, &entry)?;
        }
        Ok(Some(outcome))
    })
}

#[async_trait::async_trait]
impl SessionDirectory for Store {
    async fn sessions_of(&self, user: &UserId, now: i64) -> Result<Vec<SessionInfo>, StorageError> {
        let user = user.to_string();
        let sessions = self.run(move |conn| crate::sessions::live_of(conn, &user, now)).await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionInfo {
                sid: s.sid,
                created_at: s.created_at,
                expires_at: s.expires_at,
                auth_time: s.auth_time.0,
                amr: s.amr,
                acr: s.acr,
            })
            .collect())
    }

    async fn end_session(&self, sid: &str, now: i64, audit: AuditEnded) -> Result<Option<UserId>, StorageError> {
        let sid = sid.to_owned();
        let ended = self.run(move |conn| {
            conn.transaction(|conn| {
                let Some((id_hash, user)) = crate::sessions::live_by_sid(conn, &sid)? else {
                    return Ok(None);
                };
                let user = crate::parse_id(UserId::parse, &user, "session user")?;
                if !crate::sessions::end_in(conn, &id_hash, now)? {
                    return Ok(None);
                }
                let entry = AuditEntry { what: audit(&user), user: Some(user.clone()), client: None, at: now };
                crate::audit::insert(conn, &entry)?;
                Ok(Some(user))
            })
        });
        Ok(ended.await?)
    }

    async fn sign_ins_of(&self, user: &UserId, limit: i64) -> Result<Vec<SignInEvent>, StorageError> {
        let history = step_up::storage::HistoryStore::login_history(self, user, limit).await?;
        Ok(history
            .into_iter()
            .map(|e| SignInEvent {
                // Each reason by its name (step-up writes them tagged with `reason`), and what the
                // operator's hook said, when it gave a reason (`hook_required: …`).
                reasons: e
                    .reasons
                    .iter()
                    .filter_map(|r| {
                        let r = serde_json::to_value(r).ok()?;
                        let name = r.get("reason")?.as_str()?;
                        Some(match r.get("said").and_then(|s| s.as_str()) {
                            Some(said) => format!("{name}: {said}"),
                            None => name.to_owned(),
                        })
                    })
                    .collect(),
                id: e.id,
                client_id: e.client_id,
                at: e.created_at,
                ip: e.ip,
                country: e.country,
                device: e.device,
                amr: e.amr,
                acr: e.acr,
            })
            .collect())
    }
}

//! Passkeys: the credentials, each account's user handle, and the ceremonies waiting for a
//! browser's answer (taken by the first answer: `DELETE … RETURNING`).

use ::passkeys::storage::{PasskeyAudit, PasskeyStore, PasskeyUse, PendingCeremony, StoredPasskey};
use diesel::prelude::*;
use domain::audit::AuditEntry;
use domain::{StorageError, User, UserId};

use crate::schema::{passkey_ceremonies, passkey_users, passkeys};
use crate::{Store, StoreError};

#[derive(Queryable, Selectable)]
#[diesel(table_name = passkeys)]
struct PasskeyRow {
    id: String,
    user_id: String,
    credential_id: Vec<u8>,
    credential: String,
    sign_count: i64,
    backup_eligible: bool,
    backed_up: bool,
    transports: String,
    aaguid: Option<String>,
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl PasskeyRow {
    fn into_passkey(self) -> Result<StoredPasskey, StoreError> {
        Ok(StoredPasskey {
            user_id: UserId::parse(&self.user_id).ok_or_else(|| StoreError::Corrupt("passkey owner".into()))?,
            sign_count: u32::try_from(self.sign_count).map_err(|_| StoreError::Corrupt("passkey counter".into()))?,
            transports: crate::from_json(&self.transports, "passkey transports")?,
            id: self.id,
            credential_id: self.credential_id,
            credential: self.credential,
            backup_eligible: self.backup_eligible,
            backed_up: self.backed_up,
            aaguid: self.aaguid,
            name: self.name,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        })
    }
}

fn handle_of(conn: &mut crate::DbConnection, user: &str) -> Result<Option<String>, StoreError> {
    Ok(passkey_users::table.find(user).select(passkey_users::handle).first(conn).optional()?)
}

#[async_trait::async_trait]
impl PasskeyStore for Store {
    async fn user_handle(&self, user: &UserId, fresh: &str) -> Result<String, StorageError> {
        let (user, fresh) = (user.to_string(), fresh.to_owned());
        let reader = user.clone();
        if let Some(handle) = self.read(move |conn| handle_of(conn, &reader)).await? {
            return Ok(handle);
        }
        let made = self
            .run(move |conn| {
                conn.transaction(|conn| {
                    if let Some(handle) = handle_of(conn, &user)? {
                        return Ok(handle);
                    }
                    diesel::insert_into(passkey_users::table)
                        .values((passkey_users::user_id.eq(&user), passkey_users::handle.eq(&fresh)))
                        .execute(conn)?;
                    Ok(fresh)
                })
            })
            .await?;
        Ok(made)
    }

    async fn user_by_handle(&self, handle: &str) -> Result<Option<User>, StorageError> {
        let handle = handle.to_owned();
        self.read(move |conn| {
            let owner: Option<String> = passkey_users::table
                .filter(passkey_users::handle.eq(handle))
                .select(passkey_users::user_id)
                .first(conn)
                .optional()?;
            let Some(owner) = owner else { return Ok(None) };
            crate::users::user_in(conn, &owner)
        })
        .await
        .map_err(Into::into)
    }

    async fn put_ceremony(&self, c: PendingCeremony) -> Result<(), StorageError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                diesel::delete(passkey_ceremonies::table.find(&c.key)).execute(conn)?;
                diesel::insert_into(passkey_ceremonies::table)
                    .values((
                        passkey_ceremonies::ceremony_key.eq(&c.key),
                        passkey_ceremonies::user_id.eq(c.user_id.as_ref().map(|u| u.to_string())),
                        passkey_ceremonies::browser_hash.eq(&c.browser_hash),
                        passkey_ceremonies::state.eq(&c.state),
                        passkey_ceremonies::expires_at.eq(c.expires_at),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn take_ceremony(&self, key: &str, now: i64) -> Result<Option<PendingCeremony>, StorageError> {
        let key = key.to_owned();
        let taken = self
            .run(move |conn| {
                Ok(diesel::delete(passkey_ceremonies::table.find(&key))
                    .returning((
                        passkey_ceremonies::ceremony_key,
                        passkey_ceremonies::user_id,
                        passkey_ceremonies::browser_hash,
                        passkey_ceremonies::state,
                        passkey_ceremonies::expires_at,
                    ))
                    .get_result::<(String, Option<String>, Vec<u8>, String, i64)>(conn)
                    .optional()?)
            })
            .await?;
        let Some((key, user, browser_hash, state, expires_at)) = taken else { return Ok(None) };
        if expires_at <= now {
            return Ok(None);
        }
        let user_id = match user {
            Some(u) => Some(UserId::parse(&u).ok_or_else(|| StoreError::Corrupt("ceremony user".into()))?),
            None => None,
        };
        Ok(Some(PendingCeremony { key, user_id, browser_hash, state, expires_at }))
    }

    async fn passkeys(&self, user: &UserId) -> Result<Vec<StoredPasskey>, StorageError> {
        let user = user.to_string();
        self.read(move |conn| {
            passkeys::table
                .filter(passkeys::user_id.eq(user))
                .order((passkeys::created_at.asc(), passkeys::id.asc()))
                .select(PasskeyRow::as_select())
                .load(conn)?
                .into_iter()
                .map(PasskeyRow::into_passkey)
                .collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>, StorageError> {
        let credential_id = credential_id.to_vec();
        self.read(move |conn| {
            passkeys::table
                .filter(passkeys::credential_id.eq(credential_id))
                .select(PasskeyRow::as_select())
                .first(conn)
                .optional()?
                .map(PasskeyRow::into_passkey)
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn add_passkey(&self, p: StoredPasskey, audit: AuditEntry<PasskeyAudit>) -> Result<bool, StorageError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let taken: i64 =
                    passkeys::table.filter(passkeys::credential_id.eq(&p.credential_id)).count().get_result(conn)?;
                if taken > 0 {
                    return Ok(false);
                }
                diesel::insert_into(passkeys::table)
                    .values((
                        passkeys::id.eq(&p.id),
                        passkeys::user_id.eq(p.user_id.as_str()),
                        passkeys::credential_id.eq(&p.credential_id),
                        passkeys::credential.eq(&p.credential),
                        passkeys::sign_count.eq(i64::from(p.sign_count)),
                        passkeys::backup_eligible.eq(p.backup_eligible),
                        passkeys::backed_up.eq(p.backed_up),
                        passkeys::transports.eq(crate::to_json(&p.transports)),
                        passkeys::aaguid.eq(&p.aaguid),
                        passkeys::name.eq(&p.name),
                        passkeys::created_at.eq(p.created_at),
                        passkeys::last_used_at.eq(p.last_used_at),
                    ))
                    .execute(conn)?;
                crate::audit::insert(conn, &audit)?;
                Ok(true)
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn record_use(&self, used: PasskeyUse) -> Result<bool, StorageError> {
        let count = i64::from(used.sign_count);
        self.run(move |conn| {
            let target = passkeys::table.find(&used.id);
            let changes = (
                passkeys::credential.eq(&used.credential),
                passkeys::sign_count.eq(count),
                passkeys::backed_up.eq(used.backed_up),
                passkeys::last_used_at.eq(Some(used.at)),
            );
            // WebAuthn §7.2 step 22: a counter that does not move forward refuses the use; an
            // authenticator that keeps none says 0 every time, and may, while the stored one is 0.
            let n = match count {
                0 => crate::cached::update(target.filter(passkeys::sign_count.eq(0)), changes).execute(conn)?,
                _ => crate::cached::update(target.filter(passkeys::sign_count.lt(count)), changes).execute(conn)?,
            };
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }

    async fn rename_passkey(&self, user: &UserId, id: &str, name: &str) -> Result<bool, StorageError> {
        let (user, id, name) = (user.to_string(), id.to_owned(), name.to_owned());
        self.run(move |conn| {
            let n = crate::cached::update(
                passkeys::table.find(&id).filter(passkeys::user_id.eq(&user)),
                passkeys::name.eq(&name),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }

    async fn remove_passkey(
        &self,
        user: &UserId,
        id: &str,
        audit: AuditEntry<PasskeyAudit>,
    ) -> Result<bool, StorageError> {
        let (user, id) = (user.to_string(), id.to_owned());
        self.run(move |conn| {
            conn.transaction(|conn| {
                let n = diesel::delete(passkeys::table.find(&id).filter(passkeys::user_id.eq(&user))).execute(conn)?;
                if n == 1 {
                    crate::audit::insert(conn, &audit)?;
                }
                Ok(n == 1)
            })
        })
        .await
        .map_err(Into::into)
    }
}

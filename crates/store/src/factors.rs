//! Second factors: authenticator apps (the TOTP secret sealed at rest, the last time step
//! accepted, and a pending enrolment's sign-in) and single-use recovery codes (keyed hashes).

use diesel::prelude::*;
use domain::{InteractionId, StorageError, UserId};
use step_up::storage::{Confirm, FactorStore, TotpFactor};

use crate::Store;
use crate::schema::{recovery_codes, totp_factors};

#[async_trait::async_trait]
impl FactorStore for Store {
    async fn totp_factor(&self, user: &UserId) -> Result<Option<TotpFactor>, StorageError> {
        let user = user.to_string();
        self.read(move |conn| {
            let row: Option<(Vec<u8>, i64, Option<i64>, Option<i64>, Option<String>)> =
                crate::db::on_backend!(conn, |c| {
                    totp_factors::table
                        .find(&user)
                        .select((
                            totp_factors::sealed_secret,
                            totp_factors::created_at,
                            totp_factors::confirmed_at,
                            totp_factors::last_step,
                            totp_factors::interaction_id,
                        ))
                        .first(c)
                        .optional()
                })?;
            Ok(row.map(|(sealed_secret, created_at, confirmed_at, last_step, interaction)| TotpFactor {
                sealed_secret,
                created_at,
                confirmed_at,
                last_step,
                interaction_id: interaction.as_deref().and_then(InteractionId::parse),
            }))
        })
        .await
        .map_err(Into::into)
    }

    /// Starts (or restarts) an enrolment for the sign-in `interaction`: a new secret, unconfirmed.
    /// A confirmed factor is kept.
    async fn begin_totp(
        &self,
        user: &UserId,
        sealed_secret: Vec<u8>,
        interaction: &InteractionId,
        now: i64,
    ) -> Result<bool, StorageError> {
        let (user, interaction) = (user.to_string(), interaction.to_string());
        self.run(move |conn| {
            conn.transaction(|conn| {
                // Writes only (SQLite takes its write lock at the first, never upgrading a read):
                // restart a pending enrolment, or create one, but never touch a confirmed factor.
                let restarted = crate::cached::update(
                    totp_factors::table.find(&user).filter(totp_factors::confirmed_at.is_null()),
                    (
                        totp_factors::sealed_secret.eq(&sealed_secret),
                        totp_factors::created_at.eq(now),
                        totp_factors::interaction_id.eq(Some(&interaction)),
                    ),
                )
                .execute(conn)?;
                if restarted == 1 {
                    return Ok(true);
                }
                // A confirmed factor is kept (matched by a write that changes nothing).
                let confirmed = crate::cached::update(
                    totp_factors::table.find(&user),
                    totp_factors::user_id.eq(totp_factors::user_id),
                )
                .execute(conn)?;
                if confirmed == 1 {
                    return Ok(false);
                }
                diesel::insert_into(totp_factors::table)
                    .values((
                        totp_factors::user_id.eq(&user),
                        totp_factors::sealed_secret.eq(&sealed_secret),
                        totp_factors::created_at.eq(now),
                        totp_factors::interaction_id.eq(Some(&interaction)),
                    ))
                    .execute(conn)?;
                Ok(true)
            })
        })
        .await
        .map_err(Into::into)
    }

    /// Accepts a TOTP time step: true only if it is later than every step accepted before (RFC 6238
    /// §5.2: a code is accepted once), and atomically, so two parallel submissions cannot both win.
    /// With `confirm`, a pending enrolment of that sign-in becomes active and its recovery codes
    /// replace any older ones.
    async fn accept_totp_step(
        &self,
        user: &UserId,
        step: i64,
        confirm: Option<Confirm<'_>>,
        now: i64,
    ) -> Result<bool, StorageError> {
        let user = user.to_string();
        let confirm = confirm.map(|c| (c.interaction.to_string(), c.recovery_codes));
        self.run(move |conn| {
            conn.transaction(|conn| {
                let target = totp_factors::table
                    .find(&user)
                    .filter(totp_factors::last_step.is_null().or(totp_factors::last_step.lt(step)));
                let n = match &confirm {
                    Some((interaction, _)) => crate::cached::update(
                        target
                            .filter(totp_factors::confirmed_at.is_null())
                            .filter(totp_factors::interaction_id.eq(interaction)),
                        (
                            totp_factors::last_step.eq(Some(step)),
                            totp_factors::confirmed_at.eq(Some(now)),
                            totp_factors::interaction_id.eq(None::<String>),
                        ),
                    )
                    .execute(conn)?,
                    None => crate::cached::update(
                        target.filter(totp_factors::confirmed_at.is_not_null()),
                        totp_factors::last_step.eq(Some(step)),
                    )
                    .execute(conn)?,
                };
                if n == 1
                    && let Some((_, codes)) = confirm
                {
                    replace_codes(conn, &user, codes, now)?;
                }
                Ok(n == 1)
            })
        })
        .await
        .map_err(Into::into)
    }

    /// Spends a recovery code of the user. True exactly once per code.
    async fn use_recovery_code(&self, user: &UserId, hash: Vec<u8>, now: i64) -> Result<bool, StorageError> {
        let user = user.to_string();
        self.run(move |conn| {
            let n = crate::cached::update(
                recovery_codes::table
                    .find(hash)
                    .filter(recovery_codes::user_id.eq(user))
                    .filter(recovery_codes::used_at.is_null()),
                recovery_codes::used_at.eq(Some(now)),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }

    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        hashes: Vec<Vec<u8>>,
        now: i64,
    ) -> Result<bool, StorageError> {
        let user = user.to_string();
        self.run(move |conn| {
            conn.transaction(|conn| {
                // A write first (SQLite's write lock), matching only a confirmed authenticator.
                let confirmed = crate::cached::update(
                    totp_factors::table.find(&user).filter(totp_factors::confirmed_at.is_not_null()),
                    totp_factors::user_id.eq(totp_factors::user_id),
                )
                .execute(conn)?;
                if confirmed == 0 {
                    return Ok(false);
                }
                replace_codes(conn, &user, hashes, now)?;
                Ok(true)
            })
        })
        .await
        .map_err(Into::into)
    }

    /// Recovery codes the user has left.
    async fn recovery_codes_left(&self, user: &UserId) -> Result<i64, StorageError> {
        let user = user.to_string();
        self.read(move |conn| {
            Ok(recovery_codes::table
                .filter(recovery_codes::user_id.eq(user))
                .filter(recovery_codes::used_at.is_null())
                .count()
                .get_result(conn)?)
        })
        .await
        .map_err(Into::into)
    }
}

/// The user's recovery codes become `hashes`, all unused, in the caller's transaction.
fn replace_codes(
    conn: &mut crate::DbConnection,
    user: &str,
    hashes: Vec<Vec<u8>>,
    now: i64,
) -> Result<(), diesel::result::Error> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user))).execute(conn)?;
    for hash in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::code_hash.eq(hash),
                recovery_codes::user_id.eq(user),
                recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Removes the account's authenticator and recovery codes, with `audit`, in one transaction; the
/// next sign-in that needs a second factor sets one up again. False when there was none.
pub(crate) fn reset_in<D: domain::audit::Audited>(
    conn: &mut crate::DbConnection,
    user: &UserId,
    now: i64,
    audit: D,
) -> Result<bool, crate::StoreError> {
    conn.transaction(|conn| {
        let factors =
            diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user.as_str()))).execute(conn)?;
        let codes =
            diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.as_str()))).execute(conn)?;
        if factors + codes == 0 {
            return Ok(false);
        }
        let entry = domain::audit::AuditEntry { what: audit, user: Some(user.clone()), client: None, at: now };
        crate::audit::insert(conn, &entry)?;
        Ok(true)
    })
}

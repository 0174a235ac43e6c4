//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): rotated on every use, bound to their client,
//! with an absolute lifetime. One family per grant, so reuse of a spent token revokes the grant
//! and everything issued from it.

use authorization_server::storage::{RefreshStore, RefreshToken, RefreshUse};
use diesel::prelude::*;
use domain::{AuthTime, ClientId, GrantId, Scope, StorageError, UserId};

use crate::schema::refresh_tokens;
use crate::{Store, StoreError, claims_column, from_json, parse_acr, parse_claims, parse_id, to_json};

/// `treat_none_as_default_value = false`, as every row the store inserts: see `crate::cached`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
struct RefreshRow {
    token_hash: Vec<u8>,
    grant_id: String,
    client_id: String,
    user_id: String,
    sid: String,
    scope: String,
    amr: String,
    acr: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    successor_hash: Option<Vec<u8>>,
    claims: Option<String>,
    dpop_jkt: Option<String>,
}

impl RefreshRow {
    fn into_token(self) -> Result<RefreshToken, StoreError> {
        Ok(RefreshToken {
            client_id: parse_id(ClientId::parse, &self.client_id, "refresh client")?,
            user_id: parse_id(UserId::parse, &self.user_id, "refresh user")?,
            grant_id: parse_id(GrantId::parse, &self.grant_id, "refresh grant")?,
            amr: from_json(&self.amr, "refresh amr")?,
            acr: parse_acr(&self.acr, "refresh acr")?,
            token_hash: self.token_hash,
            sid: self.sid,
            scope: Scope::parse(&self.scope),
            auth_time: AuthTime(self.auth_time),
            claims: parse_claims(self.claims.as_deref(), "refresh claims")?,
            dpop_jkt: self.dpop_jkt,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

impl RefreshRow {
    fn of(t: &RefreshToken) -> RefreshRow {
        RefreshRow {
            token_hash: t.token_hash.clone(),
            grant_id: t.grant_id.to_string(),
            client_id: t.client_id.to_string(),
            user_id: t.user_id.to_string(),
            sid: t.sid.clone(),
            scope: t.scope.to_string(),
            amr: to_json(&t.amr),
            acr: t.acr.as_str().to_owned(),
            auth_time: t.auth_time.0,
            created_at: t.created_at,
            expires_at: t.expires_at,
            used_at: None,
            revoked_at: None,
            successor_hash: None,
            claims: claims_column(&t.claims),
            dpop_jkt: t.dpop_jkt.clone(),
        }
    }
}

#[async_trait::async_trait]
impl RefreshStore for Store {
    /// Stores the first refresh token of a grant, in one transaction with a check that the grant is
    /// not revoked (under its row lock). False, storing nothing, when it is: a revocation that
    /// happened while the code was being exchanged is final.
    async fn insert_refresh_token(&self, t: &RefreshToken) -> Result<bool, StorageError> {
        let t = t.clone();
        self.atomic(move |conn| {
            if !crate::grants::lock_live_grant(conn, t.grant_id.as_str())? {
                return Ok(false);
            }
            insert_in(conn, &t)?;
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    /// Reads a refresh token without spending it (to check client, lifetime and scope first).
    async fn refresh_token(&self, token_hash: Vec<u8>) -> Result<Option<RefreshToken>, StorageError> {
        self.read(move |conn| {
            let Some(row) =
                refresh_tokens::table.find(&token_hash).select(RefreshRow::as_select()).first(conn).optional()?
            else {
                return Ok(None);
            };
            Ok(Some(row.into_token()?))
        })
        .await
        .map_err(Into::into)
    }

    /// Whether a refresh token could still be used: not spent, not revoked, not past its deadline.
    async fn refresh_token_is_live(&self, token_hash: Vec<u8>, now: i64) -> Result<bool, StorageError> {
        self.read(move |conn| {
            let n: i64 = refresh_tokens::table
                .find(token_hash)
                .filter(refresh_tokens::used_at.is_null())
                .filter(refresh_tokens::revoked_at.is_null())
                .filter(refresh_tokens::expires_at.gt(now))
                .count()
                .get_result(conn)?;
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }

    /// Rotates a refresh token in one transaction: takes the grant's row lock (so a revocation is
    /// either wholly before, and nothing is spent or issued, or wholly after, and revokes the
    /// successor too), spends the presented token, and stores `successor`. Of concurrent
    /// presentations exactly one is `Fresh`. A later one is a `Retry` when it comes within `leeway`
    /// seconds of the first use and the successor then issued is still unused: that successor is
    /// deleted and `successor` takes its place, so the family keeps one live token. Any other is a
    /// reuse that revokes the grant (RFC 9700 §4.14.2). `successor.grant_id` must be the presented
    /// token's.
    async fn rotate_refresh_token(
        &self,
        token_hash: Vec<u8>,
        successor: &RefreshToken,
        now: i64,
        leeway: i64,
    ) -> Result<RefreshUse, StorageError> {
        let next = RefreshRow::of(successor);
        self.atomic(move |conn| {
            if !crate::grants::lock_live_grant(conn, &next.grant_id)? {
                return Ok(RefreshUse::Revoked);
            }
            // The winner's row comes back with its update (`RETURNING`), not from a second read.
            let won: Option<RefreshRow> = crate::db::on_backend!(conn, |c| {
                crate::cached::update(
                    refresh_tokens::table
                        .find(&token_hash)
                        .filter(refresh_tokens::grant_id.eq(&next.grant_id))
                        .filter(refresh_tokens::used_at.is_null())
                        .filter(refresh_tokens::revoked_at.is_null()),
                    (refresh_tokens::used_at.eq(Some(now)), refresh_tokens::successor_hash.eq(&next.token_hash)),
                )
                .returning(RefreshRow::as_select())
                .get_result(c)
                .optional()
            })?;
            if let Some(row) = won {
                crate::db::execute(conn, diesel::insert_into(refresh_tokens::table).values(&next))?;
                return Ok(RefreshUse::Fresh(Box::new(row.into_token()?)));
            }
            let Some(row) =
                refresh_tokens::table.find(&token_hash).select(RefreshRow::as_select()).first(conn).optional()?
            else {
                return Ok(RefreshUse::Unknown);
            };
            if row.grant_id != next.grant_id {
                return Ok(RefreshUse::Unknown);
            }
            if replace_unused_successor(conn, &row, &next, now, leeway)? {
                crate::db::execute(conn, diesel::insert_into(refresh_tokens::table).values(&next))?;
                return Ok(RefreshUse::Retry(Box::new(row.into_token()?)));
            }
            let client_id = parse_id(ClientId::parse, &row.client_id, "refresh client")?;
            crate::grants::revoke_grant_in(conn, &row.grant_id, now)?;
            // RFC 9700 §4.14.2: a stolen token or a broken client; either way, the operator hears of it.
            let detail = serde_json::json!({ "grant_id": row.grant_id, "sid": row.sid });
            let fact = crate::events::Fact {
                user: Some(&row.user_id),
                client: Some(&row.client_id),
                source: "refresh",
                detail,
                at: now,
            };
            crate::events::emit_in(conn, domain::events::EventType::RefreshTokenReused, &fact)?;
            Ok(RefreshUse::Reused { client_id })
        })
        .await
        .map_err(Into::into)
    }
}

/// A spent token presented again: when it was spent at most `leeway` seconds ago and the successor
/// it was rotated into has not been used (the client most likely never got the answer: a lost
/// connection, a crash before the response), deletes that successor and records `next` as the new
/// one. False, changing nothing, otherwise.
fn replace_unused_successor(
    conn: &mut crate::DbConnection,
    row: &RefreshRow,
    next: &RefreshRow,
    now: i64,
    leeway: i64,
) -> Result<bool, StoreError> {
    let (Some(used_at), None, Some(previous)) = (row.used_at, row.revoked_at, &row.successor_hash) else {
        return Ok(false);
    };
    if leeway <= 0 || now.saturating_sub(used_at) > leeway {
        return Ok(false);
    }
    let unused = refresh_tokens::table
        .find(previous)
        .filter(refresh_tokens::used_at.is_null())
        .filter(refresh_tokens::revoked_at.is_null());
    if diesel::delete(unused).execute(conn)? != 1 {
        return Ok(false);
    }
    crate::cached::update(
        refresh_tokens::table.find(&row.token_hash),
        refresh_tokens::successor_hash.eq(&next.token_hash),
    )
    .execute(conn)?;
    Ok(true)
}

/// Stores a grant's refresh token inside the caller's transaction; the caller has made sure the
/// grant is live (`lock_live_grant`, or the code's redemption).
pub(crate) fn insert_in(conn: &mut crate::DbConnection, t: &RefreshToken) -> Result<(), StoreError> {
    crate::db::execute(conn, diesel::insert_into(refresh_tokens::table).values(&RefreshRow::of(t)))?;
    Ok(())
}

//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): rotated on every use, bound to their client,
//! with an absolute lifetime. One family per grant, so reuse of a spent token revokes the grant
//! and everything issued from it.

use diesel::prelude::*;
use domain::{ClientId, UserId};

use crate::schema::refresh_tokens;
use crate::{Store, StoreError};

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub token_hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub sid: String,
    pub scope: String,
    pub amr: String,
    pub acr: String,
    pub auth_time: i64,
    pub created_at: i64,
    /// The family's absolute deadline: rotation never extends it.
    pub expires_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
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
}

impl RefreshRow {
    fn into_token(self) -> Result<RefreshToken, StoreError> {
        Ok(RefreshToken {
            client_id: ClientId::parse(&self.client_id).ok_or_else(|| StoreError::Corrupt("refresh client".into()))?,
            user_id: UserId::parse(&self.user_id).ok_or_else(|| StoreError::Corrupt("refresh user".into()))?,
            token_hash: self.token_hash,
            grant_id: self.grant_id,
            sid: self.sid,
            scope: self.scope,
            amr: self.amr,
            acr: self.acr,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// The result of presenting a refresh token.
#[derive(Debug)]
pub enum RefreshUse {
    /// First use: the token is now spent and its successor stored, in one transaction.
    Fresh(Box<RefreshToken>),
    /// Spent before: the grant and every token issued from it are now revoked.
    Reused {
        client_id: ClientId,
    },
    /// Its grant was revoked: nothing was spent or issued.
    Revoked,
    Unknown,
}

impl RefreshToken {
    fn row(&self) -> RefreshRow {
        RefreshRow {
            token_hash: self.token_hash.clone(),
            grant_id: self.grant_id.clone(),
            client_id: self.client_id.to_string(),
            user_id: self.user_id.to_string(),
            sid: self.sid.clone(),
            scope: self.scope.clone(),
            amr: self.amr.clone(),
            acr: self.acr.clone(),
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            used_at: None,
            revoked_at: None,
        }
    }
}

impl Store {
    /// Stores the first refresh token of a grant, in one transaction with a check that the grant is
    /// not revoked (under its row lock). False, storing nothing, when it is: a revocation that
    /// happened while the code was being exchanged is final.
    pub async fn insert_refresh_token(&self, t: &RefreshToken) -> Result<bool, StoreError> {
        let row = t.row();
        self.run(move |conn| {
            conn.transaction(|conn| {
                if !crate::grants::lock_live_grant(conn, &row.grant_id)? {
                    return Ok(false);
                }
                diesel::insert_into(refresh_tokens::table).values(&row).execute(conn)?;
                Ok(true)
            })
        })
        .await
    }

    /// Reads a refresh token without spending it (to check client, lifetime and scope first).
    pub async fn refresh_token(&self, token_hash: Vec<u8>) -> Result<Option<RefreshToken>, StoreError> {
        self.run(move |conn| {
            let Some(row) =
                refresh_tokens::table.find(&token_hash).select(RefreshRow::as_select()).first(conn).optional()?
            else {
                return Ok(None);
            };
            Ok(Some(row.into_token()?))
        })
        .await
    }

    /// Whether a refresh token could still be used: not spent, not revoked, not past its deadline.
    pub async fn refresh_token_is_live(&self, token_hash: Vec<u8>, now: i64) -> Result<bool, StoreError> {
        self.run(move |conn| {
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
    }

    /// Rotates a refresh token in one transaction: takes the grant's row lock (so a revocation is
    /// either wholly before, and nothing is spent or issued, or wholly after, and revokes the
    /// successor too), spends the presented token, and stores `successor`. Of concurrent
    /// presentations exactly one is `Fresh`; a later one is a reuse that revokes the grant
    /// (RFC 9700 §4.14.2). `successor.grant_id` must be the presented token's.
    pub async fn rotate_refresh_token(
        &self,
        token_hash: Vec<u8>,
        successor: &RefreshToken,
        now: i64,
    ) -> Result<RefreshUse, StoreError> {
        let next = successor.row();
        self.run(move |conn| {
            conn.transaction(|conn| {
                if !crate::grants::lock_live_grant(conn, &next.grant_id)? {
                    return Ok(RefreshUse::Revoked);
                }
                let won = diesel::update(
                    refresh_tokens::table
                        .find(&token_hash)
                        .filter(refresh_tokens::grant_id.eq(&next.grant_id))
                        .filter(refresh_tokens::used_at.is_null())
                        .filter(refresh_tokens::revoked_at.is_null()),
                )
                .set(refresh_tokens::used_at.eq(Some(now)))
                .execute(conn)?
                    == 1;
                let Some(row) =
                    refresh_tokens::table.find(&token_hash).select(RefreshRow::as_select()).first(conn).optional()?
                else {
                    return Ok(RefreshUse::Unknown);
                };
                if row.grant_id != next.grant_id {
                    return Ok(RefreshUse::Unknown);
                }
                let client_id =
                    ClientId::parse(&row.client_id).ok_or_else(|| StoreError::Corrupt("refresh client".into()))?;
                if !won {
                    crate::grants::revoke_grant_in(conn, &row.grant_id, now)?;
                    return Ok(RefreshUse::Reused { client_id });
                }
                diesel::insert_into(refresh_tokens::table).values(&next).execute(conn)?;
                Ok(RefreshUse::Fresh(Box::new(row.into_token()?)))
            })
        })
        .await
    }
}

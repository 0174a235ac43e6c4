use diesel::prelude::*;
use domain::UserId;

use crate::schema::sessions;
use crate::{Store, StoreError};

/// A browser session at the provider. Its cookie value is stored only as a keyed hash.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: Vec<u8>,
    /// The public session id (`sid` claim, OIDC Front/Back-Channel Logout).
    pub sid: String,
    pub user_id: UserId,
    /// JSON list of `amr` values.
    pub amr: String,
    pub acr: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id_hash: Vec<u8>,
    sid: String,
    user_id: String,
    amr: String,
    acr: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
}

impl Store {
    pub async fn insert_session(&self, s: &Session) -> Result<(), StoreError> {
        let row = SessionRow {
            id_hash: s.id_hash.clone(),
            sid: s.sid.clone(),
            user_id: s.user_id.to_string(),
            amr: s.amr.clone(),
            acr: s.acr.clone(),
            auth_time: s.auth_time,
            created_at: s.created_at,
            expires_at: s.expires_at,
            ended_at: None,
        };
        self.run(move |conn| {
            diesel::insert_into(sessions::table).values(&row).execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The live session whose cookie hashes to `id_hash`.
    pub async fn session(&self, id_hash: Vec<u8>, now: i64) -> Result<Option<Session>, StoreError> {
        self.run(move |conn| {
            let row = sessions::table
                .find(id_hash)
                .filter(sessions::ended_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?;
            row.map(|r| {
                Ok(Session {
                    id_hash: r.id_hash,
                    sid: r.sid,
                    user_id: UserId::parse(&r.user_id).ok_or_else(|| StoreError::Corrupt("session user".into()))?,
                    amr: r.amr,
                    acr: r.acr,
                    auth_time: r.auth_time,
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                })
            })
            .transpose()
        })
        .await
    }

    /// Ends a session (logout, or a new login in the same browser) and, in the same transaction,
    /// revokes the grants issued in it that were not for offline access: tokens without
    /// `offline_access` live no longer than the sign-in they came from, while `offline_access` is
    /// the client's request to act when the user is away (OIDC Core §11). Returns whether a live
    /// session was ended.
    pub async fn end_session(&self, id_hash: Vec<u8>, now: i64) -> Result<bool, StoreError> {
        use crate::schema::authorization_codes;
        self.run(move |conn| {
            conn.transaction(|conn| {
                let n = diesel::update(sessions::table.find(&id_hash).filter(sessions::ended_at.is_null()))
                    .set(sessions::ended_at.eq(Some(now)))
                    .execute(conn)?;
                if n != 1 {
                    return Ok(false);
                }
                let sid: String = sessions::table.find(&id_hash).select(sessions::sid).first(conn)?;
                let grants: Vec<String> = authorization_codes::table
                    .filter(authorization_codes::sid.eq(&sid))
                    .filter(authorization_codes::revoked_at.is_null())
                    .filter(authorization_codes::scope.not_like("%offline_access%"))
                    .select(authorization_codes::grant_id)
                    .load(conn)?;
                for grant in &grants {
                    crate::grants::revoke_grant_in(conn, grant, now)?;
                }
                Ok(true)
            })
        })
        .await
    }

    /// How many sessions a user has had (live or not); used by tests and, later, the admin.
    pub async fn count_sessions(&self, user_id: &UserId) -> Result<i64, StoreError> {
        let user_id = user_id.to_string();
        self.run(move |conn| Ok(sessions::table.filter(sessions::user_id.eq(user_id)).count().get_result(conn)?)).await
    }
}

/// Ends every live session of a user, inside the caller's transaction. Returns how many.
pub(crate) fn end_all_in(conn: &mut crate::DbConnection, user_id: &str, now: i64) -> Result<usize, StoreError> {
    Ok(diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::ended_at.is_null()))
        .set(sessions::ended_at.eq(Some(now)))
        .execute(conn)?)
}

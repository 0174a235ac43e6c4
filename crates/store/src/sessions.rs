//! Browser sessions at the provider ([`SessionStore`]).

use authorization_server::storage::{Session, SessionStart, SessionStore};
use diesel::prelude::*;
use domain::{AuthTime, ClientId, StorageError, UserId};

use crate::schema::sessions;
use crate::{Store, StoreError, from_json, parse_acr, parse_id, to_json};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, treat_none_as_default_value = false)]
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

impl SessionRow {
    fn into_session(self) -> Result<Session, StoreError> {
        Ok(Session {
            user_id: parse_id(UserId::parse, &self.user_id, "session user")?,
            amr: from_json(&self.amr, "session amr")?,
            acr: parse_acr(&self.acr, "session acr")?,
            id_hash: self.id_hash,
            sid: self.sid,
            auth_time: AuthTime(self.auth_time),
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

impl Store {
    /// How many sessions a user has had (live or not); used by tests and, later, the admin.
    pub async fn count_sessions(&self, user_id: &UserId) -> Result<i64, StoreError> {
        let user_id = user_id.to_string();
        self.run(move |conn| Ok(sessions::table.filter(sessions::user_id.eq(user_id)).count().get_result(conn)?)).await
    }
}

#[async_trait::async_trait]
impl SessionStore for Store {
    async fn start_session(&self, start: &SessionStart, now: i64) -> Result<bool, StorageError> {
        let start = start.clone();
        self.atomic(move |conn| {
            if let Some(id) = &start.resumes
                && !crate::interactions::resume_in(conn, id.as_str(), now)?
            {
                return Ok(false);
            }
            if let Some(old) = &start.replaces {
                end_audited_in(conn, old, now)?;
            }
            let s = &start.session;
            let row = SessionRow {
                id_hash: s.id_hash.clone(),
                sid: s.sid.clone(),
                user_id: s.user_id.to_string(),
                amr: to_json(&s.amr),
                acr: s.acr.as_str().to_owned(),
                auth_time: s.auth_time.0,
                created_at: s.created_at,
                expires_at: s.expires_at,
                ended_at: None,
            };
            crate::db::execute(conn, diesel::insert_into(sessions::table).values(&row))?;
            crate::grants::insert_code_in(conn, &start.code)?;
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    async fn session(&self, id_hash: Vec<u8>, now: i64) -> Result<Option<Session>, StorageError> {
        self.read(move |conn| {
            sessions::table
                .find(id_hash)
                .filter(sessions::ended_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?
                .map(SessionRow::into_session)
                .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn end_session(&self, id_hash: Vec<u8>, now: i64) -> Result<bool, StorageError> {
        self.run(move |conn| conn.transaction(|conn| end_audited_in(conn, &id_hash, now))).await.map_err(Into::into)
    }

    async fn session_clients(&self, sid: &str) -> Result<Vec<ClientId>, StorageError> {
        use crate::schema::authorization_codes as codes;
        let sid = sid.to_owned();
        let ids: Vec<String> = self
            .read(move |conn| {
                Ok(codes::table.filter(codes::sid.eq(&sid)).select(codes::client_id).distinct().load(conn)?)
            })
            .await?;
        Ok(ids.iter().filter_map(|id| ClientId::parse(id)).collect())
    }
}

/// Ends a live session as `end_in` does, and emits `session.ended`, inside the caller's
/// transaction. False when it had already ended or never existed.
fn end_audited_in(conn: &mut crate::DbConnection, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
    if !end_in(conn, id_hash, now)? {
        return Ok(false);
    }
    // At logout, or on switching accounts: the admin's and the owner's ends are audited.
    let (user, sid): (String, String) =
        sessions::table.find(id_hash).select((sessions::user_id, sessions::sid)).first(conn)?;
    let detail = serde_json::json!({ "sid": sid });
    let fact = crate::events::Fact { user: Some(&user), client: None, source: "logout", detail, at: now };
    crate::events::emit_in(conn, domain::events::EventType::SessionEnded, &fact)?;
    Ok(true)
}

/// Ends one live session and revokes the grants issued in it that end with it, inside the caller's
/// transaction. False when it had already ended or never existed.
pub(crate) fn end_in(conn: &mut crate::DbConnection, id_hash: &[u8], now: i64) -> Result<bool, StoreError> {
    use crate::schema::authorization_codes;
    let n = crate::cached::update(
        sessions::table.find(id_hash).filter(sessions::ended_at.is_null()),
        sessions::ended_at.eq(Some(now)),
    )
    .execute(conn)?;
    if n != 1 {
        return Ok(false);
    }
    let (sid, user): (String, String) =
        sessions::table.find(id_hash).select((sessions::sid, sessions::user_id)).first(conn)?;
    crate::logout_notices::notify_in(conn, &sid, &user, now)?;
    let grants: Vec<String> = authorization_codes::table
        .filter(authorization_codes::sid.eq(&sid))
        .filter(authorization_codes::revoked_at.is_null())
        .filter(authorization_codes::ends_with_session.eq(true))
        .select(authorization_codes::grant_id)
        .load(conn)?;
    for grant in &grants {
        crate::grants::revoke_grant_in(conn, grant, now)?;
    }
    Ok(true)
}

/// The live sessions of a user, newest first.
pub(crate) fn live_of(conn: &mut crate::DbConnection, user_id: &str, now: i64) -> Result<Vec<Session>, StoreError> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order((sessions::created_at.desc(), sessions::sid.desc()))
        .limit(1000)
        .select(SessionRow::as_select())
        .load(conn)?
        .into_iter()
        .map(SessionRow::into_session)
        .collect()
}

/// The keyed hash of the live session named `sid` (the ID tokens' `sid` claim).
/// Starts with a write on the row, so SQLite takes the write lock for the caller's transaction.
pub(crate) fn live_by_sid(conn: &mut crate::DbConnection, sid: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
    crate::cached::update(sessions::table.filter(sessions::sid.eq(sid)), sessions::sid.eq(sessions::sid))
        .execute(conn)?;
    Ok(sessions::table
        .filter(sessions::sid.eq(sid))
        .filter(sessions::ended_at.is_null())
        .select((sessions::id_hash, sessions::user_id))
        .first(conn)
        .optional()?)
}

/// Ends every live session of a user, inside the caller's transaction. Returns how many.
/// Each one's clients are told through Back-Channel Logout.
pub(crate) fn end_all_in(conn: &mut crate::DbConnection, user_id: &str, now: i64) -> Result<usize, StoreError> {
    let live = sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::ended_at.is_null());
    // Only sessions still live are told of: one that expired unended signed nobody out now.
    let sids: Vec<String> = live.filter(sessions::expires_at.gt(now)).select(sessions::sid).load(conn)?;
    let ended = crate::cached::update(live, sessions::ended_at.eq(Some(now))).execute(conn)?;
    for sid in &sids {
        crate::logout_notices::notify_in(conn, sid, user_id, now)?;
    }
    Ok(ended)
}

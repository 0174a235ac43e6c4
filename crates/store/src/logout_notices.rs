//! Back-Channel Logout's notices ([`LogoutNoticeStore`]): written with the end of a session, in
//! its transaction, for each client signed in through it that registered a
//! `backchannel_logout_uri`; leased, settled and retried by the worker in `authorization_server`.

use authorization_server::storage::{LogoutNotice, LogoutNoticeStore};
use diesel::dsl;
use diesel::prelude::*;
use domain::{ClientId, ClientSettings, StorageError, UserId};

use crate::schema::{authorization_codes, clients, logout_notices};
use crate::{Store, StoreError, from_json, parse_id};

/// Writes the notices for the session `sid` of `user_id`, ended at `now`, inside the caller's
/// transaction: one per client that was issued a code in it (Back-Channel Logout §2.1: the RPs
/// the user is logged in to through it) and has a `backchannel_logout_uri` now.
pub(crate) fn notify_in(conn: &mut crate::DbConnection, sid: &str, user_id: &str, now: i64) -> Result<(), StoreError> {
    let signed_in: Vec<String> = authorization_codes::table
        .filter(authorization_codes::sid.eq(sid))
        .select(authorization_codes::client_id)
        .distinct()
        .load(conn)?;
    if signed_in.is_empty() {
        return Ok(());
    }
    let settings: Vec<(String, String)> =
        clients::table.filter(clients::id.eq_any(&signed_in)).select((clients::id, clients::settings)).load(conn)?;
    for (client_id, settings) in settings {
        let settings: ClientSettings = from_json(&settings, "client settings")?;
        if settings.backchannel_logout_uri.is_none() {
            continue;
        }
        diesel::insert_into(logout_notices::table)
            .values((
                logout_notices::jti.eq(domain::secret::random_token(16)),
                logout_notices::client_id.eq(&client_id),
                logout_notices::user_id.eq(user_id),
                logout_notices::sid.eq(sid),
                logout_notices::created_at.eq(now),
                logout_notices::next_attempt_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

type OneNotice<'a> = dsl::Find<logout_notices::table, &'a str>;
type Leased<'a> = dsl::Filter<
    dsl::Filter<
        dsl::Filter<OneNotice<'a>, dsl::IsNull<logout_notices::settled_at>>,
        dsl::Eq<logout_notices::attempts, i32>,
    >,
    dsl::Eq<logout_notices::next_attempt_at, i64>,
>;

/// The notice's row while `n`'s lease is still its own: not settled, and no later attempt took it.
fn leased(n: &LogoutNotice) -> Leased<'_> {
    logout_notices::table
        .find(n.jti.as_str())
        .filter(logout_notices::settled_at.is_null())
        .filter(logout_notices::attempts.eq(n.attempts))
        .filter(logout_notices::next_attempt_at.eq(n.leased_until))
}

type NoticeRow = (String, String, String, String, i64, i32);

#[async_trait::async_trait]
impl LogoutNoticeStore for Store {
    /// Each claim is a conditional update of one due notice, so two nodes never lease the same.
    async fn claim_logout_notices(&self, now: i64, lease: i64, limit: i64) -> Result<Vec<LogoutNotice>, StorageError> {
        self.run(move |conn| {
            let due: Vec<String> = logout_notices::table
                .filter(logout_notices::settled_at.is_null())
                .filter(logout_notices::next_attempt_at.le(now))
                .order((logout_notices::created_at.asc(), logout_notices::jti.asc()))
                .select(logout_notices::jti)
                .limit(limit)
                .load(conn)?;
            let mut claimed = Vec::new();
            for jti in due {
                let row = logout_notices::table
                    .find(&jti)
                    .filter(logout_notices::settled_at.is_null())
                    .filter(logout_notices::next_attempt_at.le(now));
                let won = crate::cached::update(
                    row,
                    (
                        logout_notices::next_attempt_at.eq(now + lease),
                        logout_notices::attempts.eq(logout_notices::attempts + 1),
                    ),
                )
                .execute(conn)?;
                if won != 1 {
                    continue;
                }
                let (jti, client_id, user_id, sid, created_at, attempts): NoticeRow = logout_notices::table
                    .find(&jti)
                    .select((
                        logout_notices::jti,
                        logout_notices::client_id,
                        logout_notices::user_id,
                        logout_notices::sid,
                        logout_notices::created_at,
                        logout_notices::attempts,
                    ))
                    .first(conn)?;
                claimed.push(LogoutNotice {
                    jti,
                    client_id: parse_id(ClientId::parse, &client_id, "logout notice client")?,
                    user_id: parse_id(UserId::parse, &user_id, "logout notice user")?,
                    sid,
                    created_at,
                    attempts,
                    leased_until: now + lease,
                });
            }
            Ok(claimed)
        })
        .await
        .map_err(Into::into)
    }

    async fn settle_logout_notice(
        &self,
        notice: &LogoutNotice,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError> {
        let (n, error) = (notice.clone(), error.map(|e| e.chars().take(500).collect::<String>()));
        self.run(move |conn| {
            let set = (logout_notices::settled_at.eq(Some(now)), logout_notices::last_error.eq(error));
            crate::cached::update(leased(&n), set).execute(conn)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }

    async fn retry_logout_notice(&self, notice: &LogoutNotice, error: &str, retry_at: i64) -> Result<(), StorageError> {
        let (n, error) = (notice.clone(), error.chars().take(500).collect::<String>());
        self.run(move |conn| {
            let set = (logout_notices::next_attempt_at.eq(retry_at), logout_notices::last_error.eq(Some(error)));
            crate::cached::update(leased(&n), set).execute(conn)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }
}

impl Store {
    /// The notices written for the session `sid`: (client id, settled, last error), for tests and
    /// support questions.
    pub async fn logout_notices(&self, sid: &str) -> Result<Vec<(String, bool, Option<String>)>, StoreError> {
        let sid = sid.to_owned();
        self.run(move |conn| {
            let rows: Vec<(String, Option<i64>, Option<String>)> = logout_notices::table
                .filter(logout_notices::sid.eq(&sid))
                .order(logout_notices::client_id.asc())
                .select((logout_notices::client_id, logout_notices::settled_at, logout_notices::last_error))
                .load(conn)?;
            Ok(rows.into_iter().map(|(client, settled, error)| (client, settled.is_some(), error)).collect())
        })
        .await
    }
}

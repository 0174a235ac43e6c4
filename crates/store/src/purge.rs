//! Removal of rows nobody can use any more, so tables do not grow without bound.

use diesel::prelude::*;

use crate::schema::{
    authorization_codes, challenges, interactions, ip_blocks, messages, refresh_tokens, sessions, tokens,
};
use crate::{Store, StoreError};

/// How long things are kept after they stop being usable.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Codes are kept while tokens issued from them may live, so a late replay still revokes them.
    pub codes: i64,
    /// Delivered or abandoned messages (their bodies are already wiped, unless the dev outbox keeps them).
    pub messages: i64,
    /// Spent or expired challenges, ended sessions: kept a while for support questions.
    pub history: i64,
}

impl Store {
    /// Deletes what expired before `now` (minus the retention); returns how many rows went.
    pub async fn purge_expired(&self, now: i64, keep: Retention) -> Result<usize, StoreError> {
        self.run(move |conn| {
            let mut n = diesel::delete(interactions::table.filter(interactions::expires_at.lt(now))).execute(conn)?;
            n += diesel::delete(challenges::table.filter(challenges::expires_at.lt(now - keep.history)))
                .execute(conn)?;
            n +=
                diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.lt(now - keep.codes)))
                    .execute(conn)?;
            n += diesel::delete(tokens::table.filter(tokens::expires_at.lt(now))).execute(conn)?;
            n += diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(now))).execute(conn)?;
            n += diesel::delete(
                sessions::table
                    .filter(sessions::expires_at.lt(now - keep.history).or(sessions::ended_at.lt(now - keep.history))),
            )
            .execute(conn)?;
            n += diesel::delete(
                messages::table
                    .filter(messages::status.eq_any(["sent", "failed"]))
                    .filter(messages::created_at.lt(now - keep.messages)),
            )
            .execute(conn)?;
            n += diesel::delete(ip_blocks::table.filter(ip_blocks::expires_at.lt(now - keep.history))).execute(conn)?;
            Ok(n)
        })
        .await
    }
}

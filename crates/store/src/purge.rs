//! Removal of rows nobody can use any more, so tables do not grow without bound.

use diesel::prelude::*;

use crate::schema::{
    account_codes, audit_log, authorization_codes, challenges, client_assertions, contact_undos, device_codes, devices,
    event_deliveries, events, interactions, ip_blocks, login_events, logout_notices, messages, passkey_ceremonies,
    pushed_requests, recovery_codes, refresh_tokens, sessions, tokens, totp_factors,
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
    /// Sign-in history, devices, used recovery codes and the audit log (step-up compares new
    /// sign-ins with the history; a device cookie lives no longer than this).
    pub security: i64,
}

impl Store {
    /// Deletes what expired before `now` (minus the retention); returns how many rows went.
    pub async fn purge_expired(&self, now: i64, keep: Retention) -> Result<usize, StoreError> {
        let known: Vec<String> = self.routes().iter().map(|r| r.endpoint.clone()).collect();
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
            let old = now - keep.security;
            n += diesel::delete(login_events::table.filter(login_events::created_at.lt(old))).execute(conn)?;
            n += diesel::delete(devices::table.filter(devices::last_seen_at.lt(old))).execute(conn)?;
            n += diesel::delete(audit_log::table.filter(audit_log::created_at.lt(old))).execute(conn)?;
            n += diesel::delete(recovery_codes::table.filter(recovery_codes::used_at.lt(old))).execute(conn)?;
            n += diesel::delete(account_codes::table.filter(account_codes::expires_at.lt(now))).execute(conn)?;
            n += diesel::delete(contact_undos::table.filter(contact_undos::expires_at.lt(now))).execute(conn)?;
            n += diesel::delete(passkey_ceremonies::table.filter(passkey_ceremonies::expires_at.lt(now)))
                .execute(conn)?;
            n +=
                diesel::delete(client_assertions::table.filter(client_assertions::expires_at.lt(now))).execute(conn)?;
            n += diesel::delete(pushed_requests::table.filter(pushed_requests::expires_at.lt(now))).execute(conn)?;
            n += diesel::delete(device_codes::table.filter(device_codes::expires_at.lt(now))).execute(conn)?;
            // Back-channel logout notices, sent or given up, kept as long as messages are.
            n += diesel::delete(logout_notices::table.filter(logout_notices::settled_at.lt(now - keep.messages)))
                .execute(conn)?;
            // Delivered events, once kept as long as messages are (for a replay); an event waiting
            // for an endpoint is kept until it is delivered.
            n += diesel::delete(event_deliveries::table.filter(event_deliveries::delivered_at.lt(now - keep.messages)))
                .execute(conn)?;
            // What waits for an endpoint no longer configured waits for nothing.
            n += diesel::delete(
                event_deliveries::table
                    .filter(event_deliveries::delivered_at.is_null())
                    .filter(event_deliveries::endpoint.ne_all(&known))
                    .filter(event_deliveries::next_attempt_at.lt(now - keep.messages)),
            )
            .execute(conn)?;
            let waiting = event_deliveries::table.filter(event_deliveries::event_id.eq(events::id));
            n += diesel::delete(
                events::table
                    .filter(events::created_at.lt(now - keep.messages))
                    .filter(diesel::dsl::not(diesel::dsl::exists(waiting))),
            )
            .execute(conn)?;
            // An enrolment abandoned before its first code.
            n += diesel::delete(
                totp_factors::table
                    .filter(totp_factors::confirmed_at.is_null())
                    .filter(totp_factors::created_at.lt(now - keep.history)),
            )
            .execute(conn)?;
            Ok(n)
        })
        .await
    }
}

//! OpenID Connect Back-Channel Logout 1.0. When a session ends (logout, an admin or the owner
//! ending it, a block, an erasure), each client that was issued a code in it and registered a
//! `backchannel_logout_uri` is sent a logout token (§2.4) in a direct POST (§2.5). The store writes
//! one notice per such client in the transaction that ends the session, so a crash loses none;
//! this worker, on every node, leases due notices, sends them, and retries failures with a growing
//! delay for a day.

use std::time::Duration;

use domain::{ClientId, StorageError, UserId};
use serde::Serialize;

use crate::AuthorizationServer;

/// How long an attempt holds its notice: longer than the fetcher's time limit.
const LEASE: i64 = 30;
/// How many notices one round leases.
const BATCH: i64 = 20;
/// A notice still failing this long after its session ended is given up.
pub const GIVE_UP_AFTER: i64 = 86_400;
/// A logout token's lifetime: §2.4 recommends at most two minutes.
const TOKEN_TTL: i64 = 120;
/// §2.4: the `events` member that makes a JWT a logout token.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A client to tell that a session ended, leased to one attempt.
#[derive(Clone, Debug)]
pub struct LogoutNotice {
    /// The logout token's `jti`: the same in every attempt, so a client that got it twice can tell.
    pub jti: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub sid: String,
    /// When the session ended.
    pub created_at: i64,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    /// When this attempt's lease ends; the outcome counts only while the lease is its own.
    pub leased_until: i64,
}

/// What the worker needs of storage; the notices themselves are written by the store when a
/// session ends.
#[async_trait::async_trait]
pub trait LogoutNoticeStore: Send + Sync {
    /// Leases up to `limit` notices due at `now` until `now + lease`, oldest first.
    async fn claim_logout_notices(&self, now: i64, lease: i64, limit: i64) -> Result<Vec<LogoutNotice>, StorageError>;

    /// Settles a notice while its lease is its own: sent (`error` None), or given up with `error`.
    async fn settle_logout_notice(
        &self,
        notice: &LogoutNotice,
        error: Option<&str>,
        now: i64,
    ) -> Result<(), StorageError>;

    /// Puts a failed notice back for `retry_at`, with its error, while its lease is its own.
    async fn retry_logout_notice(&self, notice: &LogoutNotice, error: &str, retry_at: i64) -> Result<(), StorageError>;
}

/// The delay after the `attempts`th failure: 10 s, doubling, at most an hour.
pub fn retry_delay(attempts: i32) -> i64 {
    (5_i64 << attempts.clamp(1, 10)).min(3_600)
}

/// The claims of a logout token (§2.4). Never a `nonce`.
#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
    jti: &'a str,
    sid: &'a str,
    events: serde_json::Value,
}

/// The logout token for `notice`, signed as the client's ID tokens are (§2.4), typed
/// `logout+jwt` (§2.4, RFC 8725 §3.11).
fn logout_token(
    srv: &AuthorizationServer,
    client: &domain::Client,
    notice: &LogoutNotice,
    now: i64,
) -> Result<String, String> {
    let ring = srv.keys.ring();
    let key = ring.active(client.id_token_alg, now).ok_or("no active signing key")?;
    let claims = LogoutClaims {
        iss: &srv.config.issuer,
        sub: crate::subject::subject(&srv.hasher, client, &notice.user_id),
        aud: client.id.to_string(),
        iat: now,
        exp: now + TOKEN_TTL,
        jti: &notice.jti,
        sid: &notice.sid,
        events: serde_json::json!({ LOGOUT_EVENT: {} }),
    };
    crate::jwt::sign(key, "logout+jwt", &claims).map_err(|e| e.to_string())
}

/// What became of one attempt.
enum Outcome {
    Sent,
    /// Worth another try later.
    Failed(String),
    /// Trying again would not help.
    Refused(String),
}

/// Sends every due notice once; how many were attempted.
pub async fn deliver_due(srv: &AuthorizationServer) -> Result<usize, StorageError> {
    let due = srv.store.claim_logout_notices(srv.clock.now(), LEASE, BATCH).await?;
    let attempts = due.iter().map(|notice| attempt(srv, notice));
    for result in futures_util::future::join_all(attempts).await {
        result?;
    }
    Ok(due.len())
}

async fn attempt(srv: &AuthorizationServer, notice: &LogoutNotice) -> Result<(), StorageError> {
    let outcome = send(srv, notice).await?;
    let label = match &outcome {
        Outcome::Sent => "sent",
        Outcome::Failed(_) => "failed",
        Outcome::Refused(_) => "refused",
    };
    metrics::counter!("ostiary_backchannel_logouts_total", "outcome" => label).increment(1);
    let now = srv.clock.now();
    match outcome {
        Outcome::Sent => srv.store.settle_logout_notice(notice, None, now).await,
        Outcome::Refused(error) => {
            tracing::warn!(client = %notice.client_id, %error, "a back-channel logout was refused; it is not sent again");
            srv.store.settle_logout_notice(notice, Some(&error), now).await
        }
        Outcome::Failed(error) if now - notice.created_at >= GIVE_UP_AFTER => {
            tracing::error!(client = %notice.client_id, %error, "a back-channel logout failed for a day; it is given up");
            srv.store.settle_logout_notice(notice, Some(&error), now).await
        }
        Outcome::Failed(error) => {
            tracing::warn!(client = %notice.client_id, attempt = notice.attempts, %error,
                "a back-channel logout failed; it will be tried again");
            srv.store.retry_logout_notice(notice, &error, now + retry_delay(notice.attempts)).await
        }
    }
}

async fn send(srv: &AuthorizationServer, notice: &LogoutNotice) -> Result<Outcome, StorageError> {
    let client = srv.store.client(&notice.client_id).await?;
    let Some((client, uri)) = client.and_then(|c| c.settings.backchannel_logout_uri.clone().map(|uri| (c, uri))) else {
        return Ok(Outcome::Refused("the client no longer has a backchannel_logout_uri".into()));
    };
    let token = match logout_token(srv, &client, notice, srv.clock.now()) {
        Ok(token) => token,
        Err(e) => return Ok(Outcome::Failed(format!("the logout token could not be signed: {e}"))),
    };
    let status = match srv.client_keys.fetcher().post_form(&uri, &[("logout_token", &token)]).await {
        Ok(status) => status,
        Err(crate::fetch::FetchError::Refused(why)) => {
            return Ok(Outcome::Refused(format!("the URL is refused: {why}")));
        }
        Err(crate::fetch::FetchError::Failed(why)) => return Ok(Outcome::Failed(why)),
    };
    Ok(match status {
        // §2.8: 200 OK; some frameworks answer 204, which §2.8 notes.
        200 | 204 => Outcome::Sent,
        // §2.8: a 400 says the logout failed at the client; the same token would fail again.
        400..=499 if status != 408 && status != 429 => Outcome::Refused(format!("the client answered HTTP {status}")),
        _ => Outcome::Failed(format!("the client answered HTTP {status}")),
    })
}

/// Sends back-channel logouts every second for as long as it runs.
pub fn spawn_worker(srv: actix_web::web::Data<AuthorizationServer>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            loop {
                match deliver_due(&srv).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the back-channel logout notices; trying again shortly");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        let delays: Vec<i64> = (1..=12).map(retry_delay).collect();
        assert_eq!(&delays[..4], &[10, 20, 40, 80]);
        assert_eq!(delays[11], 3_600);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
    }
}

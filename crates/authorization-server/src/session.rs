//! The browser session at the provider: a fresh opaque id on every login, kept by the browser in a
//! cookie and by the store only as a keyed hash.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, SameSite};
use domain::LoginResult;
use domain::secret::random_token;

use crate::AuthorizationServer;
use crate::errors::{OAuthError, internal};
use crate::storage::Session;

const SESSION_PURPOSE: &str = "session";

/// The name of the session cookie: `__Host-` prefixed under https (RFC 6265bis §4.1.3.2), which
/// pins it to this host, path `/`, and `Secure`.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https { "__Host-ostiary-session" } else { "ostiary-session" }
}

/// The session cookie: opaque, `HttpOnly`, `SameSite=Lax`; `Secure` and `__Host-` under https.
pub fn session_cookie(https: bool, value: String, ttl: i64) -> Cookie<'static> {
    Cookie::build(session_cookie_name(https), value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(ttl))
        .finish()
}

/// A fresh session after a completed login, and its cookie; the caller stores it
/// (`SessionStore::start_session`). A new id on every login, so a planted or leftover id is never
/// promoted (OWASP session fixation). The cookie carries the only copy of the id; the store keeps
/// its keyed hash.
pub(crate) fn new_session(srv: &AuthorizationServer, login: &LoginResult, now: i64) -> (Session, Cookie<'static>) {
    let session_secret = random_token(32);
    let session = Session {
        id_hash: srv.hasher.hash(SESSION_PURPOSE, &session_secret).0,
        sid: random_token(16),
        user_id: login.user_id.clone(),
        amr: login.amr.clone(),
        acr: login.acr,
        auth_time: login.auth_time,
        created_at: now,
        expires_at: now + srv.config.session_ttl,
    };
    let https = srv.config.issuer.starts_with("https://");
    (session, session_cookie(https, session_secret, srv.config.session_ttl))
}

/// The live session of this browser, from its session cookie.
pub(crate) async fn current_session(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    now: i64,
) -> Result<Option<Session>, OAuthError> {
    let https = srv.config.issuer.starts_with("https://");
    let Some(cookie) = req.cookie(session_cookie_name(https)) else { return Ok(None) };
    if cookie.value().len() > 128 {
        return Ok(None);
    }
    let hash = srv.hasher.hash(SESSION_PURPOSE, cookie.value()).0;
    srv.store.session(hash, now).await.map_err(|e| internal("session lookup", &e))
}

impl domain::ports::BrowserSessions for AuthorizationServer {
    fn signed_in<'a>(
        &'a self,
        cookie_header: &'a str,
    ) -> domain::ports::BoxFuture<'a, Result<Option<domain::ports::BrowserLogin>, domain::ports::SessionLookupError>>
    {
        Box::pin(async move {
            let name = session_cookie_name(self.config.issuer.starts_with("https://"));
            // RFC 6265 §4.2.1: `name=value` pairs separated by `; `.
            let value = cookie_header
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_owned())
                .filter(|v| v.len() <= 128);
            let Some(value) = value else { return Ok(None) };
            let hash = self.hasher.hash(SESSION_PURPOSE, &value).0;
            let session = self.store.session(hash, self.clock.now()).await.map_err(|e| {
                tracing::error!(error = %e, "session lookup for the console");
                domain::ports::SessionLookupError
            })?;
            Ok(session.map(|s| domain::ports::BrowserLogin { user_id: s.user_id, acr: s.acr, auth_time: s.auth_time }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_host_prefixed_and_secure_under_https() {
        let c = session_cookie(true, "v".into(), 60).to_string();
        assert!(c.starts_with("__Host-ostiary-session=v"), "{c}");
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(c.contains(attr), "{attr} missing in {c}");
        }
        let c = session_cookie(false, "v".into(), 60).to_string();
        assert!(c.starts_with("ostiary-session=v") && !c.contains("Secure"), "{c}");
    }
}

//! OpenID Connect Session Management 1.0, for the relying parties that still use it: the
//! `session_state` of each successful authorization response (§3) and the `check_session_iframe`
//! (§3.3) that tells an RP's page whether the browser's session here has changed since.
//!
//! Legacy: the iframe is a third party on the RP's page, and a browser that blocks third-party
//! cookies never shows it the browser-state cookie, so it answers `changed` there. Back-Channel and
//! Front-Channel Logout (`backchannel`, `logout`) tell RPs of a logout without it.

use actix_web::HttpResponse;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::secret::random_token;

use crate::AuthorizationServer;
use crate::authorize::Redirector;

const BROWSER_STATE_PURPOSE: &str = "browser-state";

/// The cookie that holds the OP browser state (§3): readable by the iframe's script, so it holds
/// nothing secret. `__Host-` under https, like the session cookie.
pub fn browser_state_cookie_name(https: bool) -> &'static str {
    if https { "__Host-ostiary-bs" } else { "ostiary-bs" }
}

/// The OP browser state of a session: a keyed hash of its `sid`. It changes with every session and
/// cannot be turned back into the session's cookie or its `sid`.
fn browser_state(srv: &AuthorizationServer, sid: &str) -> String {
    URL_SAFE_NO_PAD.encode(&srv.hasher.hash(BROWSER_STATE_PURPOSE, sid).0[..16])
}

/// The browser-state cookie: not `HttpOnly` (the iframe's script reads it) and, under https,
/// `SameSite=None` (the iframe is a third party on the RP's page); it lives as long as its session.
fn browser_state_cookie(https: bool, value: String, ttl: i64) -> Cookie<'static> {
    Cookie::build(browser_state_cookie_name(https), value)
        .path("/")
        .secure(https)
        .same_site(if https { SameSite::None } else { SameSite::Lax })
        .max_age(actix_web::cookie::time::Duration::seconds(ttl))
        .finish()
}

/// The browser-state cookie emptied, for the response that ends the session: the iframe then
/// answers `changed`.
pub(crate) fn cleared_browser_state(https: bool) -> Cookie<'static> {
    let mut gone = browser_state_cookie(https, String::new(), 0);
    gone.make_removal();
    gone
}

/// §3: `session_state` is `hex(SHA-256(client_id " " origin " " browser_state " " salt)) "." salt`,
/// the origin being the redirect URI's (where the RP's page runs). None for a redirect URI without
/// a web origin (a native app's private-use scheme).
fn session_state(client_id: &str, redirect_uri: &str, browser_state: &str, salt: &str) -> Option<String> {
    let origin = web_layer::origin_of(redirect_uri)?;
    let text = format!("{client_id} {origin} {browser_state} {salt}");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{hex}.{salt}"))
}

/// The successful authorization response: the code, its `session_state` for the session, and the
/// browser-state cookie the iframe compares it with, which ends when the session does.
pub(crate) fn code_response(
    srv: &AuthorizationServer,
    back: &Redirector<'_>,
    client_id: &str,
    session: &crate::storage::Session,
    code: &str,
) -> HttpResponse {
    let state = browser_state(srv, &session.sid);
    let session_state = session_state(client_id, back.redirect_uri, &state, &random_token(8));
    let mut params = vec![("code", code)];
    params.extend(session_state.as_deref().map(|s| ("session_state", s)));
    let mut resp = back.respond(&params);
    let https = srv.config.issuer.starts_with("https://");
    let lifetime = (session.expires_at - srv.clock.now()).max(0);
    if let Err(e) = resp.add_cookie(&browser_state_cookie(https, state, lifetime)) {
        tracing::warn!(error = %e, "the browser-state cookie could not be set");
    }
    resp
}

/// `GET /session/check` (§3.3): the page an RP frames and asks, by `postMessage`, whether the
/// session it was told of is still this browser's. Its script (`static/check_session.js`) answers
/// from the browser-state cookie; the page holds nothing of the user and has no form or button, so
/// it may be framed by any origin (`frame-ancestors *`, the one exception: the spec has every RP
/// frame it), and an origin other than the one hashed into `session_state` only ever hears `changed`.
pub async fn check_session_iframe(srv: actix_web::web::Data<AuthorizationServer>) -> HttpResponse {
    let https = srv.config.issuer.starts_with("https://");
    let body = format!(
        "<!doctype html>\n<html lang=\"en\" data-cookie=\"{}\"><head><meta charset=\"utf-8\"><title>Session check</title>\
         <script src=\"/static/check_session.js\"></script></head><body></body></html>\n",
        browser_state_cookie_name(https)
    );
    HttpResponse::Ok()
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; frame-ancestors *; base-uri 'none'; form-action 'none'",
        ))
        // CSP `frame-ancestors` supersedes it; browsers that know only this header get no value they obey.
        .insert_header((header::X_FRAME_OPTIONS, "ALLOWALL"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_hashes_the_client_the_origin_the_state_and_the_salt() {
        // Session Management 1.0 §3's formula, computed independently: SHA-256 of
        // "c1 https://rp.example bs salt" is this hex.
        let s = session_state("c1", "https://rp.example/cb?x=1", "bs", "salt").unwrap();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"c1 https://rp.example bs salt");
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(s, format!("{hex}.salt"));
        assert_ne!(s, session_state("c1", "https://other.example/cb", "bs", "salt").unwrap());
        assert_eq!(session_state("c1", "com.example.app:/cb", "bs", "salt"), None);
    }
}

//! `/device`, where a user types the code a device shows (RFC 8628 §3.3), then signs in on the
//! hosted pages as for any sign-in; back from them (`resume`), the user allows or denies the
//! device, on a page that names the application and the account (§5.4: remote phishing).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::counters::Decision;
use domain::{Interaction, InteractionId};
use serde::Deserialize;
use web_layer::{RequestOrigin, see_other};

use super::{normalise_user_code, user_code_hash};
use crate::AuthorizationServer;
use crate::pages::{PageError, page, unavailable};
use crate::params::Params;
use crate::storage::{AuthorizationRequest, SessionStart};

/// Wrong user codes one network may type in an hour: a code is about 34 bits, so guessing one is
/// hopeless at this rate.
const WRONG_CODES_PER_IP_PER_HOUR: u64 = 20;

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

/// `GET /device`: the form for the code, filled in when the device's link carried it.
pub async fn device_page(
    req: HttpRequest,
    query: web::Query<DeviceQuery>,
    srv: web::Data<AuthorizationServer>,
) -> HttpResponse {
    let typed = query.user_code.as_deref().filter(|c| c.len() <= 32).unwrap_or_default();
    form(&srv, &req, typed, None, StatusCode::OK)
}

fn form(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    typed: &str,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let p = page(srv, req);
    let mut ctx = tera::Context::new();
    ctx.insert("user_code", typed);
    ctx.insert("error", &error.map(|key| srv.catalog.text(p.lang(), key).to_owned()));
    p.render(status, "pages/device.html", ctx)
}

#[derive(Deserialize)]
pub struct DeviceForm {
    user_code: String,
}

/// `POST /device`: a live, undecided request's code starts a sign-in for its application, as
/// `/authorize` would (a session of this browser goes straight to step-up); anything else is
/// refused on the form, counted against this network.
pub async fn device_submit(
    req: HttpRequest,
    form_data: web::Form<DeviceForm>,
    srv: web::Data<AuthorizationServer>,
) -> HttpResponse {
    let typed = form_data.user_code.chars().take(32).collect::<String>();
    let now = srv.clock.now();
    // Each try takes a unit of this network's hourly budget first (so parallel guesses get no
    // more than it allows); a right code gives it back.
    let tries_key = format!("device:tries:{}", RequestOrigin::of(&req).ip.limit_key());
    match srv.limiter.hit(&tries_key, WRONG_CODES_PER_IP_PER_HOUR, 3600, now).await {
        Ok(Decision::Allowed { .. }) => {}
        Ok(Decision::Limited { .. }) => {
            return form(&srv, &req, &typed, Some("device_limited"), StatusCode::TOO_MANY_REQUESTS);
        }
        Err(e) => return unavailable(&srv, &req, "device code limit", &e),
    }
    let found = match normalise_user_code(&typed) {
        Some(code) => match srv.store.device_by_user_code(&user_code_hash(&srv, &code), now).await {
            Ok(found) => found,
            Err(e) => return unavailable(&srv, &req, "device code lookup", &e),
        },
        None => None,
    };
    let client = match &found {
        Some(device) => match srv.store.client(&device.client_id).await {
            Ok(client) => client.filter(|c| c.settings.device_grant),
            Err(e) => return unavailable(&srv, &req, "client lookup", &e),
        },
        None => None,
    };
    let (Some(device), Some(client)) = (found, client) else {
        return form(&srv, &req, &typed, Some("device_wrong_code"), StatusCode::BAD_REQUEST);
    };
    if let Err(e) = srv.limiter.give_back(&tries_key, now).await {
        tracing::warn!(error = %e, "a right device code could not be given back to the budget");
    }
    let request = AuthorizationRequest {
        device: Some(URL_SAFE_NO_PAD.encode(&device.device_code_hash)),
        ..AuthorizationRequest::without_redirect(&client.id, device.scope.clone())
    };
    let session = match crate::session::current_session(&req, &srv, now).await {
        Ok(session) => session,
        Err(e) => return PageError::Unavailable(e.description).respond(&srv, &req),
    };
    let first_factor = session.as_ref().map(|s| s.login());
    let params = Params::from_pairs(Vec::new());
    match crate::authorize::new_interaction(&req, &srv, &client, request, &params, first_factor).await {
        // A browser already signed in goes through step-up (which asks for a second factor only
        // when the sign-in looks risky), then to the question.
        Ok(id) if session.is_some() => see_other(&web_layer::paths::step_up(&id)),
        Ok(id) => see_other(&web_layer::paths::login(&id)),
        Err(e) => PageError::Unavailable(e.description).respond(&srv, &req),
    }
}

/// Back from the login pages with a device's sign-in: "Allow {app} on your device to use {account}?"
/// (`choice` none yet), then the answer, once. Allowed: the device's request names the code its
/// next poll redeems. Denied, or cancelled during step-up: the device hears `access_denied`.
pub(crate) async fn resume(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    id: &InteractionId,
    interaction: &Interaction,
    request: &AuthorizationRequest,
    device: &str,
    choice: Option<bool>,
) -> HttpResponse {
    let Ok(device_hash) = URL_SAFE_NO_PAD.decode(device) else {
        return PageError::Expired.respond(srv, req);
    };
    let now = srv.clock.now();
    let p = page(srv, req);
    let client_name = interaction.client_name.as_str();
    let fill = [("client", client_name)];
    let expired = || p.message(StatusCode::BAD_REQUEST, "device_expired", &fill);
    if interaction.denied.is_some() || choice == Some(false) {
        // Decided once: a request already answered (allowed in another tab) stays as it was.
        let decided = srv.store.decide_device_code(&device_hash, None, now).await;
        if let Err(e) = srv.store.resume_interaction(id, now).await {
            return unavailable(srv, req, "interaction resume", &e);
        }
        return match decided {
            Ok(true) => p.message(StatusCode::OK, "device_denied", &fill),
            Ok(false) => expired(),
            Err(e) => unavailable(srv, req, "device decision", &e),
        };
    }
    let Some(result) = interaction.result.clone() else {
        return PageError::Expired.respond(srv, req);
    };
    // Only a request still waiting is asked about (not one answered in another tab, or expired).
    match srv.store.waiting_device_code(&device_hash, now).await {
        Ok(Some(_)) => {}
        Ok(None) => return expired(),
        Err(e) => return unavailable(srv, req, "device lookup", &e),
    }
    let Some(true) = choice else {
        let user = match srv.store.user(&result.user_id).await {
            Ok(user) => user.map(|u| u.shown()).unwrap_or_default(),
            Err(e) => return unavailable(srv, req, "user lookup", &e),
        };
        let mut ctx = tera::Context::new();
        ctx.insert("interaction", id.as_str());
        ctx.insert("client_name", client_name);
        ctx.insert("account", &user);
        return p.render(StatusCode::OK, "pages/device_confirm.html", ctx);
    };
    let current = match crate::session::current_session(req, srv, now).await {
        Ok(session) => session,
        Err(e) => return PageError::Unavailable(e.description).respond(srv, req),
    };
    // The code the device's poll redeems is issued on this browser's session when it is the same
    // user's (nothing else of theirs ends), else on the session this sign-in starts. The device's
    // grant is its own: it does not end with the browser session (`ends_with_session`).
    let same_user = current.as_ref().filter(|s| s.user_id == result.user_id).cloned();
    let (session, cookie) = match same_user.clone() {
        Some(session) => (session, None),
        None => {
            let (session, cookie) = crate::session::new_session(srv, &result, now);
            (session, Some(cookie))
        }
    };
    let (_, mut record) = crate::token::new_code(srv, request, &session, interaction.created_at, now);
    record.ends_with_session = false;
    // The device polls every few seconds for up to `EXPIRES_IN`: its code waits as long.
    record.expires_at = now + super::EXPIRES_IN;
    // The decision first, once: a second tab that loses the race changes nothing.
    match srv.store.decide_device_code(&device_hash, Some(record.code_hash.clone()), now).await {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(e) => return unavailable(srv, req, "device decision", &e),
    }
    let stored = match same_user {
        Some(_) => match srv.store.resume_interaction(id, now).await {
            Ok(true) => srv.store.insert_code(&record).await.map(|()| true),
            other => other,
        },
        // One transaction: the interaction spent, this browser's session started with the code.
        None => {
            let replaces = current.map(|s| s.id_hash);
            let start = SessionStart { resumes: Some(id.clone()), replaces, session, code: record };
            srv.store.start_session(&start, now).await
        }
    };
    match stored {
        Ok(true) => {}
        Ok(false) => return PageError::Expired.respond(srv, req),
        Err(e) => return unavailable(srv, req, "session start", &e),
    }
    let mut resp = p.message(StatusCode::OK, "device_allowed", &fill);
    if let Some(cookie) = cookie
        && let Err(e) = resp.add_cookie(&cookie)
    {
        tracing::error!(error = %e, "session cookie could not be set");
    }
    resp
}

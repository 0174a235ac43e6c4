//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at the `end_session_endpoint`.
//! With a valid `id_token_hint` the session it names ends at once; without one the user confirms
//! (a logout must not be forced by any page that links here, §2). `post_logout_redirect_uri` is
//! followed only when registered, exactly, for the client (§3); otherwise a page is shown.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Client;
use web_layer::see_other;

use crate::AuthorizationServer;
use crate::params::{Params, is_form};
use crate::session::{current_session, session_cookie_name};

/// Why a sign-out was refused; each is a page titled by the catalog's `signout_refused_title`
/// (or `signout_unavailable_title`) with its own text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoutError {
    /// The body is not a form.
    Malformed,
    /// A parameter is repeated.
    Repeated,
    /// `id_token_hint` is not an ID token issued here.
    BadHint,
    /// `client_id` and the hint's audience disagree.
    TwoClients,
    UnknownClient,
    /// `post_logout_redirect_uri` is not registered for the client.
    BadRedirect,
    /// The session store failed, with the status [`crate::errors::internal`] chose: 503 while the
    /// database is away, else 500.
    Unavailable(StatusCode),
}

impl LogoutError {
    /// Every catalog key these pages use.
    pub const KEYS: [&'static str; 9] = [
        "signout_refused_title",
        "bad_request_text",
        "signout_refused_text",
        "signout_bad_hint_text",
        "signout_two_clients_text",
        "signout_unknown_client_text",
        "bad_redirect_text",
        "signout_unavailable_title",
        "signout_unavailable_text",
    ];

    /// A failure of the storage, logged with its cause chain.
    fn failed(context: &'static str, err: &(dyn std::error::Error + 'static)) -> Self {
        LogoutError::Unavailable(crate::errors::internal(context, err).error.status())
    }

    fn respond(self, srv: &AuthorizationServer, req: &HttpRequest) -> HttpResponse {
        let refused = |text| (StatusCode::BAD_REQUEST, "signout_refused_title", text);
        let (status, title, text) = match self {
            LogoutError::Malformed => refused("bad_request_text"),
            LogoutError::Repeated => refused("signout_refused_text"),
            LogoutError::BadHint => refused("signout_bad_hint_text"),
            LogoutError::TwoClients => refused("signout_two_clients_text"),
            LogoutError::UnknownClient => refused("signout_unknown_client_text"),
            LogoutError::BadRedirect => refused("bad_redirect_text"),
            LogoutError::Unavailable(status) => {
                tracing::error!("the session store failed during sign-out");
                (status, "signout_unavailable_title", "signout_unavailable_text")
            }
        };
        crate::pages::page(srv, req).titled(status, title, text, &[])
    }
}

pub async fn logout_get(req: HttpRequest, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    end_session(&req, &srv, Params::parse(req.query_string().as_bytes()), false).await
}

pub async fn logout_post(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    if !is_form(&req) {
        return LogoutError::Malformed.respond(&srv, &req);
    }
    end_session(&req, &srv, Params::parse(&body), false).await
}

/// `POST /logout/confirm`: the user pressed "Sign out" on our own page (CSRF-checked by the server).
pub async fn logout_confirm(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    end_session(&req, &srv, Params::parse(&body), true).await
}

/// What a valid `id_token_hint` says: who, through which client, in which session.
struct Hint {
    client_id: String,
    sid: Option<String>,
}

/// §2: the hint must be an ID token this provider issued; it may have expired.
fn check_logout_hint(srv: &AuthorizationServer, params: &Params) -> Result<Option<Hint>, LogoutError> {
    let Some(token) = params.get("id_token_hint") else { return Ok(None) };
    let now = srv.clock.now();
    let claims = crate::jwt::read_id_token(srv, token, now).ok_or(LogoutError::BadHint)?;
    let client_id = match &claims["aud"] {
        serde_json::Value::String(aud) => aud.clone(),
        serde_json::Value::Array(auds) => auds.first().and_then(|a| a.as_str()).unwrap_or_default().to_owned(),
        _ => String::new(),
    };
    Ok(Some(Hint { client_id, sid: claims["sid"].as_str().map(str::to_owned) }))
}

/// §2: the client is the hint's audience or `client_id`; when both are given they must agree.
async fn check_logout_client(
    srv: &AuthorizationServer,
    params: &Params,
    hint: Option<&Hint>,
) -> Result<Option<Client>, LogoutError> {
    let id = match (params.get("client_id"), hint.map(|h| h.client_id.as_str())) {
        (Some(a), Some(b)) if a != b => return Err(LogoutError::TwoClients),
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => return Ok(None),
    };
    let Some(id) = domain::ClientId::parse(id) else {
        return Err(LogoutError::UnknownClient);
    };
    match srv.store.client(&id).await {
        Ok(Some(c)) => Ok(Some(c)),
        Ok(None) => Err(LogoutError::UnknownClient),
        Err(e) => Err(LogoutError::failed("client lookup failed", &e)),
    }
}

/// §3: `post_logout_redirect_uri` must exactly match one registered for the client.
fn check_post_logout_redirect_uri<'a>(
    params: &'a Params,
    client: Option<&Client>,
) -> Result<Option<&'a str>, LogoutError> {
    let Some(uri) = params.get("post_logout_redirect_uri") else { return Ok(None) };
    match client {
        Some(c) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => Ok(Some(uri)),
        _ => Err(LogoutError::BadRedirect),
    }
}

async fn end_session(req: &HttpRequest, srv: &AuthorizationServer, params: Params, confirmed: bool) -> HttpResponse {
    let refuse = |e: LogoutError| e.respond(srv, req);
    if params.duplicated {
        return refuse(LogoutError::Repeated);
    }
    let hint = match check_logout_hint(srv, &params) {
        Ok(h) => h,
        Err(m) => return refuse(m),
    };
    let client = match check_logout_client(srv, &params, hint.as_ref()).await {
        Ok(c) => c,
        Err(m) => return refuse(m),
    };
    let target = match check_post_logout_redirect_uri(&params, client.as_ref()) {
        Ok(t) => t,
        Err(m) => return refuse(m),
    };
    let now = srv.clock.now();
    let current = match current_session(req, srv, now).await {
        Ok(s) => s,
        // Logged, and 503 or 500 chosen, by `errors::internal`.
        Err(e) => return refuse(LogoutError::Unavailable(e.error.status())),
    };
    // §2: without asking, only when the hint names this browser's own session. Any other case
    // (no hint, another session's hint, a cross-site POST without the cookie) asks the user first,
    // so a page holding some ID token cannot sign visitors out.
    let hint_is_this_session = match (&current, hint.as_ref().and_then(|h| h.sid.as_deref())) {
        (Some(session), Some(sid)) => domain::secret::constant_time_eq(session.sid.as_bytes(), sid.as_bytes()),
        _ => false,
    };
    if !confirmed && !hint_is_this_session {
        return confirmation_page(req, srv, &params, client.as_ref(), target);
    }
    let mut frames = Vec::new();
    if let Some(session) = current {
        if let Err(e) = srv.store.end_session(session.id_hash, now).await {
            return refuse(LogoutError::failed("session end", &e));
        }
        frames = frontchannel_logout_uris(srv, &session.sid).await;
    }
    let https = srv.config.issuer.starts_with("https://");
    let mut gone = Cookie::build(session_cookie_name(https), "").path("/").http_only(true).secure(https).finish();
    gone.make_removal();
    let target = match target.map(url::Url::parse).transpose() {
        Ok(t) => t.map(|mut url| {
            if let Some(state) = params.get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            url.to_string()
        }),
        Err(_) => return refuse(LogoutError::BadRedirect),
    };
    let mut resp = match target {
        Some(url) if frames.is_empty() => see_other(&url),
        target => signed_out_page(srv, req, client.as_ref(), &frames, target.as_deref()),
    };
    // The browser state goes with it: a `check_session_iframe` now answers `changed`.
    for cookie in [gone, crate::check_session::cleared_browser_state(https)] {
        if let Err(e) = resp.add_cookie(&cookie) {
            tracing::warn!(error = %e, "session cookie could not be cleared");
        }
    }
    resp
}

fn confirmation_page(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    params: &Params,
    client: Option<&Client>,
    target: Option<&str>,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("signed_out", &false);
    ctx.insert("client_name", &client.map(|c| c.name.clone()));
    ctx.insert("client_id", &client.map(|c| c.id.to_string()));
    ctx.insert("post_logout_redirect_uri", &target);
    ctx.insert("state", &params.get("state"));
    // The confirmation ends in a redirect to the client: browsers apply form-action to it.
    crate::pages::page(srv, req).ending_at(target).render(StatusCode::OK, "pages/logout.html", ctx)
}

/// Front-Channel Logout 1.0 §2: the `frontchannel_logout_uri` of every client that was issued a
/// code in the session, with `iss` and `sid`, for the signed-out page to load in iframes. A client
/// that cannot be read is left out (logged): the sign-out itself is done.
async fn frontchannel_logout_uris(srv: &AuthorizationServer, sid: &str) -> Vec<String> {
    let clients = match srv.store.session_clients(sid).await {
        Ok(clients) => clients,
        Err(e) => {
            tracing::warn!(error = %e, "the session's clients could not be read for front-channel logout");
            return Vec::new();
        }
    };
    let mut uris = Vec::new();
    for id in clients {
        let uri = match srv.store.client(&id).await {
            Ok(client) => client.and_then(|c| c.settings.frontchannel_logout_uri),
            Err(e) => {
                tracing::warn!(client = %id, error = %e, "a client could not be read for front-channel logout");
                None
            }
        };
        if let Some(mut url) = uri.and_then(|u| url::Url::parse(&u).ok()) {
            url.query_pairs_mut().append_pair("iss", &srv.config.issuer).append_pair("sid", sid);
            uris.push(url.to_string());
        }
    }
    uris
}

/// The signed-out page: the clients' front-channel logout pages in hidden iframes, then on to the
/// registered `post_logout_redirect_uri` (`target`) when there is one, after a moment.
fn signed_out_page(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    client: Option<&Client>,
    frames: &[String],
    target: Option<&str>,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("signed_out", &true);
    ctx.insert("frontchannel", frames);
    ctx.insert("continue_url", &target);
    // A way back to the application, when the request named it: a link (never a redirect, which
    // only a registered post_logout_redirect_uri asked for gets) to its first registered
    // post-logout address, else to the site of its first redirect URI. Web addresses only.
    if let Some((client, back)) = client.and_then(|c| back_to(c).map(|b| (c, b))) {
        ctx.insert("client_name", &client.name);
        ctx.insert("back_url", &back);
    }
    crate::pages::page(srv, req).framing(frames).render(StatusCode::OK, "pages/logout.html", ctx)
}

/// Where the signed-out page sends a user back to `client`: its first `http(s)` post-logout
/// address, else the origin of its first `http(s)` redirect URI.
fn back_to(client: &Client) -> Option<String> {
    let web = |uri: &String| url::Url::parse(uri).ok().filter(|u| matches!(u.scheme(), "https" | "http"));
    if let Some(uri) = client.post_logout_redirect_uris.iter().find_map(web) {
        return Some(uri.to_string());
    }
    client.redirect_uris.iter().find_map(web).map(|u| u.origin().ascii_serialization() + "/")
}

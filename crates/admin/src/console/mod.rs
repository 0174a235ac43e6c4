//! The admin console (`/admin`): server-rendered pages for the people who run Ostiary. An admin
//! signs in through the hosted pages like anyone, as the console's own client; every page then
//! checks that the browser's session is an admin's, multi-factor (`acr`), and younger than
//! `admin.max_session_age`, or sends the browser to sign in again.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use domain::{Acr, User};
use web_layer::{CsrfToken, Lang, Page};

use crate::{Admin, paths};

pub mod activity;
pub mod clients;
pub mod lifecycle;
pub mod security;
pub mod users;
pub mod webhooks;

/// The console's client, registered at every start.
pub const CONSOLE_CLIENT_ID: &str = "admin-console";

/// Why a console page was not shown.
enum Gate {
    /// No session, or one too weak or too old: sign in (again), demanding what the console needs.
    SignIn,
    /// Signed in, but not as an admin: refused, with nothing about anyone.
    Refused,
    Unavailable,
}

/// The admin behind this browser, or the answer that stands in for the page.
async fn admin_of(req: &HttpRequest, admin: &Admin) -> Result<User, HttpResponse> {
    let gate = match check(req, admin).await {
        Ok(user) => return Ok(user),
        Err(gate) => gate,
    };
    Err(match gate {
        Gate::SignIn => sign_in(req, admin),
        Gate::Refused => page(req, admin).no_way_back().message(StatusCode::FORBIDDEN, "admin_refused", &[]),
        Gate::Unavailable => page(req, admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[]),
    })
}

async fn check(req: &HttpRequest, admin: &Admin) -> Result<User, Gate> {
    // HTTP/2 may split cookies over several headers (RFC 9113 §8.2.3): read them all.
    let cookies: Vec<&str> = req.headers().get_all(header::COOKIE).filter_map(|v| v.to_str().ok()).collect();
    let cookies = cookies.join("; ");
    let login = admin.sessions.signed_in(&cookies).await.map_err(|_| Gate::Unavailable)?.ok_or(Gate::SignIn)?;
    // Someone who is not an admin is refused at once, never made to set up a second factor first.
    let user = admin.store.user(&login.user_id).await.map_err(|_| Gate::Unavailable)?.ok_or(Gate::Refused)?;
    if !user.is_admin || user.is_blocked() {
        return Err(Gate::Refused);
    }
    let fresh = login.auth_time.0 >= admin.clock.now() - admin.settings.max_session_age;
    if login.acr != Acr::MultiFactor || !fresh {
        return Err(Gate::SignIn);
    }
    Ok(user)
}

fn page<'a>(req: &HttpRequest, admin: &'a Admin) -> Page<'a> {
    let lang = Lang::of(req).pick(&admin.catalog, None);
    Page::new(req, &admin.tera, &admin.catalog, lang).way_back(crate::paths::CONSOLE.to_owned(), "admin_back")
}

/// The `state` of the console's sign-in: derived from the browser's CSRF token, never the token
/// itself, which must not travel in URLs (RFC 6749 §10.12 binds `state` to the browser).
pub(crate) fn state_of(req: &HttpRequest, admin: &Admin) -> String {
    let csrf = req.extensions().get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
    if csrf.is_empty() {
        return String::new();
    }
    let hash = admin.hasher.hash("console-state", &csrf).0;
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Where the console sends a browser to sign in: the authorization endpoint, as its own public
/// client, demanding multi-factor (`acr_values`) and a login no older than the console accepts
/// (`max_age`, OIDC Core §3.1.2.1). `state` is the browser's CSRF token, checked at the callback.
fn sign_in(req: &HttpRequest, admin: &Admin) -> HttpResponse {
    // The console reads the session the login leaves, never the code; PKCE is still required of a
    // public client, so it sends a challenge whose verifier nobody keeps.
    let challenge = domain::secret::random_token(32);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", CONSOLE_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", &callback_uri(&admin.issuer))
        .append_pair("acr_values", Acr::MultiFactor.as_str())
        .append_pair("max_age", &admin.settings.max_session_age.to_string())
        .append_pair("state", &state_of(req, admin))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    web_layer::see_other(&format!("/authorize?{query}"))
}

/// The console client's redirect URI.
pub fn callback_uri(issuer: &str) -> String {
    format!("{}{}", issuer.trim_end_matches('/'), paths::CONSOLE_CALLBACK)
}

/// `GET /admin`: the console's home.
pub async fn home(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let user = match admin_of(&req, &admin).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let mut ctx = tera::Context::new();
    ctx.insert("admin", &user.shown());
    page(&req, &admin).render(StatusCode::OK, "pages/admin_home.html", ctx)
}

/// `GET /admin/callback`: back from the hosted pages. The `state` must be this browser's CSRF
/// token (login CSRF, RFC 6749 §10.12); the session the login left is then checked by every page.
pub async fn callback(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let expected = state_of(&req, &admin);
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let state = params.get("state").cloned().unwrap_or_default();
    if expected.is_empty() || !domain::secret::constant_time_eq(state.as_bytes(), expected.as_bytes()) {
        return page(&req, &admin).message(StatusCode::BAD_REQUEST, "expired", &[]);
    }
    // The sign-in ended without a login (cancelled, refused by step-up): say so, no loop.
    if params.contains_key("error") {
        return page(&req, &admin).message(StatusCode::FORBIDDEN, "admin_sign_in_failed", &[]);
    }
    web_layer::see_other(paths::CONSOLE)
}

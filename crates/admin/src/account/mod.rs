//! The account page (`/account`): where people manage their own account. It is a module of the
//! admin crate rather than a crate of its own because it is the same kind of thing as the
//! console, on the same storage: server-rendered pages that change accounts, with the same rules
//! for changes, notices, sessions and erasure (`api::users`, [`crate::storage`]); a second crate
//! would have to declare that storage again or depend on this one.
//!
//! The owner signs in through the hosted login like anywhere else, as the server's own public
//! client [`ACCOUNT_CLIENT_ID`]; each page then reads the browser's session
//! ([`domain::ports::BrowserSessions`]). Changing an address or number, a second factor, or
//! deleting the account needs a login younger than [`FRESH`] seconds: an older one signs in again
//! first (`max_age`, OIDC Core §3.1.2.1), which runs step-up as every sign-in does.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::ports::BrowserLogin;
use domain::{Client, ClientId, User};
use web_layer::{Lang, Page};

use crate::{Admin, paths};

pub mod contact;
pub mod factors;
pub mod home;
pub mod leave;
pub mod passkeys;

/// The account page's client, registered at every start.
pub const ACCOUNT_CLIENT_ID: &str = "account";

/// How recent a login must be for the account's sensitive changes, in seconds.
pub const FRESH: i64 = 600;

/// Where a sign-in started by the account page comes back to: a fixed list, never a URL from the
/// request.
const RETURNS: [(&str, &str); 5] = [
    ("home", paths::ACCOUNT),
    ("email", paths::ACCOUNT_EMAIL),
    ("phone", paths::ACCOUNT_PHONE),
    ("authenticator", paths::ACCOUNT_AUTHENTICATOR),
    ("delete", paths::ACCOUNT_DELETE),
];

/// Who is on an account page, and how they got there.
pub struct Visit<'a> {
    pub admin: &'a Admin,
    pub req: &'a HttpRequest,
    pub user: User,
    pub login: BrowserLogin,
    /// The client the owner came from, whose branding the pages wear (`?client_id=`).
    pub from: Option<Client>,
}

/// The client a request names with `client_id`, when it is a live one (not the server's own).
async fn from_client(req: &HttpRequest, admin: &Admin) -> Option<Client> {
    let id = query(req, "client_id").and_then(|c| ClientId::parse(&c))?;
    let client = admin.store.client(&id).await.ok().flatten()?;
    let own = [ACCOUNT_CLIENT_ID, crate::console::CONSOLE_CLIENT_ID].contains(&client.id.as_str());
    (client.disabled_at.is_none() && !own).then_some(client)
}

fn query(req: &HttpRequest, key: &str) -> Option<String> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// The query every link and form of the account pages carries on: the client whose branding they
/// wear, and the language asked for.
pub(crate) fn carried(from: Option<&Client>, req: &HttpRequest) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if let Some(client) = from {
        q.append_pair("client_id", client.id.as_str());
    }
    if let Some(locales) = query(req, "ui_locales").filter(|l| l.len() <= 64) {
        q.append_pair("ui_locales", &locales);
    }
    let q = q.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

/// A page in the request's language and, when reached from a client, in its branding.
pub(crate) fn page<'a>(req: &HttpRequest, admin: &'a Admin, from: Option<&'a Client>) -> Page<'a> {
    let lang = Lang::of(req).pick(&admin.catalog, None);
    let carried = carried(from, req);
    let page = Page::new(req, &admin.tera, &admin.catalog, lang)
        .way_back(format!("{}{carried}", crate::paths::ACCOUNT), "account_back")
        .with("carried", carried);
    let Some(client) = from else { return page.product(&admin.product_name) };
    page.branded(&client.id, &client.settings.branding, &admin.product_name)
}

impl<'a> Visit<'a> {
    /// The owner behind this browser, or the answer that stands in for the page: a sign-in, or a
    /// page saying the account is blocked.
    pub async fn of(req: &'a HttpRequest, admin: &'a Admin, back: &str) -> Result<Visit<'a>, HttpResponse> {
        let from = from_client(req, admin).await;
        let cookies: Vec<&str> = req.headers().get_all(header::COOKIE).filter_map(|v| v.to_str().ok()).collect();
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, "account page: {what}");
            page(req, admin, from.as_ref()).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        };
        let login = match admin.sessions.signed_in(&cookies.join("; ")).await {
            Ok(Some(login)) => login,
            Ok(None) => return Err(sign_in(req, admin, back, from.as_ref(), None)),
            Err(e) => return Err(unavailable("session", &e)),
        };
        let user = match admin.store.user(&login.user_id).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(sign_in(req, admin, back, from.as_ref(), None)),
            Err(e) => return Err(unavailable("user", &e)),
        };
        if user.is_blocked() {
            return Err(page(req, admin, from.as_ref()).no_way_back().message(
                StatusCode::FORBIDDEN,
                "account_blocked",
                &[],
            ));
        }
        Ok(Visit { admin, req, user, login, from })
    }

    /// The owner, with a login younger than [`FRESH`]; an older one signs in again first and
    /// comes back to `back`.
    pub async fn fresh(req: &'a HttpRequest, admin: &'a Admin, back: &str) -> Result<Visit<'a>, HttpResponse> {
        let visit = Self::of(req, admin, back).await?;
        match visit.login.auth_time.0 >= admin.clock.now() - FRESH {
            true => Ok(visit),
            false => Err(sign_in(req, admin, back, visit.from.as_ref(), Some(FRESH))),
        }
    }

    pub fn page(&self) -> Page<'_> {
        page(self.req, self.admin, self.from.as_ref())
    }

    /// `path` with the carried query.
    pub fn link(&self, path: &str) -> String {
        format!("{path}{}", carried(self.from.as_ref(), self.req))
    }

    pub fn ip(&self) -> std::net::IpAddr {
        web_layer::RequestOrigin::of(self.req).ip.ip()
    }

    pub fn lang(&self) -> String {
        Lang::of(self.req).pick(&self.admin.catalog, None).to_owned()
    }

    pub fn unavailable(&self, what: &str, e: &dyn std::fmt::Display) -> HttpResponse {
        tracing::error!(error = %e, "account page: {what}");
        self.page().message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
    }

    /// The product name messages and authenticator apps show.
    pub fn product(&self) -> &str {
        self.from.as_ref().and_then(|c| c.settings.branding.product_name.as_deref()).unwrap_or(&self.admin.product_name)
    }
}

/// Sends the browser through the hosted login as the account page's client, to come back to
/// `back` (one of [`RETURNS`]). `max_age` asks for a login no older than that.
fn sign_in(req: &HttpRequest, admin: &Admin, back: &str, from: Option<&Client>, max_age: Option<i64>) -> HttpResponse {
    let target = RETURNS.iter().find(|(_, path)| *path == back).map_or("home", |(name, _)| name);
    let client = from.map(|c| c.id.to_string()).unwrap_or_default();
    let state = format!("{}.{target}.{client}", crate::console::state_of(req, admin));
    // The account page reads the session the login leaves, never the code; PKCE is still required
    // of a public client, so it sends a challenge whose verifier nobody keeps.
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("client_id", ACCOUNT_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("redirect_uri", &callback_uri(&admin.issuer))
        .append_pair("state", &state)
        .append_pair("code_challenge", &domain::secret::random_token(32))
        .append_pair("code_challenge_method", "S256");
    if let Some(max_age) = max_age {
        query.append_pair("max_age", &max_age.to_string());
    }
    if let Some(locales) = query_of(req, "ui_locales") {
        query.append_pair("ui_locales", &locales);
    }
    web_layer::see_other(&format!("/authorize?{}", query.finish()))
}

fn query_of(req: &HttpRequest, key: &str) -> Option<String> {
    query(req, key).filter(|v| v.len() <= 64)
}

/// The account client's redirect URI.
pub fn callback_uri(issuer: &str) -> String {
    format!("{}{}", issuer.trim_end_matches('/'), paths::ACCOUNT_CALLBACK)
}

/// `GET /account/callback`: back from the hosted login. The `state` must be bound to this
/// browser's CSRF token (login CSRF, RFC 6749 §10.12); it says which page to return to.
pub async fn callback(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let state = query(&req, "state").unwrap_or_default();
    let mut parts = state.splitn(3, '.');
    let (bound, target, client) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let expected = crate::console::state_of(&req, &admin);
    let from = ClientId::parse(client);
    let back = RETURNS.iter().find(|(name, _)| *name == target).map(|(_, path)| *path);
    let page = page(&req, &admin, None);
    let (true, Some(back)) =
        (!expected.is_empty() && domain::secret::constant_time_eq(bound.as_bytes(), expected.as_bytes()), back)
    else {
        return page.message(StatusCode::BAD_REQUEST, "expired", &[]);
    };
    if query(&req, "error").is_some() {
        return page.message(StatusCode::FORBIDDEN, "account_sign_in_failed", &[]);
    }
    let carry = from.map(|c| format!("?client_id={c}")).unwrap_or_default();
    web_layer::see_other(&format!("{back}{carry}"))
}

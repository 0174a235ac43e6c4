//! The hosted login pages, in the user's language and the client's branding: the email or phone
//! form (`login`), the code page (`code`), the magic link (`link`) and the unblock link
//! (`unblock`). Every form carries the CSRF token the server's middleware checks; pages whose forms
//! end in a redirect to the client allow its origin in CSP `form-action` (browsers apply it to the
//! redirects after a submission).

mod code;
mod link;
mod login;
mod passkey;
mod unblock;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use domain::{Channel, Interaction, InteractionId, LoginMethod, StorageError};
use web_layer::{BrowserBinding, Lang, Page, paths, see_other};

pub use code::{approved, code_page, code_submit, resend, status};
pub use link::{link_approve, link_page, link_submit};
pub use login::{login_page, start};
pub use passkey::{passkey_options, passkey_submit};
pub use unblock::{brand_css, unblock_page, unblock_submit};

use crate::PasswordlessConnection;
use crate::abuse::Refusal;

/// The page for this request, in the sign-in's language (`ui_locales`, then `Accept-Language`)
/// and its client's branding.
fn page<'a>(conn: &'a PasswordlessConnection, req: &HttpRequest, interaction: Option<&'a Interaction>) -> Page<'a> {
    let lang = Lang::of(req).pick(&conn.catalog, interaction.and_then(|i| i.ui_locales.as_deref()));
    let page = Page::new(req, &conn.tera, &conn.catalog, lang);
    let Some(interaction) = interaction else { return page.product(&conn.config.product_name) };
    page.branded(&interaction.client_id, &interaction.client_settings.branding, &conn.config.product_name)
}

/// Why a login page cannot go on; each is a page whose texts are the catalog's `{key}_title` and
/// `{key}_text`.
#[derive(Debug)]
pub(crate) enum PageError {
    /// The sign-in is over, unknown, or past this step.
    Expired,
    /// The sign-in was started in another browser.
    DifferentBrowser,
    /// The link is spent, replaced, or no longer offered.
    LinkExpired,
    /// A send or a check was refused by the abuse limits.
    Refused(Refusal),
    /// The code or link was right, but an admin has blocked the account.
    AccountBlocked,
    /// The code or link was right, but the operator's hook refused the sign-up (its message, if
    /// it gave one).
    SignUpRefused(Option<String>),
    /// The storage failed (logged, with what was being done): 503 while the database is away, else
    /// 500 ([`web_layer::failure_status`]).
    Unavailable(&'static str, StorageError),
}

impl PageError {
    /// Every catalog key these pages use, for the test that both languages have them.
    pub(crate) const KEYS: [&'static str; 10] = [
        "expired",
        "different_browser",
        "link_expired",
        "limited",
        "too_soon",
        "blocked",
        "account_blocked",
        "signup_refused",
        "paused",
        "unavailable",
    ];

    fn status_and_key(&self) -> (StatusCode, &'static str) {
        match self {
            PageError::Expired => (StatusCode::BAD_REQUEST, "expired"),
            PageError::DifferentBrowser => (StatusCode::FORBIDDEN, "different_browser"),
            PageError::LinkExpired => (StatusCode::BAD_REQUEST, "link_expired"),
            PageError::Refused(Refusal::Limited { .. }) => (StatusCode::TOO_MANY_REQUESTS, "limited"),
            PageError::Refused(Refusal::TooSoon { .. }) => (StatusCode::TOO_MANY_REQUESTS, "too_soon"),
            PageError::Refused(Refusal::Blocked) => (StatusCode::TOO_MANY_REQUESTS, "blocked"),
            PageError::AccountBlocked => (StatusCode::FORBIDDEN, "account_blocked"),
            PageError::SignUpRefused(_) => (StatusCode::FORBIDDEN, "signup_refused"),
            // Fail closed: a limit that cannot be checked is not skipped.
            PageError::Refused(Refusal::Unavailable | Refusal::Country) => (StatusCode::SERVICE_UNAVAILABLE, "paused"),
            PageError::Unavailable(_, e) => (web_layer::failure_status(e), "unavailable"),
        }
    }

    /// Whether the sign-in can go on from its login page after this (a wait, a refusal of this
    /// address, an outage; or a spent link opened in the browser that started, which can ask
    /// for a new code there): the page then leads back there.
    fn may_go_back(&self, interaction: &Interaction, req: &HttpRequest) -> bool {
        match self {
            PageError::Refused(Refusal::Limited { .. } | Refusal::TooSoon { .. } | Refusal::Unavailable)
            | PageError::SignUpRefused(_)
            | PageError::Unavailable(..) => true,
            PageError::LinkExpired => {
                interaction.browser_hash.as_deref().is_some_and(|owner| BrowserBinding::same_browser(req, owner))
            }
            _ => false,
        }
    }

    /// The page, with `Retry-After` for limits; nothing in it says whether an account exists. A
    /// wait of seconds counts down on the page (`static/pages.js`).
    fn respond(self, conn: &PasswordlessConnection, page: &Page<'_>) -> HttpResponse {
        if let PageError::Unavailable(context, e) = &self {
            tracing::error!(error = %e, "{context}");
        }
        let retry_after = match &self {
            PageError::Refused(Refusal::Limited { retry_after } | Refusal::TooSoon { retry_after }) => {
                Some(*retry_after)
            }
            PageError::Refused(Refusal::Blocked) => Some(conn.config.limits.block_seconds as u64),
            _ => None,
        };
        let (status, key) = self.status_and_key();
        let wait = retry_after.unwrap_or(0);
        let (minutes, seconds) = (wait.div_ceil(60).to_string(), wait.to_string());
        let message = match self {
            PageError::SignUpRefused(Some(message)) => message,
            _ => conn.catalog.text(page.lang(), "signup_refused_default").to_owned(),
        };
        let fill = [("minutes", minutes.as_str()), ("seconds", seconds.as_str()), ("message", message.as_str())];
        let mut page = page.clone();
        if key == "too_soon" {
            let lang = page.lang();
            page = page
                .with("countdown", seconds.clone())
                .with("countdown_template", conn.catalog.text(lang, "too_soon_text").to_owned())
                .with("countdown_done", conn.catalog.text(lang, "too_soon_done").to_owned());
        }
        let mut resp = page.message(status, key, &fill);
        if let Some(r) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(r));
        }
        resp
    }
}

/// The answer of a login page: the page, or the error page in the sign-in's language.
fn answer(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: Option<&Interaction>,
    result: Result<HttpResponse, PageError>,
) -> HttpResponse {
    result.unwrap_or_else(|e| {
        // The way back: to the login form while the sign-in can go on from there; else to the
        // application's home page when the client registered one.
        let home = interaction.and_then(|i| i.client_settings.branding.client_url.clone());
        let page = match interaction {
            Some(i) if unfinished(i) && e.may_go_back(i, req) => {
                page(conn, req, interaction).way_back(web_layer::paths::login(&i.id), "login_back")
            }
            _ => match home {
                Some(home) => page(conn, req, interaction).way_back(home, "app_back"),
                None => page(conn, req, interaction),
            },
        };
        e.respond(conn, &page)
    })
}

/// Whether the first factor is still to be proved.
fn unfinished(i: &Interaction) -> bool {
    i.result.is_none() && i.first_factor.is_none() && i.denied.is_none()
}

/// The live, unfinished interaction of this browser; with the error, the interaction when it was
/// found (its language and branding dress the error page).
async fn interaction_for(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    raw_id: &str,
) -> Result<Interaction, (PageError, Option<Box<Interaction>>)> {
    let id = InteractionId::parse(raw_id).ok_or((PageError::Expired, None))?;
    match conn.store.interaction(&id).await {
        Ok(Some(i)) if i.expires_at > conn.clock.now() && unfinished(&i) => {
            if i.browser_hash.as_deref().is_some_and(|owner| BrowserBinding::same_browser(req, owner)) {
                Ok(i)
            } else {
                Err((PageError::DifferentBrowser, Some(Box::new(i))))
            }
        }
        // Over or expired: the page still wears the sign-in's language and branding.
        Ok(Some(i)) => Err((PageError::Expired, Some(Box::new(i)))),
        Ok(None) => Err((PageError::Expired, None)),
        Err(e) => Err((PageError::Unavailable("interaction lookup", e), None)),
    }
}

/// A handler's sign-in: the live, unfinished interaction of the path's `{interaction}`, in this
/// browser; otherwise the request is answered with the page that says why.
pub struct Live(pub Interaction);

impl actix_web::FromRequest for Live {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(conn) = req.app_data::<actix_web::web::Data<PasswordlessConnection>>().cloned() else {
                return Err(actix_web::error::ErrorInternalServerError("the connection is not configured"));
            };
            let raw = req.match_info().get("interaction").unwrap_or_default().to_owned();
            match interaction_for(&conn, &req, &raw).await {
                Ok(interaction) => Ok(Live(interaction)),
                Err((e, found)) => {
                    let page = answer(&conn, &req, found.as_deref(), Err(e));
                    Err(actix_web::error::InternalError::from_response("login page", page).into())
                }
            }
        })
    }
}

/// Whether this interaction may sign in by `channel`: the client offers it, and (for SMS) a
/// provider is configured.
fn offered(conn: &PasswordlessConnection, interaction: &Interaction, channel: Channel) -> bool {
    let s = &interaction.client_settings;
    match channel {
        Channel::Email => s.email(),
        Channel::Sms => s.allows(LoginMethod::SmsCode) && conn.config.sms_policy.available,
    }
}

/// After the first factor: step-up decides what comes next (it resumes the authorization).
fn resume(interaction: &Interaction) -> HttpResponse {
    see_other(&paths::step_up(&interaction.id))
}

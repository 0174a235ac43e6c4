//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): the request is checked
//! (`checks`), a session is reused or an interaction opened for the login pages, and the answer
//! goes back to the client (`response`, and `resume` after a login).

mod checks;
mod redirect_uri;
mod response;
mod resume;

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Client, InteractionId};
use web_layer::{BrowserBinding, Lang, RequestOrigin, paths, see_other};

use checks::acr_satisfies;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use checks::fuzz_parameters;
pub(crate) use checks::{Checked, Prompt, Refused, SUPPORTED_SCOPES, check_request, check_scope};
pub(crate) use response::Redirector;
pub use resume::{SwitchForm, resume, resume_confirmed};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError};
use crate::pages::PageError;
use crate::params::{Params, is_form};
use crate::storage::{AuthorizationRequest, NewInteraction, Session};

pub async fn authorize_get(req: HttpRequest, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(&req, &srv, params).await
}

pub async fn authorize_post(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    if !is_form(&req) {
        return PageError::BadRequest("the body must be a form").respond(&srv, &req);
    }
    authorize(&req, &srv, Params::parse(&body)).await
}

async fn authorize(req: &HttpRequest, srv: &AuthorizationServer, params: Params) -> HttpResponse {
    let resolved = crate::request_object::resolve(srv, params).await;
    let lang = Lang::of(req).pick(&srv.catalog, resolved.params.get("ui_locales"));
    let Checked { client, request, prompt, back } = match check_request(srv, &resolved, lang).await {
        Ok(checked) => checked,
        Err(Refused::Page(e)) => return e.respond(srv, req),
        Err(Refused::Redirect(back, e)) => return back.error(e),
    };
    let now = srv.clock.now();
    let demanded = request.demanded_acr();
    match check_session(req, srv, &client, prompt, request.max_age, request.hinted_sub.as_deref(), now).await {
        // Single sign-on: the browser's session satisfies the request; the code goes back at once.
        Ok(Some(session)) if acr_satisfies(session.acr, demanded.as_deref()) => {
            match crate::token::issue_code(srv, &request, &session, now, now).await {
                Ok(code) => crate::check_session::code_response(srv, &back, client.id.as_str(), &session, &code),
                Err(e) => back.error(e),
            }
        }
        // A session too weak for what the client demands: the user proves a second factor (step-up)
        // instead of signing in again. OIDC Core §3.1.2.6: under prompt=none, interaction_required.
        Ok(Some(_)) if prompt == Prompt::None => {
            back.error(OAuthError::new(ErrorCode::InteractionRequired, "a second factor is required"))
        }
        Ok(Some(session)) => {
            match new_interaction(req, srv, &client, request, &resolved.params, Some(session.login())).await {
                Ok(id) => see_other(&paths::step_up(&id)),
                Err(e) => back.error(e),
            }
        }
        Ok(None) => match new_interaction(req, srv, &client, request, &resolved.params, None).await {
            Ok(id) => see_other(&paths::login(&id)),
            Err(e) => back.error(e),
        },
        Err(e) => back.error(e),
    }
}

/// An interaction bound to this browser, within the client IP's hourly budget.
pub(crate) async fn new_interaction(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    client: &Client,
    request: AuthorizationRequest,
    params: &Params,
    first_factor: Option<domain::LoginResult>,
) -> Result<InteractionId, OAuthError> {
    let browser = browser_hash(req)?;
    check_interaction_budget(req, srv).await?;
    start_interaction(srv, client, request, params, domain::InteractionKind::Hosted, Some(browser), first_factor).await
}

/// Every interaction is a stored row that anyone can ask for: one client IP (or IPv6 /64) may open
/// `interactions_per_ip_per_hour` of them. A limit that cannot be checked is not skipped.
pub(crate) async fn check_interaction_budget(req: &HttpRequest, srv: &AuthorizationServer) -> Result<(), OAuthError> {
    use domain::counters::Decision;
    let key = format!("interaction:ip:{}", RequestOrigin::of(req).ip.limit_key());
    match srv.limiter.hit(&key, srv.config.interactions_per_ip_per_hour, 3600, srv.clock.now()).await {
        Ok(Decision::Allowed { .. }) => Ok(()),
        Ok(Decision::Limited { .. }) => Err({
            metrics::counter!("ostiary_limit_refusals_total", "limit" => "interaction:ip").increment(1);
            OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many sign-ins were started from this network; try again later",
            )
        }),
        Err(e) => {
            tracing::error!(error = %e, "rate limiter unavailable");
            Err(OAuthError::new(ErrorCode::TemporarilyUnavailable, "the sign-in cannot be started right now"))
        }
    }
}

/// The session this request may reuse, if any (OIDC Core §3.1.2.1, §3.1.2.3): none under
/// `prompt=login`; none if older than `max_age`; none if `id_token_hint` names another user. With
/// `prompt=none` and nothing reusable the answer is `login_required`.
async fn check_session(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    client: &Client,
    prompt: Prompt,
    max_age: Option<i64>,
    hinted_sub: Option<&str>,
    now: i64,
) -> Result<Option<Session>, OAuthError> {
    let session = if prompt == Prompt::Login { None } else { crate::session::current_session(req, srv, now).await? };
    let session = session
        .filter(|s| max_age.is_none_or(|max| now - s.auth_time.0 <= max))
        .filter(|s| hinted_sub.is_none_or(|sub| sub == crate::subject::subject(&srv.hasher, client, &s.user_id)));
    if prompt == Prompt::None && session.is_none() {
        return Err(OAuthError::new(ErrorCode::LoginRequired, "the user must sign in"));
    }
    Ok(session)
}

/// OIDC Core §3.1.2.1 `ui_locales`: kept only when it is plausibly a list of language tags.
pub(crate) fn plausible_ui_locales(v: &str) -> bool {
    v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b' ')
}

/// Stores the validated request as an interaction bound to `browser` (a keyed hash of its cookie;
/// empty: the first browser to use the magic link) and hands the user to the login pages.
pub(crate) async fn start_interaction(
    srv: &AuthorizationServer,
    client: &Client,
    request: AuthorizationRequest,
    params: &Params,
    kind: domain::InteractionKind,
    browser: Option<Vec<u8>>,
    first_factor: Option<domain::LoginResult>,
) -> Result<InteractionId, OAuthError> {
    let login_hint = params.get("login_hint");
    // OIDC Core §3.1.2.1 `ui_locales`: the pages and messages of this sign-in use the first language
    // available. Kept only when it is plausibly a list of language tags.
    let ui_locales = params.get("ui_locales").filter(|v| plausible_ui_locales(v));
    let now = srv.clock.now();
    let id = InteractionId::generate();
    let new = NewInteraction {
        id: id.clone(),
        kind,
        client_id: client.id.clone(),
        redirect_uri: Some(request.redirect_uri.clone()),
        login_hint: login_hint.filter(|h| h.len() <= 254).map(str::to_owned),
        ui_locales: ui_locales.map(str::to_owned),
        // What step-up must reach: the same rule the session check and resume apply.
        requested_acr: request.demanded_acr().unwrap_or_default(),
        first_factor,
        request: Some(request),
        browser_hash: browser,
        created_at: now,
        expires_at: now + srv.config.interaction_ttl,
    };
    srv.store.insert_interaction(new).await.map_err(|e| crate::errors::internal("interaction insert", &e))?;
    Ok(id)
}

/// The binding of this browser (see [`BrowserBinding`]).
pub(crate) fn browser_hash(req: &HttpRequest) -> Result<Vec<u8>, OAuthError> {
    let binding = BrowserBinding::of(req).ok_or_else(|| {
        tracing::error!("the browser-context middleware is not mounted");
        crate::errors::SERVER_ERROR
    })?;
    Ok(binding.0)
}

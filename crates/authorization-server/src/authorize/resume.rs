//! `/authorize/resume/{interaction}`: back from the login pages. In the browser that started the
//! sign-in, and only once, a session starts and the code goes to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::InteractionId;
use serde::Deserialize;
use web_layer::BrowserBinding;

use super::checks::{UNMET, acr_satisfies};
use super::response::{FormPost, Redirector};
use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::pages::{PageError, unavailable};
use crate::storage::{AuthorizationRequest, SessionStart};

/// `GET /authorize/resume/{interaction}`: the connection has completed the login. In the browser
/// that started it, and only once, start a session and send the code to the client.
pub async fn resume(req: HttpRequest, path: web::Path<String>, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    resume_with(&req, &path, &srv, None).await
}

#[derive(Deserialize)]
pub struct SwitchForm {
    /// `switch` (sign in as the link's account) or `stay` (keep the session; the client is told
    /// `access_denied`).
    choice: String,
}

/// `POST /authorize/resume/{interaction}`: the answer to "switch account?".
pub async fn resume_confirmed(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<SwitchForm>,
    srv: web::Data<AuthorizationServer>,
) -> HttpResponse {
    // "switch" to the link's account, or "allow" a device (RFC 8628); anything else declines.
    resume_with(&req, &path, &srv, Some(matches!(form.choice.as_str(), "switch" | "allow"))).await
}

/// Resumes an interaction; `switch` is the user's answer to "switch account?", when asked.
async fn resume_with(req: &HttpRequest, raw: &str, srv: &AuthorizationServer, switch: Option<bool>) -> HttpResponse {
    let expired = || PageError::Expired.respond(srv, req);
    let Some(id) = InteractionId::parse(raw) else {
        return expired();
    };
    let (interaction, request) = match srv.store.interaction_with_request(&id).await {
        Ok(Some((interaction, Some(request)))) => (interaction, request),
        // No interaction, or one no browser resumes (a code sent through the API).
        Ok(_) => return expired(),
        Err(e) => return unavailable(srv, req, "interaction lookup", &e),
    };
    let Some(browser) = BrowserBinding::of(req) else {
        return PageError::Broken("the browser-context middleware is not mounted").respond(srv, req);
    };
    if !interaction.browser_hash.as_deref().is_some_and(|owner| browser.matches(owner)) {
        return PageError::DifferentBrowser.respond(srv, req);
    }
    let back = Redirector {
        redirect_uri: &request.redirect_uri,
        state: request.state.as_deref(),
        issuer: &srv.config.issuer,
        form_post: request.form_post.then_some(FormPost::of(srv, crate::pages::page(srv, req).lang())),
    };
    // A device's sign-in ends here with the question, not at a redirect URI (RFC 8628).
    if let Some(device) = request.device.as_deref() {
        return crate::device::pages::resume(srv, req, &id, &interaction, &request, device, switch).await;
    }
    if let Some(reason) = interaction.denied {
        // RFC 6749 §4.1.2.1: the user cancelled, or step-up refused; the client learns which, not
        // the policy's detail.
        return back.error(OAuthError::new(ErrorCode::AccessDenied, reason.description()));
    }
    let Some(result) = interaction.result.clone() else {
        return expired();
    };
    let now = srv.clock.now();
    let current = match crate::session::current_session(req, srv, now).await {
        Ok(session) => session,
        Err(e) => return back.error(e),
    };
    // A sign-in link the API sent was bound to whichever browser opened it first. If that browser
    // is signed in to another account, the link must not replace it silently (login CSRF: a link
    // forwarded by someone else would sign the visitor in as its sender). The user chooses.
    let other_account = current.as_ref().filter(|s| s.user_id != result.user_id);
    if interaction.kind == domain::InteractionKind::ApiLink
        && let Some(session) = other_account
    {
        match switch {
            None => return switch_account_page(srv, req, &interaction, &session.user_id, &result.user_id).await,
            Some(false) => {
                return match srv.store.resume_interaction(&id, now).await {
                    Ok(_) => {
                        back.error(OAuthError::new(ErrorCode::AccessDenied, "the user kept their current account"))
                    }
                    Err(e) => unavailable(srv, req, "interaction resume", &e),
                };
            }
            Some(true) => {}
        }
    }
    // The last checks of the login against its request. A login they refuse is spent all the same:
    // an interaction is resumed once, whatever comes of it.
    let hinted_user = match hint_names(srv, &request, &result.user_id).await {
        Ok(names) => names,
        Err(e) => return unavailable(srv, req, "client lookup", &e),
    };
    if let Some(refusal) = refusal(&request, &result, hinted_user) {
        return match srv.store.resume_interaction(&id, now).await {
            Ok(true) => back.error(refusal),
            Ok(false) => expired(),
            Err(e) => unavailable(srv, req, "interaction resume", &e),
        };
    }
    // One transaction: the interaction spent, the session this browser still held ended (the new
    // login replaces it), the fresh session and the code stored.
    let (session, cookie) = crate::session::new_session(srv, &result, now);
    let (code, record) = crate::token::new_code(srv, &request, &session, interaction.created_at, now);
    let start = SessionStart { resumes: Some(id), replaces: current.map(|s| s.id_hash), session, code: record };
    match srv.store.start_session(&start, now).await {
        Ok(true) => {
            let session = &start.session;
            let mut resp = crate::check_session::code_response(srv, &back, request.client_id.as_str(), session, &code);
            if let Err(e) = resp.add_cookie(&cookie) {
                tracing::error!(error = %e, "session cookie could not be set");
            }
            resp
        }
        Ok(false) => expired(),
        Err(e) => back.error(internal("session start", &e)),
    }
}

/// Why a completed login does not answer its request, if it does not.
fn refusal(request: &AuthorizationRequest, result: &domain::LoginResult, hinted_user: bool) -> Option<OAuthError> {
    // Never a weaker `acr` passed off as the one demanded (step-up should have reached it).
    if !acr_satisfies(result.acr, request.demanded_acr().as_deref()) {
        return Some(UNMET);
    }
    // OIDC Core §3.1.2.2: a login for another user than the `id_token_hint` named is refused.
    if !hinted_user {
        return Some(OAuthError::new(
            ErrorCode::LoginRequired,
            "the user who signed in is not the one the client named",
        ));
    }
    None
}

/// Whether `user` is the one the request's `id_token_hint` (or `sub` claim) named, if it named one:
/// the `sub` is the client's (`subject::subject`), so the client is read to compare.
async fn hint_names(
    srv: &AuthorizationServer,
    request: &AuthorizationRequest,
    user: &domain::UserId,
) -> Result<bool, domain::StorageError> {
    let Some(sub) = request.hinted_sub.as_deref() else { return Ok(true) };
    let client = srv.store.client(&request.client_id).await?;
    Ok(client.is_some_and(|c| crate::subject::subject(&srv.hasher, &c, user) == sub))
}

/// "This browser is signed in as A; the link is for B": the user picks.
async fn switch_account_page(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    interaction: &domain::Interaction,
    current: &domain::UserId,
    new: &domain::UserId,
) -> HttpResponse {
    let name = |user: Option<domain::User>| user.map(|u| u.shown()).unwrap_or_default();
    let (current, new) = match (srv.store.user(current).await, srv.store.user(new).await) {
        (Ok(a), Ok(b)) => (name(a), name(b)),
        (Err(e), _) | (_, Err(e)) => return unavailable(srv, req, "user lookup", &e),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("current", &current);
    ctx.insert("new", &new);
    // Either answer ends in a redirect to the client: browsers apply form-action to it.
    let page = crate::pages::page(srv, req).ending_at(interaction.redirect_uri.as_deref());
    page.render(StatusCode::OK, "pages/switch_account.html", ctx)
}

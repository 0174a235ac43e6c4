//! `/login/link/{token}`: the magic link. In the browser that started the sign-in it continues
//! there; on another device it can approve that browser's sign-in, once the number both screens
//! show is typed in. Opening a link (GET, HEAD) never spends anything: mail scanners fetch links.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Interaction, InteractionKind, LoginMethod};
use serde::Deserialize;
use web_layer::{BrowserBinding, Page};

use super::{PageError, answer, page, resume, unfinished};
use crate::PasswordlessConnection;
use crate::abuse::Refusal;
use crate::challenge::{FirstFactor, LinkError, Origin, VerifyError, approve, find_link, spend};
use crate::storage::Challenge;

/// Whether the interaction belongs to this request's browser.
fn owned_here(req: &HttpRequest, interaction: &Interaction) -> bool {
    interaction.browser_hash.as_deref().is_some_and(|owner| BrowserBinding::same_browser(req, owner))
}

/// The live challenge behind a link, and its interaction, if the client still offers links.
/// Otherwise the page that says why, dressed as the link's sign-in when it is known.
async fn link_target(
    conn: &PasswordlessConnection,
    token: &str,
) -> Result<(Challenge, Interaction), (PageError, Option<Interaction>)> {
    let challenge = match find_link(conn, token).await {
        Ok(c) => c,
        Err(LinkError::Store(e)) => return Err((PageError::Unavailable("link lookup", e), None)),
        Err(LinkError::Dead(None)) => return Err((PageError::LinkExpired, None)),
        // A spent or replaced link: its sign-in may still go on (a new code from its login page),
        // or at least lead back to the application.
        Err(LinkError::Dead(Some(id))) => {
            let interaction = conn.store.interaction(&id).await.ok().flatten();
            return Err((PageError::LinkExpired, interaction.filter(|i| i.expires_at > conn.clock.now())));
        }
    };
    let interaction = match conn.store.interaction(&challenge.interaction_id).await {
        Ok(Some(i)) if unfinished(&i) && i.expires_at > conn.clock.now() => i,
        Ok(found) => return Err((PageError::Expired, found)),
        Err(e) => return Err((PageError::Unavailable("interaction lookup", e), None)),
    };
    if !interaction.client_settings.allows(LoginMethod::EmailLink) {
        return Err((PageError::LinkExpired, None));
    }
    Ok((challenge, interaction))
}

/// `GET /login/link/{token}`: in the browser that started, "Continue signing in". Elsewhere:
/// approve the sign-in for the other device, after comparing the number both screens show.
pub async fn link_page(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let (challenge, interaction) = match link_target(&conn, &path).await {
        Ok(found) => found,
        Err((e, interaction)) => return answer(&conn, &req, interaction.as_ref(), Err(e)),
    };
    let p = page(&conn, &req, Some(&interaction));
    let mut ctx = tera::Context::new();
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("token", path.as_str());
    // A link sent through the API belongs to no browser until one uses it: any may continue, after
    // seeing which account it signs in (so a link forwarded by someone else cannot sign a visitor
    // into the sender's account unawares: login CSRF).
    let unbound = interaction.kind == InteractionKind::ApiLink && interaction.browser_hash.is_none();
    if unbound || owned_here(&req, &interaction) {
        if interaction.kind == InteractionKind::ApiLink {
            ctx.insert("account", &challenge.destination.shown());
        }
        let p = p.ending_at(interaction.redirect_uri.as_deref());
        return p.render(StatusCode::OK, "pages/link.html", ctx);
    }
    // The waiting page in the browser that started shows its number from now on. Only a hint for
    // that page: a failure to record it is logged, and the approval here goes on.
    if approvable(&interaction)
        && let Err(e) = conn.store.link_opened_elsewhere(&challenge.id, conn.clock.now()).await
    {
        tracing::warn!(error = %e, "a link opened elsewhere could not be recorded");
    }
    elsewhere_or_approve(&p, &challenge, &interaction, ctx, None, StatusCode::OK)
}

/// Whether a sign-in may be approved from another device: a hosted one whose client allows it.
fn approvable(interaction: &Interaction) -> bool {
    interaction.client_settings.cross_device_approval && interaction.kind == InteractionKind::Hosted
}

/// On a device other than the one that asked to sign in: where the client allows cross-device
/// approval, the form that asks for the number shown over there; otherwise "open the link where
/// you started".
fn elsewhere_or_approve(
    p: &Page<'_>,
    challenge: &Challenge,
    interaction: &Interaction,
    mut ctx: tera::Context,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    if !approvable(interaction) {
        return p.render(StatusCode::OK, "pages/link_elsewhere.html", ctx);
    }
    ctx.insert("approved", &challenge.approved_at.is_some());
    crate::messages::at_time(&mut ctx, challenge.created_at, None);
    ctx.insert("place", &challenge.origin);
    ctx.insert("error", &error);
    p.render(status, "pages/approve.html", ctx)
}

#[derive(Deserialize)]
pub struct LinkForm {
    token: String,
}

/// `POST /login/link`: spends the link in the browser that started the login.
pub async fn link_submit(
    req: HttpRequest,
    form: web::Form<LinkForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let (challenge, interaction) = match link_target(&conn, &form.token).await {
        Ok(found) => found,
        Err((e, interaction)) => return answer(&conn, &req, interaction.as_ref(), Err(e)),
    };
    let result = use_link(&conn, &req, challenge, interaction.clone()).await;
    answer(&conn, &req, Some(&interaction), result)
}

async fn use_link(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    challenge: Challenge,
    mut interaction: Interaction,
) -> Result<HttpResponse, PageError> {
    if interaction.kind == InteractionKind::ApiLink
        && interaction.browser_hash.is_none()
        && let Some(browser) = BrowserBinding::of(req)
    {
        // The first browser to continue an API-sent link owns its sign-in from now on.
        match conn.store.bind_interaction(&interaction.id, browser.0.clone(), conn.clock.now()).await {
            Ok(true) => interaction.browser_hash = Some(browser.0),
            Ok(false) => return Err(PageError::LinkExpired),
            Err(e) => return Err(PageError::Unavailable("interaction bind", e)),
        }
    }
    if !owned_here(req, &interaction) {
        // Nothing is spent: the user can still type the code in the browser that started.
        let mut ctx = tera::Context::new();
        ctx.insert("client_name", &interaction.client_name);
        return Ok(page(conn, req, Some(&interaction)).render(StatusCode::OK, "pages/link_elsewhere.html", ctx));
    }
    let origin = Origin::of(req);
    match spend(conn, &challenge, false, &FirstFactor::of(&interaction, &origin)).await {
        Ok(_) => Ok(resume(&interaction)),
        Err(VerifyError::SignUpRefused(message)) => Err(PageError::SignUpRefused(message)),
        Err(VerifyError::Unavailable) => Err(PageError::Refused(crate::abuse::Refusal::Unavailable)),
        Err(VerifyError::Store(e)) => Err(PageError::Unavailable("link verification", e)),
        Err(VerifyError::AccountBlocked) => Err(PageError::AccountBlocked),
        Err(_) => Err(PageError::LinkExpired),
    }
}

#[derive(Deserialize)]
pub struct ApproveForm {
    token: String,
    /// The number the device that asked to sign in shows.
    number: Option<String>,
}

/// `POST /login/link/approve`: on another device, approves the sign-in for the browser that
/// started it, which is waiting on its code page, once the number shown there is typed in. This
/// device gets no session.
pub async fn link_approve(
    req: HttpRequest,
    form: web::Form<ApproveForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let (challenge, interaction) = match link_target(&conn, &form.token).await {
        Ok(found) => found,
        Err((e, interaction)) => return answer(&conn, &req, interaction.as_ref(), Err(e)),
    };
    let p = page(&conn, &req, Some(&interaction));
    let mut ctx = tera::Context::new();
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("token", &form.token);
    if !interaction.client_settings.cross_device_approval || interaction.kind != InteractionKind::Hosted {
        return p.render(StatusCode::FORBIDDEN, "pages/link_elsewhere.html", ctx);
    }
    let typed = form.number.as_deref().unwrap_or_default();
    let refused = match approve(&conn, &challenge, typed, &Origin::of(&req)).await {
        Ok(()) => {
            ctx.insert("approved", &true);
            return p.render(StatusCode::OK, "pages/approve.html", ctx);
        }
        Err(VerifyError::Mismatch { .. }) => {
            let error = p.text("approve_wrong").to_owned();
            return elsewhere_or_approve(&p, &challenge, &interaction, ctx, Some(error), StatusCode::BAD_REQUEST);
        }
        Err(VerifyError::Blocked) => PageError::Refused(Refusal::Blocked),
        Err(VerifyError::Unavailable) => PageError::Refused(Refusal::Unavailable),
        Err(VerifyError::Store(e)) => PageError::Unavailable("link approval", e),
        Err(_) => PageError::LinkExpired,
    };
    answer(&conn, &req, Some(&interaction), Err(refused))
}

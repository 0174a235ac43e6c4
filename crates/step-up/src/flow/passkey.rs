//! Passkeys in step-up. As the second factor (`/step-up/{interaction}/key`): one of the
//! account's own passkeys, with user verification, the first choice on the step-up page.
//!
//! After a sign-in by code or link, before the user returns to the application: the offer of a
//! passkey (`/step-up/{interaction}/passkey`). The sign-in is complete already; the page belongs
//! to it (same browser, until the interaction expires). Creating the passkey needs no other code:
//! the user has just proved the mailbox or phone. "Not now" is remembered on the device for 30
//! days, so nobody is asked on every sign-in.

use actix_web::cookie::{Cookie, SameSite, time::Duration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Amr, Interaction, InteractionId, LoginResult, User};
use passkeys::{Asker, Ceremony, PasskeyError, Passkeys};
use serde::Deserialize;
use web_layer::{BrowserBinding, Lang, Page, RequestOrigin, paths, see_other};

use super::{PageError, Pending};
use crate::StepUpService;
use crate::policy::Factor;

/// The cookie that remembers "not now" on this device.
const LATER: &str = "ostiary_passkey_later";
/// How long "not now" lasts.
const LATER_DAYS: i64 = 30;

/// Where a sign-in that passed step-up goes next: the offer of a passkey, when the client makes it
/// (`passkey_offer`), passkeys are on, the first factor was a code or link, and this device has
/// not said "not now" lately; otherwise back to the authorization server.
pub(crate) fn next(svc: &StepUpService, req: &HttpRequest, interaction: &Interaction, result: &LoginResult) -> String {
    let by_passkey = result.amr.iter().any(|a| matches!(a, Amr::Hwk | Amr::Swk));
    let offer = svc.passkeys.is_some()
        && interaction.client_settings.passkey_offer
        && !by_passkey
        && req.cookie(LATER).is_none();
    match offer {
        true => crate::paths::passkey(&interaction.id),
        false => paths::resume(&interaction.id),
    }
}

/// The completed sign-in of the path's `{interaction}`, in the browser that made it, and its user.
async fn completed<'a>(
    svc: &'a StepUpService,
    req: &HttpRequest,
) -> Result<(Interaction, User, &'a Passkeys), PageError> {
    let passkeys = svc.passkeys.as_deref().ok_or(PageError::Expired)?;
    let raw = req.match_info().get("interaction").unwrap_or_default();
    let id = InteractionId::parse(raw).ok_or(PageError::Expired)?;
    let unavailable = |e| PageError::unavailable("interaction lookup", e);
    let interaction = svc.store.interaction(&id).await.map_err(unavailable)?.ok_or(PageError::Expired)?;
    let live = interaction.expires_at > svc.clock.now() && interaction.denied.is_none();
    let result = interaction.result.clone().filter(|_| live).ok_or(PageError::Expired)?;
    if !interaction.browser_hash.as_deref().is_some_and(|owner| BrowserBinding::same_browser(req, owner)) {
        return Err(PageError::DifferentBrowser);
    }
    let user = svc.store.user(&result.user_id).await.map_err(unavailable)?.ok_or(PageError::Expired)?;
    Ok((interaction, user, passkeys))
}

fn asker<'a>(req: &HttpRequest, browser: &'a BrowserBinding, interaction: &Interaction) -> Asker<'a> {
    Asker {
        browser: &browser.0,
        ip: Some(RequestOrigin::of(req).ip.to_string()),
        client: Some(interaction.client_id.clone()),
    }
}

fn offer_page(svc: &StepUpService, req: &HttpRequest, interaction: &Interaction, failed: bool) -> HttpResponse {
    let lang = Lang::of(req).pick(&svc.catalog, interaction.ui_locales.as_deref());
    let page = Page::new(req, &svc.tera, &svc.catalog, lang)
        .branded(&interaction.client_id, &interaction.client_settings.branding, &svc.config.product_name)
        .ending_at(interaction.redirect_uri.as_deref());
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("failed", &failed);
    let status = if failed { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    page.render(status, "pages/passkey_offer.html", ctx)
}

/// `POST /step-up/{interaction}/key/options`: the options of proving one of the account's
/// passkeys (JSON, for the step-up page's script); 404 when it has none.
pub async fn key_options(req: HttpRequest, p: Pending, svc: web::Data<StepUpService>) -> HttpResponse {
    let (Some(passkeys), Some(browser)) = (svc.passkeys.as_deref(), BrowserBinding::of(&req)) else {
        return HttpResponse::NotFound().finish();
    };
    let asker = asker(&req, &browser, &p.interaction);
    match passkeys.step_up_options(Ceremony::StepUp(&p.interaction.id), &asker, &p.user).await {
        Ok(Some(options)) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(options),
        Ok(None) => HttpResponse::NotFound().finish(),
        Err(e) => failure(e).respond(&svc, &req),
    }
}

/// `POST /step-up/{interaction}/key`: the browser's answer. A passkey of the account's own,
/// verified, passes the step (assessed again first, as every factor is); a refused one shows the
/// step page again, saying so.
pub async fn key(
    req: HttpRequest,
    p: Pending,
    form: web::Form<CreatedForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    let (Some(passkeys), Some(browser)) = (svc.passkeys.as_deref(), BrowserBinding::of(&req)) else {
        return PageError::Expired.respond(&svc, &req);
    };
    let asker = asker(&req, &browser, &p.interaction);
    match passkeys.step_up(Ceremony::StepUp(&p.interaction.id), &asker, &p.user, &form.credential).await {
        Ok(proof) => {
            let added = proof.amr().into_iter().filter(|a| *a != Amr::Mfa).collect();
            super::factors::passed_factor(&svc, &req, &p, added).await
        }
        Err(PasskeyError::Refused(_)) => {
            let error = svc.catalog.text(&p.lang, "passkey_step_failed").to_owned();
            super::factors::step_page(&svc, &req, &p, super::factors::StepNotes::error(error, Factor::Passkey)).await
        }
        Err(e) => failure(e).respond(&svc, &req),
    }
}

/// `GET /step-up/{interaction}/passkey`: the offer.
pub async fn offer(req: HttpRequest, svc: web::Data<StepUpService>) -> HttpResponse {
    match completed(&svc, &req).await {
        Ok((interaction, _, _)) => offer_page(&svc, &req, &interaction, false),
        Err(e) => e.respond(&svc, &req),
    }
}

/// `POST /step-up/{interaction}/passkey/options`: the options of a new passkey for the account
/// that just signed in (JSON, for the page's script).
pub async fn offer_options(req: HttpRequest, svc: web::Data<StepUpService>) -> HttpResponse {
    let (interaction, user, passkeys) = match completed(&svc, &req).await {
        Ok(found) => found,
        Err(e) => return e.respond(&svc, &req),
    };
    let Some(browser) = BrowserBinding::of(&req) else { return PageError::DifferentBrowser.respond(&svc, &req) };
    let asker = asker(&req, &browser, &interaction);
    match passkeys.enroll_options(Ceremony::Enroll(&interaction.id), &asker, &user).await {
        Ok(options) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(options),
        Err(e) => failure(e).respond(&svc, &req),
    }
}

#[derive(Deserialize)]
pub struct CreatedForm {
    #[serde(default)]
    credential: String,
}

/// `POST /step-up/{interaction}/passkey`: the browser's new passkey, kept under the name of the
/// device it was made on; then back to the application.
pub async fn offer_created(
    req: HttpRequest,
    form: web::Form<CreatedForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    let (interaction, user, passkeys) = match completed(&svc, &req).await {
        Ok(found) => found,
        Err(e) => return e.respond(&svc, &req),
    };
    let Some(browser) = BrowserBinding::of(&req) else { return PageError::DifferentBrowser.respond(&svc, &req) };
    let asker = asker(&req, &browser, &interaction);
    let name = RequestOrigin::of(&req).device.unwrap_or_else(|| "Passkey".into());
    match passkeys.enroll(Ceremony::Enroll(&interaction.id), &asker, &user, &form.credential, &name).await {
        Ok(added) => {
            tell(&svc, &user, &interaction, added.name).await;
            see_other(&paths::resume(&interaction.id))
        }
        Err(PasskeyError::Refused(_)) => offer_page(&svc, &req, &interaction, true),
        Err(e) => failure(e).respond(&svc, &req),
    }
}

/// `POST /step-up/{interaction}/passkey/skip`: not now; this device is not asked again for 30 days.
pub async fn offer_skipped(req: HttpRequest, svc: web::Data<StepUpService>) -> HttpResponse {
    let interaction = match completed(&svc, &req).await {
        Ok((interaction, _, _)) => interaction,
        Err(e) => return e.respond(&svc, &req),
    };
    let later = Cookie::build(LATER, "1")
        .path("/")
        .http_only(true)
        .secure(svc.config.https)
        .same_site(SameSite::Lax)
        .max_age(Duration::days(LATER_DAYS))
        .finish();
    let mut resp = see_other(&paths::resume(&interaction.id));
    if let Err(e) = resp.add_cookie(&later) {
        tracing::warn!(error = %e, "the passkey \"not now\" cookie could not be set");
    }
    resp
}

/// Tells the owner of the new passkey by email (a failure is logged: the passkey is kept).
async fn tell(svc: &StepUpService, user: &User, interaction: &Interaction, name: String) {
    let Some(to) = user.email.clone() else { return };
    let lang = user.profile.locale.clone().or_else(|| interaction.ui_locales.clone()).unwrap_or_default();
    let product = interaction.client_settings.branding.product_name.clone();
    let zone = user.profile.zoneinfo.clone();
    let notice = domain::ports::PasskeyChanged { to, name, added: true, lang, product, zone };
    if let Err(e) = svc.notices.passkey_changed(notice).await {
        tracing::error!(error = %e, "the new passkey's notice");
    }
}

fn failure(e: PasskeyError) -> PageError {
    match e {
        PasskeyError::Storage(e) => PageError::unavailable("passkey enrolment", e),
        e => PageError::broken("passkey enrolment", e),
    }
}

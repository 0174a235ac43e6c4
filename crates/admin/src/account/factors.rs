//! Second factors on the account page: set up an authenticator app, remove it, and renew the
//! recovery codes. Each needs a login younger than [`super::FRESH`]; step-up does the work
//! ([`domain::ports::Authenticators`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::InteractionId;
use domain::ports::FactorError;
use serde::Deserialize;

use super::Visit;
use crate::storage::{Actor, AdminAudit};
use crate::{Admin, paths};

fn setup_page(visit: &Visit<'_>, setup: &domain::ports::AuthenticatorSetup, error: Option<&str>) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("qr", &setup.qr_svg);
    ctx.insert("otpauth", &setup.uri);
    ctx.insert("secret", &setup.secret_text);
    ctx.insert("ticket", setup.ticket.as_str());
    ctx.insert("action", &visit.link(paths::ACCOUNT_AUTHENTICATOR));
    ctx.insert("back", &visit.link(paths::ACCOUNT));
    ctx.insert("error", &error.map(|key| visit.admin.catalog.text(&visit.lang(), key).to_owned()));
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    visit.page().showing_secrets().render(status, "pages/account_authenticator.html", ctx)
}

fn codes_page(visit: &Visit<'_>, codes: &[String]) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("codes", codes);
    ctx.insert("back", &visit.link(paths::ACCOUNT));
    visit.page().showing_secrets().render(StatusCode::OK, "pages/account_recovery_codes.html", ctx)
}

/// A set-up: a new secret each time the page is opened, the same one again after a wrong code.
async fn begin(visit: &Visit<'_>, ticket: Option<&InteractionId>, error: Option<&str>) -> HttpResponse {
    match visit.admin.authenticators.begin(&visit.user, visit.product(), ticket).await {
        Ok(setup) => setup_page(visit, &setup, error),
        Err(FactorError::State) => web_layer::see_other(&visit.link(paths::ACCOUNT)),
        Err(e) => visit.unavailable("authenticator set-up", &e),
    }
}

/// `GET /account/authenticator`: the QR code and key of a new authenticator app.
pub async fn start(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    match Visit::fresh(&req, &admin, paths::ACCOUNT_AUTHENTICATOR).await {
        Ok(visit) => begin(&visit, None, None).await,
        Err(answer) => answer,
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    ticket: String,
    code: String,
}

/// `POST /account/authenticator`: the app's first code turns it on; the recovery codes are shown
/// once.
pub async fn confirm(req: HttpRequest, form: web::Form<ConfirmForm>, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::fresh(&req, &admin, paths::ACCOUNT_AUTHENTICATOR).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let Some(ticket) = InteractionId::parse(&form.ticket) else {
        return begin(&visit, None, Some("account_setup_expired")).await;
    };
    match admin.authenticators.confirm(&visit.user.id, &ticket, &form.code).await {
        Ok(codes) => codes_page(&visit, &codes),
        // A wrong code keeps the same secret: the page is shown again with it.
        Err(FactorError::Wrong) => begin(&visit, Some(&ticket), Some("account_code_wrong")).await,
        Err(FactorError::State) => begin(&visit, None, Some("account_setup_expired")).await,
        Err(e) => visit.unavailable("authenticator", &e),
    }
}

/// `POST /account/authenticator/remove`: removes the authenticator app and the recovery codes
/// (the next sign-in that needs a second factor offers a code on the other channel, or sets one
/// up), audited.
pub async fn remove(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::fresh(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let audit = AdminAudit::FactorsReset { actor: Actor::Owner, ip: visit.ip() };
    match admin.store.reset_factors(&visit.user.id, admin.clock.now(), audit).await {
        Ok(_) => visit.page().message(StatusCode::OK, "account_factors_removed", &[]),
        Err(e) => visit.unavailable("factor removal", &e),
    }
}

/// `POST /account/recovery-codes`: ten new recovery codes replace the old ones, shown once.
pub async fn renew(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::fresh(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    match admin.authenticators.renew_recovery_codes(&visit.user.id).await {
        Ok(codes) => codes_page(&visit, &codes),
        Err(FactorError::State) => web_layer::see_other(&visit.link(paths::ACCOUNT)),
        Err(e) => visit.unavailable("recovery codes", &e),
    }
}

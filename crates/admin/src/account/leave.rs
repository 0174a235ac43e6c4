//! Deleting my account: with a login younger than [`super::FRESH`], a code sent to the account's
//! own address (or number) confirms it; then the account is erased as an admin's erasure does
//! (personal data gone, audit trail anonymised, every session and token ended).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Destination;
use serde::Deserialize;

use super::Visit;
use super::contact::{check_code, send_code};
use crate::storage::{Actor, AdminAudit, CodeFor};
use crate::{Admin, paths};

/// Where the code goes: the verified email address, else the verified phone number, else
/// whichever the account has.
fn destination(user: &domain::User) -> Option<Destination> {
    let email = user.email.clone().map(Destination::Email);
    let phone = user.phone.clone().map(Destination::Phone);
    match (user.email_verified, user.phone_verified) {
        (true, _) => email,
        (false, true) => phone,
        _ => email.or(phone),
    }
}

fn delete_page(visit: &Visit<'_>, sent_to: Option<String>, error: Option<&str>, status: StatusCode) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("sent_to", &sent_to);
    ctx.insert("error", &error.map(|key| visit.admin.catalog.text(&visit.lang(), key).to_owned()));
    ctx.insert("send_action", &visit.link(paths::ACCOUNT_DELETE_CODE));
    ctx.insert("confirm_action", &visit.link(paths::ACCOUNT_DELETE));
    ctx.insert("confirm_label", visit.admin.catalog.text(&visit.lang(), "account_delete_confirm"));
    ctx.insert("back", &visit.link(paths::ACCOUNT));
    visit.page().render(status, "pages/account_delete.html", ctx)
}

/// `GET /account/delete`: what deleting means, and the button that sends the code.
pub async fn start(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    match Visit::fresh(&req, &admin, paths::ACCOUNT_DELETE).await {
        Ok(visit) => delete_page(&visit, None, None, StatusCode::OK),
        Err(answer) => answer,
    }
}

/// `POST /account/delete/code`: sends the code.
pub async fn send(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::fresh(&req, &admin, paths::ACCOUNT_DELETE).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let Some(to) = destination(&visit.user) else {
        return visit.unavailable("account deletion", &"an account without an address");
    };
    match send_code(&visit, CodeFor::Delete, &to, false).await {
        Ok(()) => delete_page(&visit, Some(to.shown()), None, StatusCode::OK),
        Err(key) => delete_page(&visit, None, Some(key), StatusCode::TOO_MANY_REQUESTS),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    code: String,
}

/// `POST /account/delete`: the right code erases the account. The login was fresh when the code
/// was asked for; the code, which lives 10 minutes, is the fresh proof here.
pub async fn delete(req: HttpRequest, form: web::Form<DeleteForm>, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::of(&req, &admin, paths::ACCOUNT_DELETE).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    if let Err(key) = check_code(&visit, CodeFor::Delete, &form.code).await {
        let sent = (key == "account_code_wrong").then(String::new);
        return delete_page(&visit, sent, Some(key), StatusCode::BAD_REQUEST);
    }
    let audit = AdminAudit::UserErased { actor: Actor::Owner, ip: visit.ip() };
    match admin.store.erase_user(&visit.user.id, admin.clock.now(), audit).await {
        Ok(_) => visit.page().no_way_back().message(StatusCode::OK, "account_deleted", &[]),
        Err(e) => visit.unavailable("account deletion", &e),
    }
}

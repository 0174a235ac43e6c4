//! Changing the account's email address or phone number from the account page. It needs a login
//! younger than [`super::FRESH`]; a code sent to the new address or number proves it before
//! anything changes; then the old one is told, with a link that puts it back for 7 days
//! ([`UNDO_TTL`]), so that a stolen session cannot quietly take the account.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::ports::{AccountCode, CodeError, CodePurpose, ContactChanged};
use domain::{Destination, EmailAddress, PhoneNumber, Secret};
use serde::Deserialize;

use super::Visit;
use crate::api::users::user_json;
use crate::storage::{Actor, AdminAudit, CodeFor, Contact, PendingCode, Restored, Saved, Undo, UserChange};
use crate::{Admin, paths};

/// How long the undo link of a replaced address or number works.
pub const UNDO_TTL: i64 = 7 * 86_400;
/// Wrong codes before a pending code dies.
pub const MAX_FAILURES: i32 = 5;

/// Which of the two a page changes: `/account/email` or `/account/phone`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Email,
    Phone,
}

impl Field {
    fn of(name: &str) -> Option<Self> {
        match name {
            "email" => Some(Field::Email),
            "phone" => Some(Field::Phone),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Field::Email => paths::ACCOUNT_EMAIL,
            Field::Phone => paths::ACCOUNT_PHONE,
        }
    }

    fn code_for(self) -> CodeFor {
        match self {
            Field::Email => CodeFor::Email,
            Field::Phone => CodeFor::Phone,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::Phone => "phone",
        }
    }

    /// The typed address or number, checked.
    fn parse(self, typed: &str) -> Option<Destination> {
        let typed = typed.trim();
        match self {
            Field::Email => EmailAddress::parse(typed).ok().map(Destination::Email),
            Field::Phone => PhoneNumber::parse(typed, None).ok().map(Destination::Phone),
        }
    }

    fn current(self, user: &domain::User) -> Option<Destination> {
        match self {
            Field::Email => user.email.clone().map(Destination::Email),
            Field::Phone => user.phone.clone().map(Destination::Phone),
        }
    }
}

/// The page of a step: the form for the new value (`code: false`) or for the code.
fn form(
    visit: &Visit<'_>,
    field: Field,
    code_sent_to: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    let (lang, name) = (visit.lang(), field.name());
    let text = |key: String| visit.admin.catalog.text(&lang, &key).to_owned();
    ctx.insert("field", name);
    ctx.insert("title", &text(format!("account_change_{name}")));
    ctx.insert("new_label", &text(format!("account_new_{name}")));
    ctx.insert("new_text", &text(format!("account_new_{name}_text")));
    ctx.insert("current", &field.current(&visit.user).map(|d| d.as_str().to_owned()).unwrap_or_default());
    ctx.insert("sent_to", &code_sent_to);
    ctx.insert("error", &error.map(|key| visit.admin.catalog.text(&visit.lang(), key).to_owned()));
    ctx.insert("action", &visit.link(field.path()));
    ctx.insert("confirm_action", &visit.link(&format!("{}/confirm", field.path())));
    ctx.insert("confirm_label", &text("account_confirm".into()));
    ctx.insert("back", &visit.link(paths::ACCOUNT));
    visit.page().render(status, "pages/account_contact.html", ctx)
}

/// `GET /account/{email|phone}`: the form for a new address or number.
pub async fn start(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let Some(field) = Field::of(&path) else { return HttpResponse::NotFound().finish() };
    match Visit::fresh(&req, &admin, field.path()).await {
        Ok(visit) => form(&visit, field, None, None, StatusCode::OK),
        Err(answer) => answer,
    }
}

#[derive(Deserialize)]
pub struct NewValue {
    value: String,
}

/// Sends a new code for `purpose` to `to`, keeping its keyed hash. A `silent` one is kept and
/// counted against the send limits like any other, but never sent. The error is a catalog key.
pub(crate) async fn send_code(
    visit: &Visit<'_>,
    purpose: CodeFor,
    to: &Destination,
    silent: bool,
) -> Result<(), &'static str> {
    let admin = visit.admin;
    let code = domain::secret::numeric_code(6);
    let now = admin.clock.now();
    let pending = PendingCode {
        user: visit.user.id.clone(),
        purpose,
        destination: to.as_str().to_owned(),
        code_hash: admin.hasher.hash(&format!("account-code:{}", purpose.as_str()), &code).0,
        failures: 0,
        expires_at: now + domain::ports::ACCOUNT_CODE_TTL,
    };
    if let Err(e) = admin.store.put_code(pending, now).await {
        tracing::error!(error = %e, "account page: code");
        return Err("account_unavailable");
    }
    let message = AccountCode {
        to: to.clone(),
        code: Secret::new(code),
        purpose: if purpose == CodeFor::Delete { CodePurpose::DeleteAccount } else { CodePurpose::ConfirmAddress },
        ip: visit.ip(),
        lang: visit.lang(),
        product: Some(visit.product().to_owned()),
        silent,
    };
    match admin.notices.send_code(message).await {
        Ok(()) => Ok(()),
        Err(CodeError::Limited { .. }) => Err("account_code_limited"),
        Err(CodeError::Blocked) => Err("account_code_blocked"),
        Err(_) => Err("account_unavailable"),
    }
}

/// Checks a typed code against the pending one for `purpose`: the code when it is right. Wrong
/// tries are counted; the fifth kills it. The error is a catalog key.
pub(crate) async fn check_code(visit: &Visit<'_>, purpose: CodeFor, typed: &str) -> Result<PendingCode, &'static str> {
    let admin = visit.admin;
    let pending = match admin.store.code(&visit.user.id, purpose).await {
        Ok(Some(p)) if p.expires_at > admin.clock.now() && p.failures < MAX_FAILURES => p,
        Ok(_) => return Err("account_code_dead"),
        Err(e) => {
            tracing::error!(error = %e, "account page: code");
            return Err("account_unavailable");
        }
    };
    let typed: String = typed.chars().filter(char::is_ascii_digit).take(12).collect();
    let hash = admin.hasher.hash(&format!("account-code:{}", purpose.as_str()), &typed).0;
    if domain::secret::constant_time_eq(&hash, &pending.code_hash) {
        return Ok(pending);
    }
    match admin.store.code_failed(&visit.user.id, purpose).await {
        Ok(n) if n >= MAX_FAILURES => Err("account_code_dead"),
        Ok(_) => Err("account_code_wrong"),
        Err(_) => Err("account_unavailable"),
    }
}

/// `POST /account/{email|phone}`: sends a code to the new address or number. Whether another
/// account holds it is not said (no account enumeration): such an address gets no code, but the
/// page, the send limits and the pending code (which nobody can know) behave exactly the same.
pub async fn send(
    req: HttpRequest,
    path: web::Path<String>,
    form_data: web::Form<NewValue>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let Some(field) = Field::of(&path) else { return HttpResponse::NotFound().finish() };
    let visit = match Visit::fresh(&req, &admin, field.path()).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let Some(to) = field.parse(&form_data.value) else {
        return form(&visit, field, None, Some(&format!("account_invalid_{}", field.name())), StatusCode::BAD_REQUEST);
    };
    if field.current(&visit.user).as_ref() == Some(&to) {
        return form(&visit, field, None, Some("account_same_value"), StatusCode::BAD_REQUEST);
    }
    let holder = match &to {
        Destination::Email(e) => admin.store.user_by_email(e).await,
        Destination::Phone(p) => admin.store.user_by_phone(p).await,
    };
    let taken = match holder {
        Ok(holder) => holder.is_some(),
        Err(e) => return visit.unavailable("contact lookup", &e),
    };
    let shown = to.as_str().to_owned();
    if let Err(key) = send_code(&visit, field.code_for(), &to, taken).await {
        return form(&visit, field, None, Some(key), StatusCode::TOO_MANY_REQUESTS);
    }
    form(&visit, field, Some(&shown), None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
    version: Option<i64>,
}

/// `POST /account/{email|phone}/confirm`: the code from the new address or number makes it the
/// account's (verified); the old one is told, with its undo link.
pub async fn confirm(
    req: HttpRequest,
    path: web::Path<String>,
    form_data: web::Form<CodeForm>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let Some(field) = Field::of(&path) else { return HttpResponse::NotFound().finish() };
    // The login was fresh when the code was asked for; the code itself lives 10 minutes.
    let visit = match Visit::of(&req, &admin, field.path()).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let pending = match check_code(&visit, field.code_for(), &form_data.code).await {
        Ok(p) => p,
        Err(key) => {
            let sent = (key == "account_code_wrong").then(String::new);
            return form(&visit, field, sent.as_deref(), Some(key), StatusCode::BAD_REQUEST);
        }
    };
    let Some(new) = field.parse(&pending.destination) else {
        return visit.unavailable("pending code", &"unreadable destination");
    };
    let old = field.current(&visit.user);
    let undo_token = domain::secret::random_token(32);
    let undo = old.as_ref().map(|old| Undo {
        token_hash: admin.hasher.hash("contact-undo", &undo_token).0,
        user: visit.user.id.clone(),
        field: if field == Field::Email { Contact::Email } else { Contact::PhoneNumber },
        old_value: old.as_str().to_owned(),
        new_value: new.as_str().to_owned(),
        expires_at: admin.clock.now() + UNDO_TTL,
    });
    let change = match &new {
        Destination::Email(e) => {
            UserChange { email: Some(Some(e.clone())), email_verified: Some(true), ..Default::default() }
        }
        Destination::Phone(p) => {
            UserChange { phone: Some(Some(p.clone())), phone_verified: Some(true), ..Default::default() }
        }
    };
    let ip = visit.ip();
    let audit = Box::new(move |before: &domain::User, after: &domain::User| AdminAudit::UserUpdated {
        actor: Actor::Owner,
        ip,
        reason: Some("proved with a code sent to the new address or number".into()),
        before: user_json(before),
        after: user_json(after),
    });
    let version = form_data.version.unwrap_or(visit.user.version);
    let now = admin.clock.now();
    match admin.store.prove_contact(&pending, version, change, undo, now, audit).await {
        Ok(Saved::Saved { .. }) => {}
        Ok(Saved::Taken(_)) => return form(&visit, field, None, Some("account_code_dead"), StatusCode::CONFLICT),
        Ok(_) => return form(&visit, field, None, Some("account_changed_meanwhile"), StatusCode::CONFLICT),
        Err(e) => return visit.unavailable("contact change", &e),
    }
    if let Some(old) = old {
        let undo_url = format!("{}{}", admin.issuer.trim_end_matches('/'), paths::account_undo(&undo_token));
        let zone = visit.user.profile.zoneinfo.clone();
        let notice = ContactChanged { old, new: Some(new), at: now, undo_url: Some(undo_url), zone };
        if admin.notices.contact_changed(notice).await.is_err() {
            tracing::error!("account page: the old address was not told of the change");
        }
    }
    visit.page().message(StatusCode::OK, &format!("account_{}_changed", field.name()), &[])
}

/// `GET /account/undo/{token}`: what the link will do, and the button that does it (a link opened
/// by a mail scanner changes nothing).
pub async fn undo_page(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let page = super::page(&req, &admin, None);
    let hash = admin.hasher.hash("contact-undo", &path).0;
    match admin.store.undo(&hash, admin.clock.now()).await {
        Ok(Some(undo)) => {
            let mut ctx = tera::Context::new();
            ctx.insert("old", &undo.old_value);
            ctx.insert("action", &paths::account_undo(&path));
            page.render(StatusCode::OK, "pages/account_undo.html", ctx)
        }
        Ok(None) => page.message(StatusCode::NOT_FOUND, "account_undo_gone", &[]),
        Err(e) => {
            tracing::error!(error = %e, "account page: undo");
            page.message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

/// `POST /account/undo/{token}`: puts the old address or number back and ends every session and
/// grant of the account (whoever changed it is signed out).
pub async fn undo(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let page = super::page(&req, &admin, None);
    let hash = admin.hasher.hash("contact-undo", &path).0;
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    match admin.store.restore_contact(&hash, admin.clock.now(), ip).await {
        Ok(Restored::Restored { .. }) => page.message(StatusCode::OK, "account_undone", &[]),
        Ok(Restored::Gone) => page.message(StatusCode::NOT_FOUND, "account_undo_gone", &[]),
        Ok(Restored::Taken) => page.message(StatusCode::CONFLICT, "account_undo_taken", &[]),
        Err(e) => {
            tracing::error!(error = %e, "account page: undo");
            page.message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

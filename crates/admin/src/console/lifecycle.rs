//! The console's account lifecycle: create a user (`POST /admin/users`), erase one
//! (`POST /admin/users/{id}/erase`), and link or unlink accounts (`POST /admin/users/{id}/links`,
//! `POST /admin/users/{id}/links/{other}/unlink`), each audited, with the API's rules.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{EmailAddress, PhoneNumber, User, UserId};
use serde::Deserialize;

use super::users::{Note, acting_on, form};
use super::{admin_of, page};
use crate::api::users::user_json;
use crate::storage::{Actor, AdminAudit, Created, Linked, NewUser};
use crate::{Admin, paths};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NewUserForm {
    email: String,
    phone_number: String,
    name: String,
    reason: String,
}

/// `POST /admin/users`: a new account (an email address or a phone number, a name). With a reason,
/// its address and number are marked verified on the admin's word (recorded); without, they are
/// verified at the first sign-in by a code sent to them.
pub async fn create(req: HttpRequest, form_data: web::Form<NewUserForm>, admin: web::Data<Admin>) -> HttpResponse {
    let me = match admin_of(&req, &admin).await {
        Ok(me) => me,
        Err(answer) => return answer,
    };
    let f = form_data.into_inner();
    let refused = |text: String| {
        let mut ctx = tera::Context::new();
        ctx.insert("q", "");
        ctx.insert("users", &Vec::<serde_json::Value>::new());
        ctx.insert("next", &None::<String>);
        ctx.insert("error", &text);
        page(&req, &admin).render(StatusCode::UNPROCESSABLE_ENTITY, "pages/admin_users.html", ctx)
    };
    let email = Some(f.email.trim()).filter(|e| !e.is_empty()).map(EmailAddress::parse).transpose();
    let phone = Some(f.phone_number.trim()).filter(|p| !p.is_empty()).map(|p| PhoneNumber::parse(p, None)).transpose();
    let (email, phone) = match (email, phone) {
        (Ok(e), Ok(p)) if e.is_some() || p.is_some() => (e, p),
        (Err(e), _) => return refused(e.to_string()),
        (_, Err(e)) => return refused(e.to_string()),
        _ => return refused(page(&req, &admin).text("admin_no_contact").to_owned()),
    };
    let mut profile = domain::Profile::default();
    if let Err(e) = profile.set("name", Some(f.name.trim()).filter(|n| !n.is_empty())) {
        return refused(e.to_string());
    }
    let reason: String = f.reason.trim().chars().filter(|c| !c.is_control()).take(500).collect();
    let reason = Some(reason).filter(|r| !r.is_empty());
    let vouched = reason.is_some();
    let new = NewUser {
        email_verified: vouched && email.is_some(),
        phone_verified: vouched && phone.is_some(),
        email,
        phone,
        profile,
        is_admin: false,
    };
    let (actor, ip) = (Actor::Admin { user_id: me.id }, web_layer::RequestOrigin::of(&req).ip.ip());
    let audit = Box::new(move |after: &User| AdminAudit::UserCreated { actor, ip, reason, after: user_json(after) });
    match admin.store.create_user(new, admin.clock.now(), audit).await {
        Ok(Created::Created(user)) => web_layer::see_other(&paths::console_user(&user.id)),
        Ok(Created::Taken(_)) => refused(page(&req, &admin).text("admin_taken").to_owned()),
        Err(e) => {
            tracing::error!(error = %e, "console: user create");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EraseForm {
    /// The account's email address, phone number or id, typed again.
    confirm: String,
}

/// `POST /admin/users/{id}/erase`: erases the account (GDPR Art. 17: its personal data goes, its
/// audit trail stays, anonymised; every session and token ends), once the admin has typed its
/// address, number or id again. An admin cannot erase their own account.
pub async fn erase(
    req: HttpRequest,
    path: web::Path<String>,
    form_data: web::Form<EraseForm>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let (me, user) = match acting_on(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let typed = form_data.confirm.trim().to_lowercase();
    let names = [
        user.email.as_ref().map(|e| e.to_string()),
        user.phone.as_ref().map(|p| p.to_string()),
        Some(user.id.to_string().to_lowercase()),
    ];
    if typed.is_empty() || !names.iter().flatten().any(|n| n.to_lowercase() == typed) {
        let text = page(&req, &admin).text("admin_erase_confirm_needed").to_owned();
        return form(&req, &admin, &user, Some(Note::Refused(text)), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if user.id == me.id {
        let text = page(&req, &admin).text("admin_not_yourself_erase").to_owned();
        return form(&req, &admin, &user, Some(Note::Refused(text)), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let audit = AdminAudit::UserErased {
        actor: Actor::Admin { user_id: me.id },
        ip: web_layer::RequestOrigin::of(&req).ip.ip(),
    };
    match admin.store.erase_user(&user.id, admin.clock.now(), audit).await {
        Ok(_) => page(&req, &admin).message(StatusCode::OK, "admin_erased", &[]),
        Err(e) => {
            tracing::error!(error = %e, "console: erase");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LinkForm {
    /// The other account: its email address, phone number or id.
    other: String,
}

/// The account a typed email address, phone number or id names.
async fn named(admin: &Admin, typed: &str) -> Result<Option<User>, domain::StorageError> {
    let typed = typed.trim();
    if let Ok(email) = EmailAddress::parse(typed) {
        return admin.store.user_by_email(&email).await;
    }
    if let Ok(phone) = PhoneNumber::parse(typed, None) {
        return admin.store.user_by_phone(&phone).await;
    }
    match UserId::parse(typed) {
        Some(id) => admin.store.user(&id).await,
        None => Ok(None),
    }
}

/// `POST /admin/users/{id}/links`: links another account to this one, so that signing in with
/// either gives this one's `sub` (one level deep, as the API).
pub async fn link(
    req: HttpRequest,
    path: web::Path<String>,
    form_data: web::Form<LinkForm>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let (me, primary) = match acting_on(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let refused = |key: &'static str| {
        let text = page(&req, &admin).text(key).to_owned();
        (text, StatusCode::UNPROCESSABLE_ENTITY)
    };
    let other = match named(&admin, &form_data.other).await {
        Ok(Some(other)) => other,
        Ok(None) => {
            let (text, status) = refused("admin_link_no_such");
            return form(&req, &admin, &primary, Some(Note::Refused(text)), status).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "console: link");
            return page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[]);
        }
    };
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let audit = AdminAudit::AccountsLinked {
        actor: Actor::Admin { user_id: me.id },
        ip,
        primary: primary.id.clone(),
        secondary: other.id.clone(),
        linked: true,
    };
    let key = match admin.store.link_users(&primary.id, &other.id, admin.clock.now(), audit).await {
        Ok(Linked::Linked) => return web_layer::see_other(&paths::console_user(&primary.id)),
        Ok(Linked::NotFound) => "admin_link_no_such",
        Ok(Linked::Same) => "admin_link_same",
        Ok(Linked::Chained) => "admin_link_chained",
        Err(e) => {
            tracing::error!(error = %e, "console: link");
            return page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[]);
        }
    };
    let (text, status) = refused(key);
    form(&req, &admin, &primary, Some(Note::Refused(text)), status).await
}

/// `POST /admin/users/{id}/links/{other}/unlink`: the other account is an account of its own again.
pub async fn unlink(req: HttpRequest, path: web::Path<(String, String)>, admin: web::Data<Admin>) -> HttpResponse {
    let (primary, other) = path.into_inner();
    let (me, primary) = match acting_on(&req, &admin, &primary).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let Some(other) = UserId::parse(&other) else {
        return page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]);
    };
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let audit = AdminAudit::AccountsLinked {
        actor: Actor::Admin { user_id: me.id },
        ip,
        primary: primary.id.clone(),
        secondary: other.clone(),
        linked: false,
    };
    match admin.store.unlink_users(&primary.id, &other, admin.clock.now(), audit).await {
        Ok(_) => web_layer::see_other(&paths::console_user(&primary.id)),
        Err(e) => {
            tracing::error!(error = %e, "console: unlink");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

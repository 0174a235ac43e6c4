//! The console's user pages: find users (`GET /admin/users`), and read and change one
//! (`GET|POST /admin/users/{id}`), with the same rules, audit and notices as the admin API. A save
//! made from an old version shows both versions instead of overwriting the other admin's change.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{EmailAddress, PhoneNumber, User, UserId};
use serde::Deserialize;

use super::{admin_of, page};
use crate::api::users::{notify_contact_changes, user_json, vouched};
use crate::storage::{Actor, AdminAudit, Saved, UserChange, UserQuery};
use crate::{Admin, paths};

const PAGE: i64 = 50;

/// `GET /admin/users?q=&cursor=`: users by id, or by part of an email address or phone number.
pub async fn list(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let q = params.get("q").map(|q| q.trim().to_owned()).filter(|q| !q.is_empty() && q.len() <= 320);
    let q = q.filter(|q| !q.chars().any(char::is_control));
    let after = params.get("cursor").and_then(|c| UserId::parse(c));
    let query = UserQuery { q: q.clone(), limit: PAGE + 1, after };
    let mut users = match admin.store.find_users(&query).await {
        Ok(users) => users,
        Err(e) => {
            tracing::error!(error = %e, "console: user list");
            return page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[]);
        }
    };
    let more = users.len() as i64 > PAGE;
    users.truncate(PAGE as usize);
    let next = more.then(|| users.last().map(|u| u.id.to_string())).flatten();
    let mut ctx = tera::Context::new();
    ctx.insert("q", &q.unwrap_or_default());
    ctx.insert("users", &users.iter().map(user_json).collect::<Vec<_>>());
    ctx.insert("next", &next);
    page(&req, &admin).render(StatusCode::OK, "pages/admin_users.html", ctx)
}

/// `GET /admin/users/{id}`: the user and the form that changes them.
pub async fn show(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    match find(&admin, &path).await {
        Ok(user) => form(&req, &admin, &user, None, StatusCode::OK).await,
        Err(answer) => answer(&req, &admin),
    }
}

type Missing = fn(&HttpRequest, &Admin) -> HttpResponse;

pub(super) async fn find(admin: &Admin, id: &str) -> Result<User, Missing> {
    let Some(id) = UserId::parse(id) else { return Err(not_found) };
    match admin.store.user(&id).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(not_found),
        Err(e) => {
            tracing::error!(error = %e, "console: user lookup");
            Err(|req, admin| page(req, admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[]))
        }
    }
}

/// The signed-in admin and the user a form acts on, or the page that stands in for the action.
pub(super) async fn acting_on(req: &HttpRequest, admin: &Admin, id: &str) -> Result<(User, User), HttpResponse> {
    let me = admin_of(req, admin).await?;
    let user = find(admin, id).await.map_err(|answer| answer(req, admin))?;
    Ok((me, user))
}

fn not_found(req: &HttpRequest, admin: &Admin) -> HttpResponse {
    page(req, admin).message(StatusCode::NOT_FOUND, "not_found", &[])
}

/// What a page shows: the user's edit form, with a note (saved, refused, or the other version).
pub(super) async fn form(
    req: &HttpRequest,
    admin: &Admin,
    user: &User,
    note: Option<Note>,
    status: StatusCode,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    // The accounts linked to this one (signing in with them gives this one's `sub`).
    let links = admin.store.linked_to(&user.id).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "console: links");
        Vec::new()
    });
    ctx.insert("links", &links.iter().map(user_json).collect::<Vec<_>>());
    ctx.insert("passkeys", &passkeys_of(admin, user).await);
    ctx.insert("user", &user_json(user));
    ctx.insert("action", &paths::console_user(&user.id));
    let lang = page(req, admin).lang();
    ctx.insert("fields", &crate::profile_form::fields(&admin.catalog, lang, user));
    match note {
        Some(Note::Saved) => ctx.insert("saved", &true),
        Some(Note::Refused(text)) => ctx.insert("error", &text),
        Some(Note::Conflict(yours)) => ctx.insert("yours", &yours),
        None => {}
    }
    page(req, admin).render(status, "pages/admin_user.html", ctx)
}

pub(super) enum Note {
    Saved,
    Refused(String),
    /// The values the admin submitted, shown beside the record as it is now.
    Conflict(EditForm),
}

/// Every field has a default, so that a form missing some is refused by the console's gate first
/// (a non-admin learns nothing, not even which fields a form has), then by the version check.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct EditForm {
    version: i64,
    email: String,
    phone_number: String,
    reason: String,
    /// The profile claims of the form (`profile_form::EDITABLE`).
    #[serde(flatten)]
    claims: std::collections::HashMap<String, String>,
}

/// `POST /admin/users/{id}`: saves the form when the record is still at the version it shows.
pub async fn save(
    req: HttpRequest,
    path: web::Path<String>,
    form_data: web::Form<EditForm>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let (me, current) = match acting_on(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let edit = form_data.into_inner();
    let change = match change_of(&current, &edit) {
        Ok(change) => change,
        Err(text) => {
            return form(&req, &admin, &current, Some(Note::Refused(text)), StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let reason: String = edit.reason.trim().chars().filter(|c| !c.is_control()).take(500).collect();
    let reason = Some(reason).filter(|r| !r.is_empty());
    let vouches = vouched(&change.email, change.email_verified, &current.email, current.email_verified)
        || vouched(&change.phone, change.phone_verified, &current.phone, current.phone_verified);
    if vouches && reason.is_none() {
        let text = page(&req, &admin).text("admin_reason_needed").to_owned();
        return form(&req, &admin, &current, Some(Note::Refused(text)), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let actor = Actor::Admin { user_id: me.id.clone() };
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let audit = Box::new(move |before: &User, after: &User| AdminAudit::UserUpdated {
        actor,
        ip,
        reason,
        before: user_json(before),
        after: user_json(after),
    });
    match admin.store.change_user(&current.id, edit.version, change, admin.clock.now(), audit).await {
        Ok(Saved::Saved { before, after }) => {
            notify_contact_changes(&admin, &before, &after).await;
            form(&req, &admin, &after, Some(Note::Saved), StatusCode::OK).await
        }
        // RFC 9110 §15.5.10: the request conflicts with the record's current state.
        Ok(Saved::Stale(now)) => form(&req, &admin, &now, Some(Note::Conflict(edit)), StatusCode::CONFLICT).await,
        Ok(Saved::Taken(_)) => {
            let text = page(&req, &admin).text("admin_taken").to_owned();
            form(&req, &admin, &current, Some(Note::Refused(text)), StatusCode::CONFLICT).await
        }
        Ok(Saved::NoContact) => {
            let text = page(&req, &admin).text("admin_no_contact").to_owned();
            form(&req, &admin, &current, Some(Note::Refused(text)), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Ok(Saved::NotFound) => not_found(&req, &admin),
        Err(e) => {
            tracing::error!(error = %e, "console: user change");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

/// The change the form asks for: an emptied field removes it; a new address or number stays
/// unverified unless the admin vouches for it with a reason (then it is marked verified).
fn change_of(current: &User, edit: &EditForm) -> Result<UserChange, String> {
    let email = Some(edit.email.trim()).filter(|e| !e.is_empty()).map(EmailAddress::parse).transpose();
    let email = email.map_err(|e| e.to_string())?;
    let phone = Some(edit.phone_number.trim()).filter(|p| !p.is_empty()).map(|p| PhoneNumber::parse(p, None));
    let phone = phone.transpose().map_err(|e| e.to_string())?;
    let with_reason = !edit.reason.trim().is_empty();
    let mut profile = current.profile.clone();
    crate::profile_form::apply(&mut profile, &edit.claims).map_err(|e| e.to_string())?;
    let email_changed = email != current.email;
    let phone_changed = phone != current.phone;
    Ok(UserChange {
        profile: (profile != current.profile).then_some(profile),
        email_verified: (email_changed && email.is_some() && with_reason).then_some(true),
        email: email_changed.then_some(email),
        phone_verified: (phone_changed && phone.is_some() && with_reason).then_some(true),
        phone: phone_changed.then_some(phone),
        is_admin: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct BlockForm {
    #[serde(default)]
    reason: String,
}

/// `POST /admin/users/{id}/block`: ends every session and grant of the account and refuses its
/// sign-ins, then back to its page.
pub async fn block(
    req: HttpRequest,
    path: web::Path<String>,
    form_data: web::Form<BlockForm>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    set_blocked(req, path, Some(form_data.into_inner().reason), admin).await
}

/// `POST /admin/users/{id}/unblock`.
pub async fn unblock(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    set_blocked(req, path, None, admin).await
}

async fn set_blocked(
    req: HttpRequest,
    path: web::Path<String>,
    reason: Option<String>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let (me, user) = match acting_on(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let blocking = reason.is_some();
    // An admin never locks themselves out (perhaps the last admin); another admin can block them.
    if blocking && user.id == me.id {
        let text = page(&req, &admin).text("admin_not_yourself").to_owned();
        return form(&req, &admin, &user, Some(Note::Refused(text)), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let actor = Actor::Admin { user_id: me.id.clone() };
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let reason = reason
        .map(|r| r.trim().chars().filter(|c| !c.is_control()).take(500).collect::<String>())
        .filter(|r| !r.is_empty());
    let was_blocked = user.is_blocked();
    let audit: crate::storage::AuditBlocked = match blocking {
        true => Box::new(move |b| AdminAudit::UserBlocked {
            actor,
            ip,
            reason,
            sessions_ended: b.sessions_ended,
            grants_revoked: b.grants_revoked,
        }),
        false => Box::new(move |_| AdminAudit::UserUnblocked { actor, ip, unblocked: was_blocked }),
    };
    match admin.store.set_blocked(&user.id, blocking, admin.clock.now(), audit).await {
        Ok(Some(_)) => web_layer::see_other(&paths::console_user(&user.id)),
        Ok(None) => not_found(&req, &admin),
        Err(e) => {
            tracing::error!(error = %e, "console: block");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

/// `POST /admin/users/{id}/factors/reset`: removes the account's authenticator and recovery codes
/// (a lost phone, audited); its next sign-in that needs a second factor sets one up again.
pub async fn reset_factors(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let (me, user) = match acting_on(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let audit = AdminAudit::FactorsReset { actor: Actor::Admin { user_id: me.id }, ip };
    match admin.store.reset_factors(&user.id, admin.clock.now(), audit).await {
        Ok(_) => web_layer::see_other(&paths::console_user(&user.id)),
        Err(e) => {
            tracing::error!(error = %e, "console: factor reset");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

/// The user's passkeys as the console lists them (none when passkeys are off).
async fn passkeys_of(admin: &Admin, user: &User) -> Vec<serde_json::Value> {
    let Some(passkeys) = &admin.passkeys else { return Vec::new() };
    let when = |at: i64| domain::clock::for_people(at, None);
    match passkeys.list(&user.id).await {
        Ok(list) => list
            .iter()
            .map(|p| {
                serde_json::json!({
                    "id": p.id, "name": p.name, "created": when(p.created_at),
                    "last_used": p.last_used_at.map(when), "synced": p.synced(), "aaguid": p.aaguid,
                })
            })
            .collect(),
        Err(e) => {
            tracing::error!(error = %e, "console: passkeys");
            Vec::new()
        }
    }
}

/// `POST /admin/users/{id}/passkeys/{passkey}/remove`: the passkey no longer signs in (a lost
/// device); audited with the admin as the actor, and the owner is emailed.
pub async fn remove_passkey(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let (id, passkey) = path.into_inner();
    let (me, user) = match acting_on(&req, &admin, &id).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let lang = user.profile.locale.clone().unwrap_or_default();
    let by = Some(me.id.to_string());
    match crate::api::passkeys::remove_and_tell(&admin, &user, &passkey, by, None, lang, None).await {
        Ok(true) => web_layer::see_other(&paths::console_user(&user.id)),
        Ok(false) => not_found(&req, &admin),
        Err(e) => {
            tracing::error!(error = %e, "console: passkey removal");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

//! The account's overview (`GET /account`): the profile and its form, the addresses, the sessions
//! and devices, the second factors; signing out of one session or all; downloading my data.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::UserId;
use serde::Deserialize;
use serde_json::json;

use super::Visit;
use crate::api::users::user_json;
use crate::storage::{Actor, AdminAudit, Saved, UserChange};
use crate::{Admin, paths};

pub(super) fn when(at: i64) -> String {
    domain::clock::for_people(at, None)
}

/// `GET /account`.
pub async fn show(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    match Visit::of(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => overview(&visit, None, StatusCode::OK).await,
        Err(answer) => answer,
    }
}

/// The overview, with a note (`saved`, or an error's catalog key).
pub(super) async fn overview(visit: &Visit<'_>, note: Option<(&str, &str)>, status: StatusCode) -> HttpResponse {
    let (admin, user) = (visit.admin, &visit.user);
    let now = admin.clock.now();
    let sessions = match admin.store.sessions_of(&user.id, now).await {
        Ok(s) => s,
        Err(e) => return visit.unavailable("sessions", &e),
    };
    let devices = match admin.store.devices_of(&user.id).await {
        Ok(d) => d,
        Err(e) => return visit.unavailable("devices", &e),
    };
    let factors = match admin.authenticators.state(&user.id).await {
        Ok(f) => f,
        Err(e) => return visit.unavailable("factors", &e),
    };
    let sessions: Vec<_> = sessions
        .iter()
        .map(|s| json!({"sid": s.sid, "since": when(s.auth_time), "acr": s.acr.as_str(), "end": visit.link(&paths::account_session_end(&s.sid))}))
        .collect();
    let devices: Vec<_> = devices
        .iter()
        .map(|d| json!({"description": d.description, "first": when(d.first_seen_at), "last": when(d.last_seen_at), "blocked": d.blocked}))
        .collect();
    let passkeys = match super::passkeys::listed(visit).await {
        Ok(p) => p,
        Err(e) => return visit.unavailable("passkeys", &e),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("passkeys_on", &admin.passkeys.is_some());
    ctx.insert("passkeys", &passkeys);
    ctx.insert("passkey_add", &visit.link(paths::ACCOUNT_PASSKEYS));
    ctx.insert("fresh", &(visit.login.auth_time.0 >= admin.clock.now() - super::FRESH));
    ctx.insert("passkey_options", &visit.link(paths::ACCOUNT_PASSKEY_OPTIONS));
    ctx.insert("user", &user_json(user));
    ctx.insert("sessions", &sessions);
    ctx.insert("devices", &devices);
    ctx.insert("authenticator", &factors.authenticator);
    ctx.insert("recovery_left", &factors.recovery_codes_left.to_string());
    ctx.insert("fields", &crate::profile_form::fields(&admin.catalog, &visit.lang(), user));
    if let Some((kind, key)) = note {
        ctx.insert(kind, visit.admin.catalog.text(&visit.lang(), key));
    }
    for (name, path) in [
        ("profile_action", paths::ACCOUNT_PROFILE),
        ("email_link", paths::ACCOUNT_EMAIL),
        ("phone_link", paths::ACCOUNT_PHONE),
        ("end_all_action", paths::ACCOUNT_END_ALL),
        ("authenticator_link", paths::ACCOUNT_AUTHENTICATOR),
        ("remove_action", paths::ACCOUNT_AUTHENTICATOR_REMOVE),
        ("renew_action", paths::ACCOUNT_RECOVERY_CODES),
        ("data_link", paths::ACCOUNT_DATA),
        ("delete_link", paths::ACCOUNT_DELETE),
    ] {
        ctx.insert(name, &visit.link(path));
    }
    visit.page().render(status, "pages/account.html", ctx)
}

#[derive(Deserialize)]
pub struct ProfileForm {
    version: i64,
    #[serde(flatten)]
    fields: std::collections::HashMap<String, String>,
}

/// `POST /account/profile`: the editable profile claims (an empty field removes one),
/// checked against the version the form was made from, audited.
pub async fn save_profile(req: HttpRequest, form: web::Form<ProfileForm>, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::of(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let mut profile = visit.user.profile.clone();
    if crate::profile_form::apply(&mut profile, &form.fields).is_err() {
        return overview(&visit, Some(("error", "account_profile_invalid")), StatusCode::BAD_REQUEST).await;
    }
    let ip = visit.ip();
    let audit = Box::new(move |before: &domain::User, after: &domain::User| AdminAudit::UserUpdated {
        actor: Actor::Owner,
        ip,
        reason: None,
        before: user_json(before),
        after: user_json(after),
    });
    let change = UserChange { profile: Some(profile), ..Default::default() };
    match admin.store.change_user(&visit.user.id, form.version, change, admin.clock.now(), audit).await {
        Ok(Saved::Saved { after, .. }) => {
            let visit = Visit { user: *after, ..visit };
            overview(&visit, Some(("saved", "account_saved")), StatusCode::OK).await
        }
        // Changed in another tab or by an admin since the form was opened: show what is there now.
        Ok(Saved::Stale(now)) => {
            let visit = Visit { user: *now, ..visit };
            overview(&visit, Some(("error", "account_changed_meanwhile")), StatusCode::CONFLICT).await
        }
        Ok(_) => overview(&visit, Some(("error", "account_profile_invalid")), StatusCode::BAD_REQUEST).await,
        Err(e) => visit.unavailable("profile", &e),
    }
}

/// `POST /account/sessions/{sid}/end`: signs out of one of the owner's sessions.
pub async fn end_session(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::of(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let sid = path.into_inner();
    // Only a session of this account, whatever the form says.
    match admin.store.sessions_of(&visit.user.id, admin.clock.now()).await {
        Ok(sessions) if sessions.iter().any(|s| s.sid == sid) => {}
        Ok(_) => return web_layer::see_other(&visit.link(paths::ACCOUNT)),
        Err(e) => return visit.unavailable("sessions", &e),
    }
    let ip = visit.ip();
    let (ended, sid_audit) = (sid.clone(), sid);
    let audit = Box::new(move |_: &UserId| AdminAudit::SessionEnded { actor: Actor::Owner, ip, sid: sid_audit });
    match admin.store.end_session(&ended, admin.clock.now(), audit).await {
        Ok(_) => web_layer::see_other(&visit.link(paths::ACCOUNT)),
        Err(e) => visit.unavailable("session end", &e),
    }
}

/// `POST /account/sessions/end`: signs out everywhere, this browser included, and revokes every
/// application's refresh tokens.
pub async fn end_all(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::of(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    match admin.store.sign_out_everywhere(&visit.user.id, admin.clock.now(), visit.ip()).await {
        Ok(()) => visit.page().message(StatusCode::OK, "account_signed_out", &[]),
        Err(e) => visit.unavailable("sign out everywhere", &e),
    }
}

/// `GET /account/data`: everything Ostiary keeps about the owner, as a JSON download (GDPR Art. 15
/// and 20): the account, its linked accounts, sessions, devices, sign-ins and second factors.
pub async fn download(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::of(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let (store, id, now) = (&admin.store, &visit.user.id, admin.clock.now());
    let gathered = async {
        Ok::<_, domain::StorageError>((
            store.linked_to(id).await?,
            store.sessions_of(id, now).await?,
            store.devices_of(id).await?,
            store.sign_ins_of(id, 1000).await?,
        ))
    };
    let (linked, sessions, devices, sign_ins) = match gathered.await {
        Ok(all) => all,
        Err(e) => return visit.unavailable("data export", &e),
    };
    let factors = match admin.authenticators.state(id).await {
        Ok(f) => f,
        Err(e) => return visit.unavailable("data export", &e),
    };
    let body = json!({
        "exported_at": domain::clock::rfc3339(now),
        "account": user_json(&visit.user),
        "linked_accounts": linked.iter().map(user_json).collect::<Vec<_>>(),
        "sessions": sessions,
        "devices": devices,
        "sign_ins": sign_ins,
        "second_factors": {"authenticator_app": factors.authenticator, "recovery_codes_left": factors.recovery_codes_left},
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"my-account.json\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(serde_json::to_string_pretty(&body).unwrap_or_default())
}

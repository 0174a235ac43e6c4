//! A user's activity in the console: their live sessions, each ended with a button, the devices
//! they signed in on, and their sign-in history with step-up's reasons (`GET /admin/users/{id}/activity`,
//! `POST /admin/users/{id}/sessions/{sid}/end`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::UserId;

use super::{admin_of, page};
use crate::storage::{Actor, AdminAudit};
use crate::{Admin, paths};

const HISTORY: i64 = 50;

fn unavailable(req: &HttpRequest, admin: &Admin, context: &str, e: &domain::StorageError) -> HttpResponse {
    tracing::error!(error = %e, "console: {context}");
    page(req, admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
}

/// `GET /admin/users/{id}/activity`.
pub async fn activity(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    let Some(id) = UserId::parse(&path) else {
        return page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]);
    };
    let user = match admin.store.user(&id).await {
        Ok(Some(user)) => user,
        Ok(None) => return page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]),
        Err(e) => return unavailable(&req, &admin, "user lookup", &e),
    };
    let sessions = match admin.store.sessions_of(&user.id, admin.clock.now()).await {
        Ok(sessions) => sessions,
        Err(e) => return unavailable(&req, &admin, "sessions", &e),
    };
    let events = match admin.store.sign_ins_of(&user.id, HISTORY).await {
        Ok(events) => events,
        Err(e) => return unavailable(&req, &admin, "sign-in history", &e),
    };
    let devices = match admin.store.devices_of(&user.id).await {
        Ok(devices) => devices,
        Err(e) => return unavailable(&req, &admin, "devices", &e),
    };
    let at = |t: i64| domain::clock::rfc3339(t);
    let devices: Vec<_> = devices
        .iter()
        .map(|d| serde_json::json!({"description": d.description, "first": at(d.first_seen_at), "last": at(d.last_seen_at), "blocked": d.blocked}))
        .collect();
    let sessions: Vec<_> = sessions
        .iter()
        .map(|s| serde_json::json!({ "sid": s.sid, "since": at(s.auth_time), "acr": s.acr.as_str() }))
        .collect();
    let events: Vec<_> = events
        .iter()
        .map(|e| {
            serde_json::json!({
                "at": at(e.at), "client": e.client_id, "ip": e.ip, "country": e.country, "device": e.device,
                "acr": e.acr.as_str(), "reasons": e.reasons.join(", "),
            })
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("user", &crate::api::users::user_json(&user));
    ctx.insert("back", &paths::console_user(&user.id));
    ctx.insert("sessions", &sessions);
    ctx.insert("devices", &devices);
    ctx.insert("events", &events);
    page(&req, &admin).render(StatusCode::OK, "pages/admin_activity.html", ctx)
}

/// `POST /admin/users/{id}/sessions/{sid}/end`: signs the user out there (audited), then back.
pub async fn end(req: HttpRequest, path: web::Path<(String, String)>, admin: web::Data<Admin>) -> HttpResponse {
    let me = match admin_of(&req, &admin).await {
        Ok(me) => me,
        Err(answer) => return answer,
    };
    let (user, sid) = path.into_inner();
    let Some(user) = UserId::parse(&user).filter(|_| crate::api::plausible_id(&sid)) else {
        return page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]);
    };
    // Only a session of the user the page is about.
    match admin.store.sessions_of(&user, admin.clock.now()).await {
        Ok(sessions) if sessions.iter().any(|s| s.sid == sid) => {}
        Ok(_) => return web_layer::see_other(&format!("{}/activity", paths::console_user(&user))),
        Err(e) => return unavailable(&req, &admin, "sessions", &e),
    }
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let (actor, ended_sid) = (Actor::Admin { user_id: me.id }, sid.clone());
    let audit = Box::new(move |_: &UserId| AdminAudit::SessionEnded { actor, ip, sid: ended_sid });
    match admin.store.end_session(&sid, admin.clock.now(), audit).await {
        // Ended now, or already: either way it is gone from the list.
        Ok(_) => web_layer::see_other(&format!("{}/activity", paths::console_user(&user))),
        Err(e) => unavailable(&req, &admin, "session end", &e),
    }
}

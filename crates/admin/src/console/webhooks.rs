//! The console's webhooks page (`GET /admin/webhooks`): each endpoint's health, enabled again with
//! a button when it was disabled for failing (`POST /admin/webhooks/{name}/enable`), and the recent
//! events with each endpoint's delivery, sent again with a button (`POST /admin/events/{id}/replay`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{admin_of, page};
use crate::storage::{Actor, AdminAudit};
use crate::{Admin, paths};

const EVENTS: i64 = 50;

fn when(at: Option<i64>) -> Option<String> {
    at.map(domain::clock::rfc3339)
}

fn unavailable(req: &HttpRequest, admin: &Admin, e: &domain::StorageError) -> HttpResponse {
    tracing::error!(error = %e, "console: webhooks");
    page(req, admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
}

/// `GET /admin/webhooks?type=`: the endpoints, then the newest events (of one type).
pub async fn webhooks(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let event_type = params.get("type").and_then(|t| domain::events::EventType::parse(t));
    let gathered = async {
        let endpoints = admin.store.webhook_endpoints().await?;
        let events = admin.store.recent_events(event_type, None, EVENTS).await?;
        Ok::<_, domain::StorageError>((endpoints, events))
    };
    let (endpoints, events) = match gathered.await {
        Ok(all) => all,
        Err(e) => return unavailable(&req, &admin, &e),
    };
    let endpoints: Vec<_> = endpoints
        .iter()
        .map(|e| {
            serde_json::json!({"name": e.name, "events": e.events.join(", "), "failing_since": when(e.failing_since),
            "disabled_at": when(e.disabled_at), "last_error": e.last_error, "last_success_at": when(e.last_success_at),
            "waiting": e.waiting})
        })
        .collect();
    let events: Vec<_> = events
        .iter()
        .map(|e| {
            let deliveries: Vec<_> = e
                .deliveries
                .iter()
                .map(|d| {
                    serde_json::json!({"endpoint": d.endpoint, "delivered_at": when(d.delivered_at),
                    "attempts": d.attempts, "last_error": d.last_error})
                })
                .collect();
            serde_json::json!({"id": e.id, "type": e.event_type, "at": when(Some(e.created_at)),
            "data": e.payload.get("data").map(|d| d.to_string()), "deliveries": deliveries})
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("endpoints", &endpoints);
    ctx.insert("events", &events);
    ctx.insert("types", &domain::events::EventType::ALL.iter().map(|t| t.as_str()).collect::<Vec<_>>());
    ctx.insert("type", &event_type.map(|t| t.as_str()));
    page(&req, &admin).render(StatusCode::OK, "pages/admin_webhooks.html", ctx)
}

/// `POST /admin/webhooks/{name}/enable`: enabled (audited), then back to the page.
pub async fn enable(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let me = match admin_of(&req, &admin).await {
        Ok(me) => me,
        Err(answer) => return answer,
    };
    let name = path.into_inner();
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let actor = Actor::Admin { user_id: me.id };
    let audit = AdminAudit::Webhooks { actor, ip, action: "enabled", endpoint: Some(name.clone()), event: None };
    match admin.store.enable_endpoint(&name, admin.clock.now(), audit).await {
        Ok(true) => web_layer::see_other(paths::CONSOLE_WEBHOOKS),
        Ok(false) => page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]),
        Err(e) => unavailable(&req, &admin, &e),
    }
}

/// `POST /admin/events/{id}/replay`: queued again for every endpoint that takes it (audited), then
/// back to the page.
pub async fn replay(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let me = match admin_of(&req, &admin).await {
        Ok(me) => me,
        Err(answer) => return answer,
    };
    let id = path.into_inner();
    if !crate::api::plausible_id(&id) {
        return page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]);
    }
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let actor = Actor::Admin { user_id: me.id };
    let audit = AdminAudit::Webhooks { actor, ip, action: "replayed", endpoint: None, event: Some(id.clone()) };
    match admin.store.replay_event(&id, None, admin.clock.now(), audit).await {
        Ok(Some(_)) => web_layer::see_other(paths::CONSOLE_WEBHOOKS),
        Ok(None) => page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]),
        Err(e) => unavailable(&req, &admin, &e),
    }
}

//! Webhooks: the endpoints' health, `GET /webhooks` and `POST /webhooks/{name}/enable`; and the
//! events, `GET /events` and `POST /events/{id}/replay` (sent again, with the same id).

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::events::EventType;
use serde::Deserialize;
use serde_json::json;

use super::spec::Operation;
use super::{ApiError, authenticate, optional_json_body, plausible_id, run};
use crate::storage::AdminAudit;
use crate::{Admin, paths};

const DEFAULT_EVENTS: i64 = 50;
const MAX_EVENTS: i64 = 200;

pub(super) fn operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "get",
            path: paths::WEBHOOKS,
            summary: "The webhook endpoints: the events each takes, failing since, disabled at, last error, deliveries waiting",
            body: None,
            answers: &[(200, "The endpoints", Some("EndpointList"))],
            route: web::get().to(endpoints),
        },
        Operation {
            method: "post",
            path: paths::WEBHOOK_ENABLE,
            summary: "Enable an endpoint disabled for failing: what waits for it is sent at once",
            body: None,
            answers: &[(200, "The endpoint", Some("Endpoint")), (404, "No endpoint of that name", Some("Error"))],
            route: web::post().to(enable),
        },
        Operation {
            method: "get",
            path: paths::EVENTS,
            summary: "Events, newest first, with each endpoint's delivery; filtered by type",
            body: None,
            answers: &[(200, "The events", Some("EventPage")), (422, "A bad filter", Some("Error"))],
            route: web::get().to(events),
        },
        Operation {
            method: "post",
            path: paths::EVENT_REPLAY,
            summary: "Send an event again, with its id, to one endpoint or every endpoint that takes it",
            body: Some(("ReplayInput", false)),
            answers: &[
                (202, "Queued", Some("Replayed")),
                (404, "No such event, or no such endpoint that takes it", Some("Error")),
                (400, "Malformed JSON, or an unknown member", Some("Error")),
            ],
            route: web::post().to(replay),
        },
    ]
}

fn no_store(body: serde_json::Value, status: actix_web::http::StatusCode) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::CACHE_CONTROL, "no-store")).json(body)
}

/// `GET /webhooks`: `{"endpoints": [...]}`.
pub async fn endpoints(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let list = admin.store.webhook_endpoints().await.map_err(|e| ApiError::storage("webhook endpoints", &e))?;
        Ok(no_store(json!({ "endpoints": list }), actix_web::http::StatusCode::OK))
    })
    .await
}

/// `POST /webhooks/{name}/enable`: the endpoint, enabled.
pub async fn enable(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let name = path.into_inner();
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audit = AdminAudit::Webhooks { actor, ip, action: "enabled", endpoint: Some(name.clone()), event: None };
        let store = &admin.store;
        if !store.enable_endpoint(&name, admin.clock.now(), audit).await.map_err(|e| ApiError::storage("enable", &e))? {
            return Err(ApiError::NotFound);
        }
        let list = store.webhook_endpoints().await.map_err(|e| ApiError::storage("webhook endpoints", &e))?;
        let endpoint = list.into_iter().find(|e| e.name == name).ok_or(ApiError::NotFound)?;
        Ok(no_store(json!(endpoint), actix_web::http::StatusCode::OK))
    })
    .await
}

/// `GET /events?type=&limit=&cursor=`: `{"events": [...], "next_cursor"}`.
pub async fn events(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let params = web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map_err(|_| ApiError::Malformed { field: None, description: "the query string is malformed".into() })?;
        let get = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let event_type = get("type")
            .map(|t| {
                EventType::parse(t).ok_or_else(|| ApiError::invalid("type", format!("{t:?} is not a type of event")))
            })
            .transpose()?;
        let limit =
            match get("limit") {
                None => DEFAULT_EVENTS,
                Some(l) => l.parse().ok().filter(|l| (1..=MAX_EVENTS).contains(l)).ok_or_else(|| {
                    ApiError::invalid("limit", format!("limit must be a number from 1 to {MAX_EVENTS}"))
                })?,
            };
        let cursor = match get("cursor") {
            Some(c) if !plausible_id(c) => return Err(ApiError::invalid("cursor", "cursor is not an event id")),
            c => c.map(str::to_owned),
        };
        let mut list = admin
            .store
            .recent_events(event_type, cursor, limit + 1)
            .await
            .map_err(|e| ApiError::storage("events", &e))?;
        let next = (list.len() as i64 > limit).then(|| {
            list.truncate(limit as usize);
            list.last().map(|e| e.id.clone())
        });
        Ok(no_store(json!({ "events": list, "next_cursor": next.flatten() }), actix_web::http::StatusCode::OK))
    })
    .await
}

/// What `POST /events/{id}/replay` may say: the one endpoint to send it to.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayInput {
    endpoint: Option<String>,
}

/// `POST /events/{id}/replay`: 202 `{"event", "endpoints"}`.
pub async fn replay(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    admin: web::Data<Admin>,
) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let id = path.into_inner();
        let input: ReplayInput = optional_json_body(&req, payload).await?;
        if !plausible_id(&id) {
            return Err(ApiError::NotFound);
        }
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audit = AdminAudit::Webhooks {
            actor,
            ip,
            action: "replayed",
            endpoint: input.endpoint.clone(),
            event: Some(id.clone()),
        };
        let to = admin
            .store
            .replay_event(&id, input.endpoint, admin.clock.now(), audit)
            .await
            .map_err(|e| ApiError::storage("replay", &e))?
            .ok_or(ApiError::NotFound)?;
        Ok(no_store(json!({ "event": id, "endpoints": to }), actix_web::http::StatusCode::ACCEPTED))
    })
    .await
}

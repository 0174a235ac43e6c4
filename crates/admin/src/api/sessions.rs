//! An account's sessions and sign-in history: `GET /users/{id}/sessions`, `DELETE /sessions/{sid}`,
//! `GET /users/{id}/events`.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::users::find;
use super::{ApiError, authenticate, run};
use crate::Admin;
use crate::storage::AdminAudit;

/// The default and the largest number of sign-ins listed.
const DEFAULT_EVENTS: i64 = 50;
const MAX_EVENTS: i64 = 100;

/// `GET /users/{id}/sessions`: `{"sessions": [{"sid", "created_at", "expires_at", "auth_time",
/// "amr", "acr"}]}`, the live ones, newest first.
pub async fn list(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let sessions = admin
            .store
            .sessions_of(&user.id, admin.clock.now())
            .await
            .map_err(|e| ApiError::storage("session list", &e))?;
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(json!({ "sessions": sessions })))
    })
    .await
}

/// `DELETE /sessions/{sid}`: ends the session (the user is signed out there) and revokes the grants
/// that end with it; 204, or 404 when no live session has that id.
pub async fn end(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let sid = path.into_inner();
        if !super::plausible_id(&sid) {
            return Err(ApiError::NotFound);
        }
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audited = sid.clone();
        let audit = Box::new(move |_: &domain::UserId| AdminAudit::SessionEnded { actor, ip, sid: audited });
        let ended = admin.store.end_session(&sid, admin.clock.now(), audit).await;
        match ended.map_err(|e| ApiError::storage("session end", &e))? {
            Some(_) => Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish()),
            None => Err(ApiError::NotFound),
        }
    })
    .await
}

/// `GET /users/{id}/events?limit=`: `{"events": [...]}`, the account's sign-ins, newest first, each
/// with the client, where from, the device, `amr`, `acr` and step-up's reasons.
pub async fn events(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let params = web::Query::<HashMap<String, String>>::from_query(req.query_string())
            .map_err(|_| ApiError::Malformed { field: None, description: "the query string is malformed".into() })?;
        let limit =
            match params.get("limit") {
                None => DEFAULT_EVENTS,
                Some(l) => l.parse().ok().filter(|l| (1..=MAX_EVENTS).contains(l)).ok_or_else(|| {
                    ApiError::invalid("limit", format!("limit must be a number from 1 to {MAX_EVENTS}"))
                })?,
            };
        let events =
            admin.store.sign_ins_of(&user.id, limit).await.map_err(|e| ApiError::storage("sign-in history", &e))?;
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(json!({ "events": events })))
    })
    .await
}

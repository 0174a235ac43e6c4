//! The security views: `GET /blocks`, `DELETE /blocks/{id}`, and the audit log, `GET /audit`
//! (read only: nothing in the console or the API edits it).

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::audit::AuditKind;
use domain::{ClientId, UserId};
use serde_json::json;

use super::{ApiError, authenticate, run};
use crate::Admin;
use crate::storage::{AdminAudit, AuditQuery};

const DEFAULT_ENTRIES: i64 = 50;
const MAX_ENTRIES: i64 = 200;

/// `GET /blocks`: `{"blocks": [{"id", "ip", "all_accounts", "reason", "created_at", "expires_at"}]}`,
/// the active ones, newest first.
pub async fn blocks(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let blocks =
            admin.store.active_blocks(admin.clock.now()).await.map_err(|e| ApiError::storage("block list", &e))?;
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(json!({ "blocks": blocks })))
    })
    .await
}

/// `DELETE /blocks/{id}`: lifts the block; 204, or 404 when no active block has that id.
pub async fn lift(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let id = path.into_inner();
        if !super::plausible_id(&id) {
            return Err(ApiError::NotFound);
        }
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audit = AdminAudit::BlockLifted { actor, ip, block: id.clone() };
        match admin.store.lift_block(&id, admin.clock.now(), audit).await {
            Ok(true) => Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish()),
            Ok(false) => Err(ApiError::NotFound),
            Err(e) => Err(ApiError::storage("block lift", &e)),
        }
    })
    .await
}

/// `GET /audit?kind=&user=&client=&actor=&since=&until=&limit=&cursor=`: `{"entries": [{"id", "at",
/// "kind", "user_id", "client_id", "detail"}], "next_cursor"}`, newest first.
pub async fn audit(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let query = audit_query(req.query_string())?;
        let limit = query.limit;
        let mut records = admin
            .store
            .audit_page(&AuditQuery { limit: limit + 1, ..query })
            .await
            .map_err(|e| ApiError::storage("audit log", &e))?;
        let next = (records.len() as i64 > limit).then(|| {
            records.truncate(limit as usize);
            records.last().map(|r| r.id.clone())
        });
        let entries: Vec<_> = records
            .iter()
            .map(|r| {
                json!({
                    "id": r.id, "at": r.event.at, "kind": r.event.kind.as_str(), "user_id": r.event.user,
                    "client_id": r.event.client, "detail": r.event.detail,
                })
            })
            .collect();
        let body = json!({ "entries": entries, "next_cursor": next.flatten() });
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
    })
    .await
}

fn audit_query(raw: &str) -> Result<AuditQuery, ApiError> {
    let params = web::Query::<HashMap<String, String>>::from_query(raw)
        .map_err(|_| ApiError::Malformed { field: None, description: "the query string is malformed".into() })?;
    let get = |name: &str| params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let id = |name: &str| -> Result<Option<String>, ApiError> {
        match get(name) {
            Some(v) if v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
                Ok(Some(v.to_owned()))
            }
            Some(_) => Err(ApiError::invalid(name, format!("{name} is not an id"))),
            None => Ok(None),
        }
    };
    let time = |name: &str| -> Result<Option<i64>, ApiError> {
        get(name).map(|v| v.parse().map_err(|_| ApiError::invalid(name, format!("{name} is a Unix time")))).transpose()
    };
    let kind = get("kind")
        .map(|k| AuditKind::parse(k).ok_or_else(|| ApiError::invalid("kind", format!("{k:?} is not a kind of entry"))))
        .transpose()?;
    let limit = match get("limit") {
        None => DEFAULT_ENTRIES,
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=MAX_ENTRIES).contains(l))
            .ok_or_else(|| ApiError::invalid("limit", format!("limit must be a number from 1 to {MAX_ENTRIES}")))?,
    };
    Ok(AuditQuery {
        kind,
        user: id("user")?.and_then(|u| UserId::parse(&u)),
        client: id("client")?.and_then(|c| ClientId::parse(&c)),
        actor: id("actor")?,
        since: time("since")?,
        until: time("until")?,
        before: id("cursor")?,
        limit,
    })
}

//! The console's security views: the active IP blocks, lifted with a button
//! (`GET /admin/security`, `POST /admin/blocks/{id}/lift`), and the audit log (`GET /admin/audit`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{admin_of, page};
use crate::storage::{Actor, AdminAudit, AuditQuery};
use crate::{Admin, paths};

const ENTRIES: i64 = 50;

/// `GET /admin/security`: the active IP blocks, newest first.
pub async fn security(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    match admin.store.active_blocks(admin.clock.now()).await {
        Ok(blocks) => {
            let mut ctx = tera::Context::new();
            ctx.insert("blocks", &blocks);
            page(&req, &admin).render(StatusCode::OK, "pages/admin_security.html", ctx)
        }
        Err(e) => {
            tracing::error!(error = %e, "console: blocks");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

/// `POST /admin/blocks/{id}/lift`: lifts the block (audited), then back to the list.
pub async fn lift(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let me = match admin_of(&req, &admin).await {
        Ok(me) => me,
        Err(answer) => return answer,
    };
    let id = path.into_inner();
    if !crate::api::plausible_id(&id) {
        return page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]);
    }
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let audit = AdminAudit::BlockLifted { actor: Actor::Admin { user_id: me.id }, ip, block: id.clone() };
    match admin.store.lift_block(&id, admin.clock.now(), audit).await {
        // Lifted now, or by someone else a moment ago: either way it is gone from the list.
        Ok(_) => web_layer::see_other(paths::CONSOLE_SECURITY),
        Err(e) => {
            tracing::error!(error = %e, "console: block lift");
            page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
        }
    }
}

/// `GET /admin/audit?kind=&user=&cursor=`: the audit log, newest first, 50 entries a page.
pub async fn audit(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty() && crate::api::plausible_id(v));
    let kind = params.get("kind").and_then(|k| domain::audit::AuditKind::parse(k));
    let query = AuditQuery {
        kind,
        user: get("user").and_then(domain::UserId::parse),
        client: get("client").and_then(domain::ClientId::parse),
        actor: None,
        since: None,
        until: None,
        before: get("cursor").map(str::to_owned),
        limit: ENTRIES + 1,
    };
    let mut records = match admin.store.audit_page(&query).await {
        Ok(records) => records,
        Err(e) => {
            tracing::error!(error = %e, "console: audit log");
            return page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[]);
        }
    };
    let more = records.len() as i64 > ENTRIES;
    records.truncate(ENTRIES as usize);
    let entries: Vec<_> = records
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.id, "at": domain::clock::rfc3339(r.event.at), "kind": r.event.kind.as_str(),
                "user": r.event.user, "client": r.event.client, "detail": r.event.detail.to_string(),
            })
        })
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("entries", &entries);
    ctx.insert("kinds", &domain::audit::AuditKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>());
    ctx.insert("kind", &kind.map(|k| k.as_str()).unwrap_or(""));
    ctx.insert("user", get("user").unwrap_or(""));
    ctx.insert("next", &more.then(|| records.last().map(|r| r.id.clone())).flatten());
    page(&req, &admin).render(StatusCode::OK, "pages/admin_audit.html", ctx)
}

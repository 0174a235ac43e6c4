//! The console's security views: the active IP blocks, lifted with a button, the recent
//! failures and alerts, and the delivery of messages with each provider's reason
//! (`GET /admin/security`, `POST /admin/blocks/{id}/lift`); and the audit log (`GET /admin/audit`),
//! filtered by kind, user, client, actor and days.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{admin_of, page};
use domain::audit::AuditKind;

use crate::storage::{Actor, AdminAudit, AuditQuery, AuditRecord};
use crate::{Admin, paths};

const ENTRIES: i64 = 50;

/// What the security page counts as failures and alerts: refused sign-ins, "This wasn't me",
/// IP blocks, and the alerts the owner is emailed.
const ALERTING: [AuditKind; 4] = [AuditKind::Alert, AuditKind::IpBlocked, AuditKind::StepUpDenied, AuditKind::NotMe];
const RECENT: i64 = 20;

fn when(at: i64) -> String {
    domain::clock::rfc3339(at)
}

fn entry_json(r: &AuditRecord) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "at": when(r.event.at), "kind": r.event.kind.as_str(),
        "user": r.event.user, "client": r.event.client, "detail": r.event.detail.to_string(),
    })
}

/// `GET /admin/security`: the active IP blocks, the recent failures and alerts, and the messages
/// whose delivery failed or is being retried (then the newest ones), with each provider's reason.
pub async fn security(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    let gathered = async {
        let blocks = admin.store.active_blocks(admin.clock.now()).await?;
        let mut alerts = Vec::new();
        for kind in ALERTING {
            let query = AuditQuery { kind: Some(kind), limit: RECENT, ..Default::default() };
            alerts.extend(admin.store.audit_page(&query).await?);
        }
        let failing = admin.store.recent_messages(RECENT, true).await?;
        let recent = admin.store.recent_messages(RECENT, false).await?;
        Ok::<_, domain::StorageError>((blocks, alerts, failing, recent))
    };
    let (blocks, mut alerts, failing, recent) = match gathered.await {
        Ok(all) => all,
        Err(e) => {
            tracing::error!(error = %e, "console: security");
            return page(&req, &admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[]);
        }
    };
    alerts.sort_by(|a, b| b.event.at.cmp(&a.event.at).then_with(|| b.id.cmp(&a.id)));
    alerts.truncate(RECENT as usize);
    let blocks: Vec<_> = blocks
        .iter()
        .map(|b| {
            serde_json::json!({"id": b.id, "ip": b.ip, "all_accounts": b.all_accounts, "reason": b.reason,
            "since": when(b.created_at), "until": when(b.expires_at)})
        })
        .collect();
    let messages = |list: &[crate::storage::MessageInfo]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|m| {
                serde_json::json!({"channel": m.channel, "to": m.recipient, "status": m.status,
                "attempts": m.attempts, "provider": m.provider, "reason": m.last_error, "at": when(m.created_at)})
            })
            .collect()
    };
    let mut ctx = tera::Context::new();
    ctx.insert("blocks", &blocks);
    ctx.insert("alerts", &alerts.iter().map(entry_json).collect::<Vec<_>>());
    ctx.insert("failing", &messages(&failing));
    ctx.insert("recent", &messages(&recent));
    page(&req, &admin).render(StatusCode::OK, "pages/admin_security.html", ctx)
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
    let day = |k: &str| params.get(k).and_then(|d| domain::clock::day_start(d));
    let query = AuditQuery {
        kind,
        user: get("user").and_then(domain::UserId::parse),
        client: get("client").and_then(domain::ClientId::parse),
        actor: get("actor").map(str::to_owned),
        since: day("since"),
        // Through the end of that day.
        until: day("until").map(|d| d + 86_400), // the store compares `created_at < until`
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
    let entries: Vec<_> = records.iter().map(entry_json).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("entries", &entries);
    ctx.insert("kinds", &domain::audit::AuditKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>());
    // The filters, shown again and carried to the next page.
    let mut carried = url::form_urlencoded::Serializer::new(String::new());
    for key in ["kind", "user", "client", "actor", "since", "until"] {
        let value = match key {
            "kind" => kind.map(|k| k.as_str().to_owned()),
            "since" | "until" => params.get(key).filter(|_| day(key).is_some()).cloned(),
            _ => get(key).map(str::to_owned),
        };
        ctx.insert(key, &value.clone().unwrap_or_default());
        if let Some(v) = value {
            carried.append_pair(key, &v);
        }
    }
    ctx.insert("filters", &carried.finish());
    ctx.insert("next", &more.then(|| records.last().map(|r| r.id.clone())).flatten());
    page(&req, &admin).render(StatusCode::OK, "pages/admin_audit.html", ctx)
}

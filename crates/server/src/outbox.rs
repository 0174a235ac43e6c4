//! The dev outbox: every message the delivery provider `outbox` would have sent, newest first.
//! Mounted only while that provider is configured (never in production).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use domain::secret::Sealer;
use passwordless_connection::delivery::open_body;
use serde::Serialize;
use store::Store;

#[derive(Serialize)]
struct OutboxMessage {
    id: String,
    channel: String,
    to: String,
    subject: String,
    text: String,
    html: Option<String>,
    created_at: String,
}

/// The newest messages, their sealed bodies opened for the developer.
async fn messages(store: &Store, sealer: &Sealer) -> Result<Vec<OutboxMessage>, store::StoreError> {
    Ok(store
        .recent_messages(200)
        .await?
        .into_iter()
        .map(|m| OutboxMessage {
            channel: m.channel.as_str().to_owned(),
            to: m.recipient,
            subject: m.subject,
            text: match m.text_body.as_deref() {
                Some(b) => {
                    open_body(sealer, m.id.as_str(), b).unwrap_or_else(|| "[sealed with another master key]".into())
                }
                None => String::new(),
            },
            html: m.html_body.as_deref().and_then(|b| open_body(sealer, m.id.as_str(), b)),
            id: m.id.to_string(),
            created_at: domain::clock::rfc3339(m.created_at),
        })
        .collect())
}

pub async fn outbox_json(store: web::Data<Store>, sealer: web::Data<Sealer>) -> HttpResponse {
    match messages(&store, &sealer).await {
        Ok(list) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(list),
        Err(e) => {
            tracing::error!(error = %e, "outbox read failed");
            HttpResponse::InternalServerError().json(serde_json::json!({ "error": "server_error" }))
        }
    }
}

pub async fn outbox_page(
    req: actix_web::HttpRequest,
    store: web::Data<Store>,
    sealer: web::Data<Sealer>,
    tera: web::Data<Arc<tera::Tera>>,
    catalog: web::Data<Arc<domain::i18n::Catalog>>,
) -> HttpResponse {
    let list = match messages(&store, &sealer).await {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "outbox read failed");
            return HttpResponse::InternalServerError().body("server_error");
        }
    };
    let mut ctx = tera::Context::new();
    ctx.insert("messages", &list);
    let lang = web_layer::Lang::of(&req).pick(&catalog, None);
    web_layer::Page::new(&req, &tera, &catalog, lang).render(actix_web::http::StatusCode::OK, "pages/outbox.html", ctx)
}

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
    /// The web links in the text, to click on the page (and to follow in tests).
    links: Vec<String>,
}

/// The `http(s)://` links in a message's text, in order, each once.
fn links_in(text: &str) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let word = word.trim_end_matches(['.', ',', ')', '>']);
        let web = word.starts_with("https://") || word.starts_with("http://");
        if web && url::Url::parse(word).is_ok() && !links.iter().any(|l| l == word) {
            links.push(word.to_owned());
        }
    }
    links
}

/// The newest messages, their sealed bodies opened for the developer.
async fn messages(store: &Store, sealer: &Sealer) -> Result<Vec<OutboxMessage>, store::StoreError> {
    Ok(store
        .recent_messages(200)
        .await?
        .into_iter()
        .map(|m| {
            let text = match m.text_body.as_deref() {
                Some(b) => {
                    open_body(sealer, m.id.as_str(), b).unwrap_or_else(|| "[sealed with another master key]".into())
                }
                None => String::new(),
            };
            OutboxMessage {
                channel: m.channel.as_str().to_owned(),
                to: m.recipient,
                subject: m.subject,
                links: links_in(&text),
                text,
                html: m.html_body.as_deref().and_then(|b| open_body(sealer, m.id.as_str(), b)),
                id: m.id.to_string(),
                created_at: domain::clock::rfc3339(m.created_at),
            }
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_links_of_a_message_are_found_once_each() {
        let text = "Sign in: https://id.example/login/a?t=1&u=2.\nOr http://127.0.0.1:8080/x, again https://id.example/login/a?t=1&u=2 (not ftp://x) or https://";
        assert_eq!(
            super::links_in(text),
            ["https://id.example/login/a?t=1&u=2", "http://127.0.0.1:8080/x"].map(String::from)
        );
    }
}

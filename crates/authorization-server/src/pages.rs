//! The few HTML pages the protocol itself shows: errors that must not redirect.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;

/// An error page. RFC 6749 §4.1.2.1: when the client or redirect URI cannot be trusted the user
/// is told, and nothing is sent to the redirect URI.
pub fn error_page(tera: &tera::Tera, status: StatusCode, title: &str, message: &str) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("title", title);
    ctx.insert("message", message);
    match tera.render("pages/error.html", &ctx) {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(e) => {
            tracing::error!(error = %e, "error page could not be rendered");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("server_error")
        }
    }
}

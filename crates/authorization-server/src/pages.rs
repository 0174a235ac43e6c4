//! The few HTML pages the protocol itself shows: errors that must not redirect. In the language of
//! the request (`ui_locales`, then `Accept-Language`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};

use crate::AuthorizationServer;

/// The language of a page for this request.
pub(crate) fn language<'a>(srv: &'a AuthorizationServer, req: &HttpRequest) -> &'a str {
    let query = crate::params::Params::parse(req.query_string().as_bytes());
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    srv.catalog.negotiate(query.get("ui_locales"), accept)
}

/// An error page whose title and text are the catalog's `{key}_title` and `{key}_text`. RFC 6749
/// §4.1.2.1: when the client or redirect URI cannot be trusted the user is told, and nothing is
/// sent to the redirect URI.
pub fn error_page(srv: &AuthorizationServer, req: &HttpRequest, status: StatusCode, key: &str) -> HttpResponse {
    titled_error_page(srv, req, status, &format!("{key}_title"), &format!("{key}_text"))
}

/// An error page with a title and a text from two catalog keys.
pub fn titled_error_page(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    status: StatusCode,
    title: &str,
    text: &str,
) -> HttpResponse {
    let lang = language(srv, req);
    let mut ctx = tera::Context::new();
    ctx.insert("lang", lang);
    ctx.insert("t", srv.catalog.table(lang));
    ctx.insert("title", srv.catalog.text(lang, title));
    ctx.insert("message", srv.catalog.text(lang, text));
    match srv.tera.render("pages/error.html", &ctx) {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(e) => {
            tracing::error!(error = %e, "error page could not be rendered");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("server_error")
        }
    }
}

//! The few HTML pages the protocol itself shows: errors that must not redirect. In the language of
//! the request (`ui_locales`, then `Accept-Language`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use web_layer::{Lang, Page};

use crate::AuthorizationServer;

/// A page for this request, in its language (`ui_locales` of the query, then `Accept-Language`).
pub(crate) fn page<'a>(srv: &'a AuthorizationServer, req: &HttpRequest) -> Page<'a> {
    Page::new(req, &srv.tera, &srv.catalog, Lang::of(req).pick(&srv.catalog, None))
}

/// An error page whose title and text are the catalog's `{key}_title` and `{key}_text`. RFC 6749
/// §4.1.2.1: when the client or redirect URI cannot be trusted the user is told, and nothing is
/// sent to the redirect URI.
pub fn error_page(srv: &AuthorizationServer, req: &HttpRequest, status: StatusCode, key: &str) -> HttpResponse {
    page(srv, req).message(status, key, &[])
}

/// An error page with a title and a text from two catalog keys.
pub fn titled_error_page(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    status: StatusCode,
    title: &str,
    text: &str,
) -> HttpResponse {
    page(srv, req).titled(status, title, text, &[])
}

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

/// Why the protocol shows a page instead of answering the client: RFC 6749 §4.1.2.1, when the
/// client or its redirect URI cannot be trusted the user is told, and nothing is sent to the
/// redirect URI. Each is a page whose texts are the catalog's `{key}_title` and `{key}_text`;
/// the detail goes to the log only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageError {
    /// A malformed request (the detail says how).
    BadRequest(&'static str),
    /// `client_id` names no registered client.
    UnknownApp,
    /// `redirect_uri` is not one the client registered.
    BadRedirect,
    /// The sign-in is over, unknown, or was already used.
    Expired,
    /// The sign-in was started in another browser.
    DifferentBrowser,
    /// The database is away (the detail says what was being done, and was logged): 503, trying
    /// again shortly may work.
    Unavailable(&'static str),
    /// Something else failed on our side (a bug, stored data that cannot be read; logged): 500.
    Broken(&'static str),
}

impl PageError {
    /// Every catalog key these pages use.
    pub const KEYS: [&'static str; 6] =
        ["bad_request", "unknown_app", "bad_redirect", "expired", "different_browser", "unavailable"];

    pub fn key(self) -> &'static str {
        match self {
            PageError::BadRequest(_) => "bad_request",
            PageError::UnknownApp => "unknown_app",
            PageError::BadRedirect => "bad_redirect",
            PageError::Expired => "expired",
            PageError::DifferentBrowser => "different_browser",
            PageError::Unavailable(_) | PageError::Broken(_) => "unavailable",
        }
    }

    /// What the log says.
    pub fn detail(self) -> &'static str {
        match self {
            PageError::BadRequest(detail) | PageError::Unavailable(detail) | PageError::Broken(detail) => detail,
            PageError::UnknownApp => "unknown client_id",
            PageError::BadRedirect => "redirect_uri is not registered",
            PageError::Expired => "the interaction is over or unknown",
            PageError::DifferentBrowser => "the interaction belongs to another browser",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            PageError::DifferentBrowser => StatusCode::FORBIDDEN,
            PageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PageError::Broken(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn respond(self, srv: &AuthorizationServer, req: &HttpRequest) -> HttpResponse {
        match self {
            PageError::Unavailable(detail) | PageError::Broken(detail) => tracing::error!("{detail}"),
            _ => tracing::info!(reason = self.detail(), "refused with a page"),
        }
        page(srv, req).message(self.status(), self.key(), &[])
    }
}

impl PageError {
    /// A failure of the storage (or anything else on our side), logged with its cause chain:
    /// `Unavailable` while the database is away, else `Broken` (the rule of
    /// [`crate::errors::internal`]).
    pub(crate) fn failed(context: &'static str, err: &(dyn std::error::Error + 'static)) -> Self {
        match crate::errors::internal(context, err).error {
            crate::errors::ErrorCode::TemporarilyUnavailable => PageError::Unavailable(context),
            _ => PageError::Broken(context),
        }
    }
}

/// Logs a failure of the storage (or anything else on our side) and answers with the page that
/// says so.
pub(crate) fn unavailable(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    context: &'static str,
    err: &(dyn std::error::Error + 'static),
) -> HttpResponse {
    PageError::failed(context, err).respond(srv, req)
}

//! What the server's middleware established about a request, and what the request itself says,
//! read the same way by every crate.

use std::convert::Infallible;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use domain::ClientIp;
use domain::i18n::Catalog;

/// The CSRF token every HTML form of this request must carry in a field named `csrf` (set by the
/// server's middleware, which also checks it).
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// The request's id (set by the server's access log, which writes it on every log line of the
/// request and returns it in `X-Request-Id`); error pages show it, so an admin can find those lines.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The country of the client IP (ISO 3166-1 alpha-2), when the server's IP-to-country data knows
/// it (set by the server's middleware).
#[derive(Clone, Debug)]
pub struct ClientCountry(pub Option<String>);

/// The browser a request comes from, as the keyed hash of its browser cookie (set by the server's
/// middleware). An interaction and a magic link are bound to the browser that started the login by
/// storing this hash.
#[derive(Clone, Debug)]
pub struct BrowserBinding(pub Vec<u8>);

impl BrowserBinding {
    /// The binding of this request, if the middleware is mounted.
    pub fn of(req: &HttpRequest) -> Option<Self> {
        req.extensions().get::<Self>().cloned()
    }

    /// Whether this browser is the one `stored` names (compared in constant time).
    pub fn matches(&self, stored: &[u8]) -> bool {
        domain::secret::constant_time_eq(&self.0, stored)
    }

    /// Whether `req` comes from the browser `stored` names.
    pub fn same_browser(req: &HttpRequest, stored: &[u8]) -> bool {
        Self::of(req).is_some_and(|b| b.matches(stored))
    }
}

/// Where a request comes from: the client IP (established by the trusted-proxy rules, canonical),
/// its country when known, and a short description of the device.
#[derive(Clone, Debug)]
pub struct RequestOrigin {
    pub ip: ClientIp,
    /// ISO 3166-1 alpha-2, when known.
    pub country: Option<String>,
    /// "Firefox on Linux", when the User-Agent says.
    pub device: Option<String>,
}

impl RequestOrigin {
    pub fn of(req: &HttpRequest) -> Self {
        let ext = req.extensions();
        // What the middleware established, else the TCP peer, else the unspecified address (a
        // request with neither, as in some unit tests).
        let ip = ext.get::<ClientIp>().copied().unwrap_or_else(|| {
            let peer = req.peer_addr().map(|a| a.ip());
            ClientIp::new(peer.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
        });
        let country = ext.get::<ClientCountry>().and_then(|c| c.0.clone());
        let device = user_agent(req).and_then(crate::describe_user_agent);
        RequestOrigin { ip, country, device }
    }

    /// "203.0.113.9 (FR, Firefox on Linux)".
    pub fn place(&self) -> String {
        let details: Vec<&str> = self.country.iter().chain(self.device.iter()).map(String::as_str).collect();
        if details.is_empty() { self.ip.to_string() } else { format!("{} ({})", self.ip, details.join(", ")) }
    }
}

impl FromRequest for RequestOrigin {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// The raw User-Agent header, when it is text (to hand to a port, which describes it itself).
pub fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok())
}

/// What a request says about its language: `ui_locales` in its query (OIDC Core §3.1.2.1) and
/// `Accept-Language` (RFC 9110 §12.5.4). [`Lang::pick`] chooses among the catalog's languages.
#[derive(Clone, Debug, Default)]
pub struct Lang {
    ui_locales: Option<String>,
    accept_language: Option<String>,
}

impl Lang {
    pub fn of(req: &HttpRequest) -> Self {
        let ui_locales = url::form_urlencoded::parse(req.query_string().as_bytes())
            .find(|(k, _)| k == "ui_locales")
            .map(|(_, v)| v.into_owned());
        let accept_language =
            req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Lang { ui_locales, accept_language }
    }

    /// The language of the answer: `ui_locales` known for the sign-in (an interaction's, or an
    /// API call's) first, then the query's, then `Accept-Language`, then English.
    pub fn pick<'c>(&self, catalog: &'c Catalog, ui_locales: Option<&str>) -> &'c str {
        catalog.negotiate(ui_locales.or(self.ui_locales.as_deref()), self.accept_language.as_deref())
    }
}

impl FromRequest for Lang {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// The media type of a request body (`application/json`, lower case, without parameters), if the
/// body is sent as is. A body with a `Content-Encoding` other than `identity` is not read: Ostiary
/// accepts no compressed requests (RFC 9110 §8.4.1), and each endpoint refuses one in its own
/// protocol's words rather than a decoder's.
pub fn plain_media_type(req: &HttpRequest) -> Option<String> {
    let header = |name| req.headers().get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    media_type(header(header::CONTENT_TYPE), header(header::CONTENT_ENCODING))
}

fn media_type(content_type: Option<&str>, content_encoding: Option<&str>) -> Option<String> {
    if content_encoding.is_some_and(|e| !e.split(',').all(|c| c.trim().eq_ignore_ascii_case("identity"))) {
        return None;
    }
    content_type.and_then(|v| v.split(';').next()).map(|t| t.trim().to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_bodies_have_no_media_type() {
        let form = Some("application/x-www-form-urlencoded; charset=utf-8");
        assert_eq!(media_type(form, None).as_deref(), Some("application/x-www-form-urlencoded"));
        assert_eq!(media_type(form, Some("identity")).as_deref(), Some("application/x-www-form-urlencoded"));
        assert_eq!(media_type(form, Some("gzip")), None);
        assert_eq!(media_type(Some("Application/JSON"), None).as_deref(), Some("application/json"));
    }

    #[test]
    fn the_origin_is_the_middlewares_client_ip_and_the_agent() {
        let req = actix_web::test::TestRequest::default()
            .peer_addr("[::ffff:192.0.2.1]:4000".parse().unwrap())
            .insert_header((
                header::USER_AGENT,
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            ))
            .to_http_request();
        let origin = RequestOrigin::of(&req);
        assert_eq!(origin.place(), "192.0.2.1 (Firefox on Linux)", "the peer, canonical");
        req.extensions_mut().insert(ClientIp::new("203.0.113.9".parse().unwrap()));
        req.extensions_mut().insert(ClientCountry(Some("FR".into())));
        assert_eq!(RequestOrigin::of(&req).place(), "203.0.113.9 (FR, Firefox on Linux)");
    }
}

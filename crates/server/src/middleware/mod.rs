//! Cross-cutting rules, each in one place: security headers on every response, the browser cookie
//! (binding logins to a browser), CSRF on every form post, the client IP behind trusted proxies
//! ([`client_ip`]) and CORS for the API's paths ([`cors`]).

mod client_ip;
mod cors;

pub use client_ip::{ForwardedHeader, client_ip, from_trusted_proxy};
pub use cors::{CorsOrigins, cors, refresh_cors_origins};

use std::sync::Arc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use domain::KeyedHasher;
use futures_util::StreamExt;

use crate::templates::ServerPage;
use web_layer::{BrowserBinding, ClientCountry, CsrfToken, EndpointKinds, content_security_policy};

/// What the browser-context middleware needs.
pub struct BrowserContext {
    pub hasher: KeyedHasher,
    pub https: bool,
    /// `scheme://host[:port]` of the issuer; a form post must come from it.
    pub origin: String,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header the trusted proxies write the client's address in.
    pub forwarded_header: ForwardedHeader,
    /// Places the client IP in a country, for messages that say where a sign-in came from.
    pub geo: std::sync::Arc<step_up::Geo>,
    /// For the pages this middleware answers with itself (a refused form).
    pub tera: Arc<tera::Tera>,
    pub catalog: Arc<domain::i18n::Catalog>,
    /// The kind of every route: which posts are exempt from the CSRF check.
    pub kinds: EndpointKinds,
}

impl BrowserContext {
    fn cookie_name(&self) -> &'static str {
        if self.https { "__Host-ostiary-browser" } else { "ostiary-browser" }
    }

    /// The CSRF token is a keyed hash of the browser id: only this browser's pages can know it,
    /// and it needs no storage (OWASP CSRF cheat sheet, "HMAC based token pattern").
    fn csrf_token(&self, browser: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.hasher.hash("csrf", browser).0)
    }
}

/// Largest form body accepted.
const FORM_LIMIT: usize = 16 * 1024;

/// Security headers every response carries (CSP with `frame-ancestors 'none'` against clickjacking,
/// no referrer so magic-link tokens never leak, no MIME sniffing). A handler that sets its own CSP
/// (to allow a form to end at a client's redirect URI) keeps it.
pub fn security_headers(https: bool) -> actix_web::middleware::DefaultHeaders {
    let mut h = actix_web::middleware::DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, content_security_policy(None)))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if https {
        h = h.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"));
    }
    h
}

/// Sets up the browser cookie, the CSRF token and the client IP for the handlers, and refuses a
/// form post whose token or origin is wrong before any handler runs.
pub async fn browser_context(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static, BoxBody>>, actix_web::Error> {
    let Some(ctx) = req.app_data::<web::Data<BrowserContext>>().map(|d| Arc::clone(d)) else {
        return Ok(req.into_response(HttpResponse::InternalServerError().body("server_error")).map_into_right_body());
    };
    // An application's call to an API or back-channel endpoint (the token endpoint, discovery,
    // introspection, the admin API) needs no browser: no cookie, no CSRF token, no binding; only
    // the client IP, and its country for a call that may write where a sign-in came from. A GET to
    // an API (discovery, JWKS, userinfo) needs no country either.
    if ctx.kinds.for_applications(req.path()) {
        let client_ip = client_ip(&req, &ctx.trusted_proxies, ctx.forwarded_header);
        if !(matches!(*req.method(), Method::GET | Method::HEAD) && ctx.kinds.cors(req.path())) {
            req.extensions_mut().insert(ClientCountry(ctx.geo.country(client_ip.ip())));
        }
        req.extensions_mut().insert(client_ip);
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let existing = req
        .cookie(ctx.cookie_name())
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let is_new = existing.is_none();
    let browser = existing.unwrap_or_else(|| domain::secret::random_token(32));
    let csrf = ctx.csrf_token(&browser);
    let client_ip = client_ip(&req, &ctx.trusted_proxies, ctx.forwarded_header);

    if req.method() == Method::POST
        && !ctx.kinds.csrf_exempt(req.path())
        && let Some(refusal) = check_csrf(&mut req, &ctx, &csrf).await
    {
        return Ok(req.into_response(refusal).map_into_right_body());
    }

    // The crates see the browser only as a keyed hash of its cookie, which binds a sign-in to it.
    req.extensions_mut().insert(BrowserBinding(ctx.hasher.hash("browser", &browser).0));
    req.extensions_mut().insert(CsrfToken(csrf));
    req.extensions_mut().insert(client_ip);
    req.extensions_mut().insert(ClientCountry(ctx.geo.country(client_ip.ip())));
    let mut res = next.call(req).await?;
    if is_new {
        let cookie = Cookie::build(ctx.cookie_name(), browser)
            .path("/")
            .http_only(true)
            .secure(ctx.https)
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::days(30))
            .finish();
        if let Ok(value) = header::HeaderValue::from_str(&cookie.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(res.map_into_left_body())
}

/// Refuses a form post from another origin or without this browser's token. The body is read
/// (bounded) and put back for the handler.
async fn check_csrf(req: &mut ServiceRequest, ctx: &BrowserContext, expected: &str) -> Option<HttpResponse> {
    let http = req.request().clone();
    let page = |status: StatusCode, which: ServerPage| {
        crate::templates::message_page(&ctx.tera, &ctx.catalog, &http, status, which)
    };
    let forbidden = || page(StatusCode::FORBIDDEN, ServerPage::FormExpired);
    // Fetch Metadata (`Sec-Fetch-Site`) and `Origin`: a browser says where a post came from, and a
    // post from another site is refused. Under `Referrer-Policy: no-referrer` browsers send
    // `Origin: null` for our own forms, so `null` proves nothing either way; the token decides.
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| !matches!(site, "same-origin" | "none")) {
        return Some(forbidden());
    }
    if let Some(origin) = header("origin")
        && origin != "null"
        && origin != ctx.origin
    {
        return Some(forbidden());
    }
    // Forms are sent uncompressed (RFC 9110 §8.4.1: no request body is decoded here).
    let encoding = header("content-encoding");
    if encoding.is_some_and(|e| !e.split(',').all(|c| c.trim().eq_ignore_ascii_case("identity"))) {
        return Some(page(StatusCode::UNSUPPORTED_MEDIA_TYPE, ServerPage::FormMalformed));
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return Some(page(StatusCode::BAD_REQUEST, ServerPage::FormMalformed));
        };
        if body.len() + chunk.len() > FORM_LIMIT {
            return Some(page(StatusCode::PAYLOAD_TOO_LARGE, ServerPage::FormTooLarge));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let given = url::form_urlencoded::parse(&body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
    req.set_payload(actix_web::dev::Payload::from(body));
    match given {
        Some(token) if domain::secret::constant_time_eq(token.as_bytes(), expected.as_bytes()) => None,
        _ => Some(forbidden()),
    }
}

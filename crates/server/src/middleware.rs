//! Cross-cutting rules, each in one place: security headers on every response, the browser cookie
//! (binding logins to a browser), CSRF on every form post, and the client IP behind trusted proxies.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use domain::{ClientIp, KeyedHasher};
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

/// The header a trusted proxy names the client in (`server.forwarded_header`). Only that one is
/// read: a client can send either header itself, and a proxy that writes one passes the other
/// through untouched, so believing both would let the client choose its own address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (de facto; nginx, HAProxy, Caddy, Traefik, AWS).
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl ForwardedHeader {
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Some(ForwardedHeader::XForwardedFor),
            "forwarded" => Some(ForwardedHeader::Forwarded),
            _ => None,
        }
    }

    /// The hops the header lists, furthest first; `None` for a hop that names no readable address.
    fn hops(self, req: &ServiceRequest) -> Vec<Option<IpAddr>> {
        let values = |name: &str| {
            req.headers().get_all(name).map(|v| v.to_str().unwrap_or_default().to_owned()).collect::<Vec<_>>()
        };
        match self {
            ForwardedHeader::XForwardedFor => {
                values("x-forwarded-for").iter().flat_map(|v| v.split(',').map(parse_hop).collect::<Vec<_>>()).collect()
            }
            // RFC 7239 §4: elements separated by commas, pairs by semicolons; one `for` each.
            ForwardedHeader::Forwarded => values("forwarded")
                .iter()
                .flat_map(|v| {
                    v.split(',')
                        .map(|element| {
                            element.split(';').find_map(|pair| {
                                let (k, v) = pair.trim().split_once('=')?;
                                k.trim().eq_ignore_ascii_case("for").then(|| parse_hop(v))?
                            })
                        })
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }
}

/// The client's address. A forwarding header is believed only from a configured trusted proxy,
/// and only the one the operator named. Walking from the nearest hop outwards, trusted proxies are
/// passed over and the first address that is not one is the client: a client can prepend anything
/// to the list, but not append. A hop that cannot be read ends the walk at the nearest trusted
/// address, since what lies beyond it was written by someone nobody vouches for.
pub fn client_ip(req: &ServiceRequest, trusted: &[ipnet::IpNet], header: ForwardedHeader) -> ClientIp {
    let peer = ClientIp::new(req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0])));
    let is_trusted = |ip: ClientIp| trusted.iter().any(|n| n.contains(&ip.ip()));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for hop in header.hops(req).into_iter().rev() {
        let Some(ip) = hop else { break };
        client = ClientIp::new(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// One hop: `192.0.2.1`, `192.0.2.1:4711` (Azure writes ports), `2001:db8::1`, `"[2001:db8::1]:4711"`.
/// `unknown` and obfuscated identifiers (RFC 7239 §6.3) name no address.
fn parse_hop(v: &str) -> Option<IpAddr> {
    let v = v.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse::<IpAddr>().ok().or_else(|| v.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

/// The web origins of every registered redirect URI, refreshed every 30 seconds, and the kinds of
/// the routes: CORS answers only the API's paths, for these origins.
pub struct CorsOrigins {
    store: store::Store,
    kinds: EndpointKinds,
    cache: std::sync::RwLock<Option<(std::time::Instant, Arc<std::collections::HashSet<String>>)>>,
}

impl CorsOrigins {
    pub fn new(store: store::Store, kinds: EndpointKinds) -> Self {
        Self { store, kinds, cache: std::sync::RwLock::new(None) }
    }

    fn fresh(&self) -> bool {
        let cache = self.cache.read().ok();
        cache.as_ref().and_then(|c| c.as_ref()).is_some_and(|(at, _)| at.elapsed() < std::time::Duration::from_secs(30))
    }

    /// Reloads the origins when the cached set is older than 30 seconds. A failed load keeps the
    /// old set (or none): CORS fails closed.
    async fn refresh(&self) {
        if self.fresh() {
            return;
        }
        let Ok(clients) = self.store.clients().await else { return };
        let set: std::collections::HashSet<String> = clients
            .iter()
            .flat_map(|c| c.redirect_uris.iter())
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .filter_map(|u| web_layer::origin_of(u))
            .collect();
        if let Ok(mut c) = self.cache.write() {
            *c = Some((std::time::Instant::now(), Arc::new(set)));
        }
    }

    /// Whether `origin` may call `path` from a browser.
    fn allows(&self, origin: &str, path: &str) -> bool {
        self.kinds.cors(path)
            && self.cache.read().ok().and_then(|c| c.as_ref().map(|(_, set)| set.contains(origin))).unwrap_or(false)
    }
}

/// CORS (actix-cors) for registered web origins only, on the API's paths: the matching origin is
/// echoed (never `*`), preflights are answered, and any other origin gets no CORS headers, so
/// browsers refuse the read. Requests from other origins still reach the handlers (non-browser
/// clients, and our own forms, are not CORS's business).
pub fn cors(origins: Arc<CorsOrigins>) -> actix_cors::Cors {
    actix_cors::Cors::default()
        .allowed_origin_fn(move |origin, head| origin.to_str().is_ok_and(|o| origins.allows(o, head.uri.path())))
        .allowed_methods([Method::GET, Method::POST])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
        .max_age(600)
        .block_on_origin_mismatch(false)
}

/// Keeps [`CorsOrigins`] fresh before actix-cors (whose origin check cannot wait) reads it: a
/// client registered a moment ago is allowed at once.
pub async fn refresh_cors_origins(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    if req.headers().contains_key(header::ORIGIN)
        && let Some(origins) = req.app_data::<web::Data<CorsOrigins>>()
        && origins.kinds.cors(req.path())
    {
        origins.refresh().await;
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|s| crate::config::parse_net(s).unwrap()).collect()
    }

    fn ip(req: &ServiceRequest, trusted: &[&str], header: ForwardedHeader) -> String {
        client_ip(req, &nets(trusted), header).ip().to_string()
    }

    #[test]
    fn forwarded_headers_from_untrusted_peers_are_ignored() {
        let req = TestRequest::default()
            .peer_addr("203.0.113.9:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "203.0.113.9");
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.3"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "198.51.100.7");
    }

    #[test]
    fn rfc7239_forwarded_is_understood() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("forwarded", "for=192.0.2.60;proto=https, for=\"[2001:db8:cafe::17]:4711\""))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.2"], ForwardedHeader::Forwarded), "2001:db8:cafe::17");
    }

    #[test]
    fn only_the_named_header_is_believed() {
        // The proxy appends to X-Forwarded-For; the client sent a Forwarded header of its own.
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.7"))
            .insert_header(("forwarded", "for=192.0.2.99"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.2"], ForwardedHeader::XForwardedFor), "198.51.100.7");
        // And the reverse: a client's X-Forwarded-For is ignored when the proxy writes Forwarded.
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "192.0.2.99"))
            .insert_header(("forwarded", "for=198.51.100.7"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.2"], ForwardedHeader::Forwarded), "198.51.100.7");
    }

    #[test]
    fn an_unreadable_hop_stops_the_walk_at_the_nearest_trusted_address() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.3"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "10.0.0.3");
    }

    #[test]
    fn mapped_and_ported_addresses_are_read_canonically() {
        let req = TestRequest::default()
            .peer_addr("[::ffff:10.0.0.2]:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.7:4711"))
            .to_srv_request();
        assert_eq!(ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor), "198.51.100.7");
        let req = TestRequest::default().peer_addr("[::ffff:203.0.113.9]:5000".parse().unwrap()).to_srv_request();
        assert_eq!(ip(&req, &[], ForwardedHeader::XForwardedFor), "203.0.113.9");
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn forwarded_for(peer: &str, header: &str) -> String {
            let req = TestRequest::default()
                .peer_addr(format!("{peer}:5000").parse().unwrap())
                .insert_header(("x-forwarded-for", header))
                .to_srv_request();
            ip(&req, &["10.0.0.0/8"], ForwardedHeader::XForwardedFor)
        }

        proptest! {
            /// A peer that is not a trusted proxy is the client, whatever it writes.
            #[test]
            fn an_untrusted_peer_names_itself(header in "[ -~]{0,200}") {
                prop_assert_eq!(forwarded_for("203.0.113.9", &header), "203.0.113.9");
            }

            /// Behind trusted proxies that append what they saw, the client is the address the
            /// first proxy saw, whatever the client put in front (it can prepend, never append).
            #[test]
            fn a_client_cannot_choose_its_address(
                forged in proptest::collection::vec("[ -+\\--~]{0,30}", 0..5),
                client in (1u8..255, 1u8..255),
                proxies in proptest::collection::vec((1u8..255, 1u8..255), 0..4),
            ) {
                let client = format!("198.51.{}.{}", client.0, client.1);
                let mut hops = forged;
                hops.push(client.clone());
                hops.extend(proxies.iter().map(|(a, b)| format!("10.0.{a}.{b}")));
                prop_assert_eq!(forwarded_for("10.0.0.1", &hops.join(",")), client);
            }

            /// Any header value at all is read without panicking, and the answer is the peer or
            /// one of the hops it lists.
            #[test]
            fn any_header_is_read_safely(header in "[\t -~¡-ÿ]{0,300}") {
                let found = forwarded_for("10.0.0.1", &header);
                let hops: Vec<String> =
                    header.split(',').filter_map(parse_hop).map(|ip| ClientIp::new(ip).ip().to_string()).collect();
                prop_assert!(found == "10.0.0.1" || hops.contains(&found), "{} from {:?}", found, header);
            }
        }
    }
}

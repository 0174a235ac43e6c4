//! Every route says what kind it is, and the server's cross-cutting rules follow from the kinds:
//! a page's form posts are CSRF-checked, an application's API is exempt and open to CORS from the
//! registered web origins, and a back-channel call or a cross-site navigation is exempt without
//! CORS.

use std::collections::HashSet;

use actix_web::web::ServiceConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An HTML page or one of our own forms: a POST must come from our origin with this browser's
    /// CSRF token.
    Page,
    /// Called by applications (JSON, or forms authenticated by client credentials or a bearer
    /// token): no CSRF token; CORS for the web origins of registered clients.
    Api,
    /// Called by a client's server (credentials that never belong in a browser): no CSRF token,
    /// no CORS.
    Backchannel,
    /// A navigation a client's page may send cross-site by design (`/authorize`, `/logout`): no
    /// CSRF token (the protocol has its own defences: `state`, PKCE, `id_token_hint`), no CORS.
    CrossSite,
}

/// One route of a crate.
pub struct Endpoint {
    pub path: &'static str,
    pub kind: Kind,
    route: actix_web::Route,
}

impl Endpoint {
    pub fn page(path: &'static str, route: actix_web::Route) -> Self {
        Endpoint { path, kind: Kind::Page, route }
    }

    pub fn api(path: &'static str, route: actix_web::Route) -> Self {
        Endpoint { path, kind: Kind::Api, route }
    }

    pub fn backchannel(path: &'static str, route: actix_web::Route) -> Self {
        Endpoint { path, kind: Kind::Backchannel, route }
    }

    pub fn cross_site(path: &'static str, route: actix_web::Route) -> Self {
        Endpoint { path, kind: Kind::CrossSite, route }
    }
}

/// Mounts a crate's endpoints.
pub fn mount(cfg: &mut ServiceConfig, endpoints: Vec<Endpoint>) {
    for e in endpoints {
        cfg.route(e.path, e.route);
    }
}

/// The kinds of every endpoint, by path, for the server's middleware.
#[derive(Clone, Debug, Default)]
pub struct EndpointKinds {
    csrf_exempt: HashSet<&'static str>,
    cors: HashSet<&'static str>,
    /// Patterns (`/api/admin/v1/users/{id}`) of exempt endpoints, and whether each has CORS.
    patterns: Vec<(&'static str, bool)>,
}

impl EndpointKinds {
    /// A pattern that is not a page must not also match a page's paths: the exemption would
    /// silently reach the page's forms. Refused here.
    pub fn of(endpoints: impl IntoIterator<Item = Endpoint>) -> Result<Self, String> {
        let endpoints: Vec<Endpoint> = endpoints.into_iter().collect();
        let pages: Vec<&str> = endpoints.iter().filter(|e| e.kind == Kind::Page).map(|e| e.path).collect();
        let mut kinds = EndpointKinds::default();
        for e in &endpoints {
            if e.kind == Kind::Page {
                continue;
            }
            if let Some(page) = pages.iter().find(|p| overlap(p, e.path)) {
                return Err(format!("{} ({:?}) would also match the page {page}", e.path, e.kind));
            }
            let cors = e.kind == Kind::Api;
            if e.path.contains('{') {
                kinds.patterns.push((e.path, cors));
                continue;
            }
            kinds.csrf_exempt.insert(e.path);
            if cors {
                kinds.cors.insert(e.path);
            }
        }
        Ok(kinds)
    }

    /// A POST to `path` needs no CSRF token.
    pub fn csrf_exempt(&self, path: &str) -> bool {
        self.csrf_exempt.contains(path) || self.patterns.iter().any(|(p, _)| overlap(p, path))
    }

    /// `path` answers CORS requests from registered web origins.
    pub fn cors(&self, path: &str) -> bool {
        self.cors.contains(path) || self.patterns.iter().any(|(p, cors)| *cors && overlap(p, path))
    }
}

/// Whether two route patterns (or a pattern and a path) can match the same path: segment by
/// segment, a `{placeholder}` matches any one non-empty segment, anything else only itself.
/// Runs on every request (against each exempt pattern), so it allocates nothing.
fn overlap(a: &str, b: &str) -> bool {
    let placeholder = |s: &str| s.starts_with('{') && s.ends_with('}');
    let (mut a, mut b) = (a.split('/'), b.split('/'));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y || (placeholder(x) && !y.is_empty()) || (placeholder(y) && !x.is_empty()) => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::web;

    #[test]
    fn kinds_follow_from_the_endpoints() {
        let kinds = EndpointKinds::of([
            Endpoint::api("/token", web::post()),
            Endpoint::cross_site("/authorize", web::post()),
            Endpoint::page("/login/{interaction}", web::post()),
        ])
        .unwrap();
        assert!(kinds.csrf_exempt("/token") && kinds.cors("/token"));
        assert!(kinds.csrf_exempt("/authorize") && !kinds.cors("/authorize"));
        assert!(!kinds.csrf_exempt("/login/abc") && !kinds.cors("/login/abc"));
        let kinds = EndpointKinds::of([
            Endpoint::backchannel("/api/users/{id}", web::post()),
            Endpoint::page("/login/{interaction}", web::post()),
        ])
        .unwrap();
        assert!(kinds.csrf_exempt("/api/users/abc") && !kinds.cors("/api/users/abc"));
        assert!(!kinds.csrf_exempt("/api/users/") && !kinds.csrf_exempt("/api/users/abc/x"));
        assert!(!kinds.csrf_exempt("/login/abc"));
        // An exempt pattern that could reach a page is refused.
        assert!(
            EndpointKinds::of([Endpoint::api("/login/{x}", web::get()), Endpoint::page("/login/abc", web::get())])
                .is_err()
        );
    }
}

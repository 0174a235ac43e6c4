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
}

impl EndpointKinds {
    /// Only fixed paths may be an API or a cross-site navigation: the middleware matches paths
    /// exactly, so a pattern would silently fall back to the strictest kind. Refused here.
    pub fn of(endpoints: impl IntoIterator<Item = Endpoint>) -> Result<Self, String> {
        let mut kinds = EndpointKinds::default();
        for e in endpoints {
            if e.kind != Kind::Page && e.path.contains('{') {
                return Err(format!("{} is not a fixed path and cannot be {:?}", e.path, e.kind));
            }
            match e.kind {
                Kind::Page => {}
                Kind::Api => {
                    kinds.csrf_exempt.insert(e.path);
                    kinds.cors.insert(e.path);
                }
                Kind::Backchannel | Kind::CrossSite => {
                    kinds.csrf_exempt.insert(e.path);
                }
            }
        }
        Ok(kinds)
    }

    /// A POST to `path` needs no CSRF token.
    pub fn csrf_exempt(&self, path: &str) -> bool {
        self.csrf_exempt.contains(path)
    }

    /// `path` answers CORS requests from registered web origins.
    pub fn cors(&self, path: &str) -> bool {
        self.cors.contains(path)
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
        assert!(EndpointKinds::of([Endpoint::api("/api/{x}", web::get())]).is_err());
    }
}

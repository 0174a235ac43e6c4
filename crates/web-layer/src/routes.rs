//! Every route says what kind it is, and the server's cross-cutting rules follow from the kinds:
//! a page's form posts are CSRF-checked, an application's API is exempt and open to CORS from the
//! registered web origins, and a back-channel call or a cross-site navigation is exempt without
//! CORS.

use std::collections::HashMap;

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

/// Mounts endpoints. Those whose first segment (`/login` of `/login/{interaction}/code`) some
/// pattern shares go into one actix scope per first segment, in the order listed; the others are
/// mounted as they are.
///
/// actix tries an application's resources in order until one matches. A fixed path costs a string
/// comparison; a pattern costs a regular expression, and actix-router's (regex-lite, with the
/// anchor inside a group) scans the whole path each time. In one flat list a request for
/// `/step-up/{interaction}` tried some twenty patterns of the other crates first; a scope is
/// passed over by comparing its prefix, so a request tries only the patterns under its own first
/// segment. Two paths with different first segments never match the same request, so what
/// answers each request is what the flat list would have chosen. Mount every crate's endpoints in
/// one call: two scopes of one prefix would hide the second; and the server's own routes must not
/// share a first segment with them.
pub fn mount(cfg: &mut ServiceConfig, endpoints: Vec<Endpoint>) {
    let patterned: Vec<&str> =
        endpoints.iter().filter(|e| e.path.contains('{')).map(|e| first_segment(e.path)).collect();
    let mut scopes: Vec<(&'static str, Vec<Endpoint>)> = Vec::new();
    for e in endpoints {
        let first = first_segment(e.path);
        if !patterned.contains(&first) {
            cfg.route(e.path, e.route);
            continue;
        }
        match scopes.iter_mut().find(|(f, _)| *f == first) {
            Some((_, group)) => group.push(e),
            None => scopes.push((first, vec![e])),
        }
    }
    for (first, mut group) in scopes {
        in_trying_order(&mut group);
        let scope = group
            .into_iter()
            .fold(actix_web::web::scope(first), |scope, e| scope.route(&e.path[first.len()..], e.route));
        cfg.service(scope);
    }
}

/// Puts a scope's endpoints in the order actix should try them: by their number of segments when
/// each of their placeholders stands for one whole segment, in the listed order otherwise and
/// among equals. Two such paths with different numbers of `/` never match the same request, so
/// each request reaches what the listed order chose; but a request no longer tries, and fails,
/// the regular expressions of the longer paths listed before its own (a sign-in's requests tried
/// 24 patterns, docs/performance.md). A tail (`{path}*`) or a placeholder with its own expression
/// (`{id:\d+}`) may match several segments: a scope with one keeps its order.
fn in_trying_order(group: &mut [Endpoint]) {
    if group.iter().all(|e| !e.path.contains(['*', ':'])) {
        group.sort_by_key(|e| e.path.matches('/').count());
    }
}

/// A path's first segment, with its `/`: `/login` of `/login/{interaction}/code`, `/token` of
/// `/token`.
pub fn first_segment(path: &str) -> &str {
    path.get(1..).and_then(|rest| rest.find('/')).map_or(path, |i| &path[..i + 1])
}

/// The kinds of every endpoint, by path, for the server's middleware.
#[derive(Clone, Debug, Default)]
pub struct EndpointKinds {
    /// Paths of endpoints that are not pages, by kind.
    fixed: HashMap<&'static str, Vec<Kind>>,
    /// Patterns (`/api/admin/v1/users/{id}`) of endpoints that are not pages, with their kind, by
    /// their first segment: a request is compared with the few that share its own (this runs on
    /// every request).
    patterns: HashMap<&'static str, Vec<(&'static str, Kind)>>,
}

impl EndpointKinds {
    /// A pattern that is not a page must not also match a page's paths: the exemption would
    /// silently reach the page's forms. Refused here.
    ///
    /// A pattern whose first segment is a placeholder is refused too: [`mount`] scopes patterns by
    /// their first segment, and such a pattern would have none.
    pub fn of(endpoints: impl IntoIterator<Item = Endpoint>) -> Result<Self, String> {
        let endpoints: Vec<Endpoint> = endpoints.into_iter().collect();
        if let Some(e) = endpoints.iter().find(|e| first_segment(e.path).contains('{')) {
            return Err(format!("{} has no fixed first segment to be mounted under", e.path));
        }
        let pages: Vec<&str> = endpoints.iter().filter(|e| e.kind == Kind::Page).map(|e| e.path).collect();
        let mut kinds = EndpointKinds::default();
        for e in &endpoints {
            if e.kind == Kind::Page {
                continue;
            }
            if let Some(page) = pages.iter().find(|p| overlap(p, e.path)) {
                return Err(format!("{} ({:?}) would also match the page {page}", e.path, e.kind));
            }
            if e.path.contains('{') {
                kinds.patterns.entry(first_segment(e.path)).or_default().push((e.path, e.kind));
            } else {
                kinds.fixed.entry(e.path).or_default().push(e.kind);
            }
        }
        Ok(kinds)
    }

    /// The kinds of the endpoints (other than pages) that `path` reaches.
    fn kinds<'a>(&'a self, path: &'a str) -> impl Iterator<Item = Kind> + 'a {
        let fixed = self.fixed.get(path).into_iter().flatten().copied();
        let patterns = self.patterns.get(first_segment(path)).into_iter().flatten();
        fixed.chain(patterns.filter(move |(p, _)| overlap(p, path)).map(|(_, kind)| *kind))
    }

    /// A POST to `path` needs no CSRF token.
    pub fn csrf_exempt(&self, path: &str) -> bool {
        self.kinds(path).next().is_some()
    }

    /// `path` answers CORS requests from registered web origins.
    pub fn cors(&self, path: &str) -> bool {
        self.kinds(path).any(|kind| kind == Kind::Api)
    }

    /// `path` is called by applications only (an API or a back-channel endpoint, never a page or a
    /// cross-site navigation): its requests need no browser cookie, CSRF token or binding.
    pub fn for_applications(&self, path: &str) -> bool {
        let mut kinds = self.kinds(path).peekable();
        kinds.peek().is_some() && kinds.all(|kind| matches!(kind, Kind::Api | Kind::Backchannel))
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
        assert!(kinds.csrf_exempt("/token") && kinds.cors("/token") && kinds.for_applications("/token"));
        assert!(kinds.csrf_exempt("/authorize") && !kinds.cors("/authorize") && !kinds.for_applications("/authorize"));
        assert!(!kinds.csrf_exempt("/login/abc") && !kinds.cors("/login/abc") && !kinds.for_applications("/login/abc"));
        // A path no endpoint has (the server's own, or none) is not taken for an application's.
        assert!(!kinds.csrf_exempt("/elsewhere") && !kinds.for_applications("/elsewhere"));
        let kinds = EndpointKinds::of([
            Endpoint::backchannel("/api/users/{id}", web::post()),
            Endpoint::page("/login/{interaction}", web::post()),
            // One path, two kinds: a browser may come to it, so it is not for applications only.
            Endpoint::api("/logout", web::post()),
            Endpoint::cross_site("/logout", web::get()),
        ])
        .unwrap();
        assert!(kinds.csrf_exempt("/api/users/abc") && !kinds.cors("/api/users/abc"));
        assert!(kinds.for_applications("/api/users/abc") && !kinds.for_applications("/logout"));
        assert!(!kinds.csrf_exempt("/api/users/") && !kinds.csrf_exempt("/api/users/abc/x"));
        assert!(!kinds.csrf_exempt("/login/abc"));
        // An exempt pattern that could reach a page is refused.
        assert!(
            EndpointKinds::of([Endpoint::api("/login/{x}", web::get()), Endpoint::page("/login/abc", web::get())])
                .is_err()
        );
    }

    #[test]
    fn a_pattern_needs_a_fixed_first_segment() {
        assert_eq!(first_segment("/login/{interaction}/code"), "/login");
        assert_eq!(first_segment("/brand/{client}.css"), "/brand");
        assert_eq!(first_segment("/token"), "/token");
        assert_eq!(first_segment("/"), "/");
        let err = EndpointKinds::of([Endpoint::page("/{tenant}/login", web::get())]);
        assert_eq!(err.err().as_deref(), Some("/{tenant}/login has no fixed first segment to be mounted under"));
    }

    #[test]
    fn a_scope_tries_shorter_paths_first_unless_a_pattern_spans_segments() {
        let order = |paths: &[&'static str]| {
            let mut group: Vec<Endpoint> = paths.iter().map(|p| Endpoint::page(p, web::get())).collect();
            in_trying_order(&mut group);
            group.iter().map(|e| e.path).collect::<Vec<_>>()
        };
        assert_eq!(
            order(&["/login/link/{token}", "/login/{i}/code", "/login/{i}", "/login/link", "/login/{i}/a/b"]),
            ["/login/{i}", "/login/link", "/login/link/{token}", "/login/{i}/code", "/login/{i}/a/b"]
        );
        assert_eq!(order(&["/files/{path}*", "/files/{name}"]), ["/files/{path}*", "/files/{name}"]);
        assert_eq!(order(&["/n/{a}/{b:.*}", "/n/{id}"]), ["/n/{a}/{b:.*}", "/n/{id}"]);
    }

    /// What each request reaches, and the pattern the access log names, are those of one flat list.
    #[actix_web::test]
    async fn mounted_endpoints_answer_as_listed() {
        use actix_web::{App, HttpRequest, HttpResponse, test};
        let named = |name: &'static str| {
            move |req: HttpRequest| async move {
                let pattern = req.match_pattern().unwrap_or_default();
                let args: Vec<String> = req.match_info().iter().map(|(k, v)| format!("{k}={v}")).collect();
                HttpResponse::Ok().body(format!("{name} {pattern} {}", args.join(",")))
            }
        };
        let endpoints = || {
            vec![
                Endpoint::page("/login/link/{token}", web::get().to(named("link"))),
                Endpoint::page("/login/{interaction}", web::get().to(named("login"))),
                Endpoint::page("/login/{interaction}", web::post().to(named("start"))),
                Endpoint::page("/login/{interaction}/code", web::post().to(named("code"))),
                Endpoint::api("/token", web::post().to(named("token"))),
                Endpoint::page("/step-up/{interaction}", web::get().to(named("step-up"))),
                Endpoint::page("/brand/{client}.css", web::get().to(named("brand"))),
                Endpoint::page("/login/link/approve", web::post().to(named("approve"))),
                Endpoint::page("/account", web::get().to(named("account"))),
                Endpoint::page("/account/{field}", web::get().to(named("field"))),
                // Listed after a pattern that matches it: the pattern answers, as in a flat list.
                Endpoint::page("/account/shadowed", web::get().to(named("shadowed"))),
            ]
        };
        EndpointKinds::of(endpoints()).unwrap();
        let app = test::init_service(
            App::new()
                .configure(|cfg| mount(cfg, endpoints()))
                .route("/static/{file}", web::get().to(named("static")))
                .default_service(web::to(|| async { HttpResponse::NotFound().body("default") })),
        )
        .await;
        let cases = [
            ("GET", "/login/link/abc", "link /login/link/{token} token=abc"),
            ("GET", "/login/abc", "login /login/{interaction} interaction=abc"),
            ("POST", "/login/abc", "start /login/{interaction} interaction=abc"),
            ("POST", "/login/abc/code", "code /login/{interaction}/code interaction=abc"),
            ("POST", "/token", "token /token "),
            ("GET", "/step-up/abc", "step-up /step-up/{interaction} interaction=abc"),
            ("GET", "/brand/c1.css", "brand /brand/{client}.css client=c1"),
            ("GET", "/account", "account /account "),
            ("GET", "/account/email", "field /account/{field} field=email"),
            ("GET", "/account/shadowed", "field /account/{field} field=shadowed"),
            ("POST", "/login/link/approve", "approve /login/link/approve "),
            ("GET", "/login/link/approve", "link /login/link/{token} token=approve"),
            ("GET", "/static/a.css", "static /static/{file} file=a.css"),
            // Nothing under a scope matches: the application's default, as without scopes.
            ("GET", "/login/abc/code", "default"),
            ("GET", "/login", "default"),
            ("GET", "/login/", "default"),
            ("PUT", "/login/abc", "default"),
            ("GET", "/nowhere", "default"),
        ];
        for (method, path, expected) in cases {
            let req = test::TestRequest::default().method(method.parse().unwrap()).uri(path).to_request();
            let body = test::call_and_read_body(&app, req).await;
            assert_eq!(std::str::from_utf8(&body).unwrap(), expected, "{method} {path}");
        }
    }
}

//! The HTTP application: the crates' routes, the server's own pages, and the cross-cutting
//! middleware (security headers, CORS, the browser context with CSRF, the access log).

use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, web};
use anyhow::anyhow;

use crate::config::Settings;
use crate::middleware::{browser_context, security_headers};
use crate::services::Services;
use crate::templates::{ServerPage, message_page};
use crate::{demo, listener, middleware, ops, outbox};

/// The rustls configuration when `server.tls_cert` and `server.tls_key` are set.
pub fn tls_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (Some(cert), Some(key)) = (&settings.server.tls_cert, &settings.server.tls_key) else {
        return Ok(None);
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| anyhow!("server.tls_cert: {cert:?} is not a PEM certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err(anyhow!("server.tls_cert: {cert:?} holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow!("server.tls_key: {key:?} is not a PEM private key: {e}"))?;
    let config =
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| anyhow!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| anyhow!("server.tls_cert / server.tls_key: the key does not fit the certificate: {e}"))?;
    Ok(Some(config))
}

/// Largest form body accepted by any handler.
const FORM_LIMIT: usize = 16 * 1024;

/// A form that cannot be read: the server's page for it, in the request's language.
fn form_error(err: actix_web::error::UrlencodedError, req: &HttpRequest) -> actix_web::Error {
    let page =
        match (req.app_data::<web::Data<Arc<tera::Tera>>>(), req.app_data::<web::Data<Arc<domain::i18n::Catalog>>>()) {
            (Some(tera), Some(catalog)) => {
                message_page(tera, catalog, req, StatusCode::BAD_REQUEST, ServerPage::FormMalformed)
            }
            _ => HttpResponse::BadRequest().finish(),
        };
    actix_web::error::InternalError::from_response(err, page).into()
}

/// Serves `services` on `listener` (HTTPS when `tls` is given).
pub fn serve(
    services: &Services,
    listener: std::net::TcpListener,
    tls: Option<rustls::ServerConfig>,
) -> anyhow::Result<Server> {
    let s = services;
    let (authorization, connection, step_up) = (s.authorization.clone(), s.connection.clone(), s.step_up.clone());
    let admin = s.admin.clone();
    let (browser, demo, cors_origins, https, outbox) =
        (s.browser.clone(), s.demo.clone(), Arc::clone(&s.cors_origins), s.https, s.outbox);
    let store = web::Data::new(s.store.clone());
    let sealer = web::Data::new(s.message_sealer.clone());
    let tera = web::Data::new(Arc::clone(&s.tera));
    let catalog = web::Data::new(Arc::clone(&s.catalog));
    let readiness = s.readiness.clone();
    let metrics_here = s.metrics_bind.is_none();
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2);
    let server = listener::serve(listener, tls, workers, move || {
        let mut app = App::new()
            .app_data(authorization.clone())
            .app_data(connection.clone())
            .app_data(step_up.clone())
            .app_data(admin.clone())
            .app_data(store.clone())
            .app_data(sealer.clone())
            .app_data(web::Data::from(Arc::clone(&cors_origins)))
            .app_data(tera.clone())
            .app_data(catalog.clone())
            .app_data(browser.clone())
            .app_data(web::FormConfig::default().limit(FORM_LIMIT).error_handler(form_error))
            .app_data(web::PayloadConfig::new(64 * 1024))
            .configure(|cfg| web_layer::mount(cfg, crate::services::endpoints()))
            .route("/static/{file}", web::get().to(static_file))
            .app_data(readiness.clone())
            .configure(ops::probes)
            .route(&format!("{}{{status}}", listener::REFUSED_PATH), web::get().to(refused));
        if metrics_here {
            app = app.route("/metrics", web::get().to(ops::metrics_page));
        }
        if outbox {
            app = app
                .route("/dev/outbox", web::get().to(outbox::outbox_page))
                .route("/dev/outbox.json", web::get().to(outbox::outbox_json));
        }
        if let Some(demo) = &demo {
            app = app
                .app_data(demo.clone())
                .configure(demo::Demo::routes)
                .route("/", web::get().to(|| async { web_layer::see_other("/demo") }));
        }
        app.default_service(web::to(not_found))
            .wrap(from_fn(browser_context))
            .wrap(middleware::cors(Arc::clone(&cors_origins)))
            .wrap(from_fn(middleware::refresh_cors_origins))
            .wrap(security_headers(https))
            .wrap(from_fn(ops::access_log))
    })
    .map_err(|e| anyhow!("{e}"))?;
    Ok(server)
}

/// The files of `static/`, compiled into the binary: name, media type, content.
pub(crate) const STATIC_FILES: &[(&str, &str, &str)] = &[
    ("ostiary.css", "text/css; charset=utf-8", include_str!("../../../static/ostiary.css")),
    ("form_post.js", "text/javascript; charset=utf-8", include_str!("../../../static/form_post.js")),
    ("login.js", "text/javascript; charset=utf-8", include_str!("../../../static/login.js")),
    ("ostiary.js", "text/javascript; charset=utf-8", include_str!("../../../static/ostiary.js")),
    ("admin.js", "text/javascript; charset=utf-8", include_str!("../../../static/admin.js")),
    ("widget.js", "text/javascript; charset=utf-8", include_str!("../../../static/widget.js")),
    ("passkey.js", "text/javascript; charset=utf-8", include_str!("../../../static/passkey.js")),
    ("pages.js", "text/javascript; charset=utf-8", include_str!("../../../static/pages.js")),
    ("check_session.js", "text/javascript; charset=utf-8", include_str!("../../../static/check_session.js")),
];

/// The URL the pages load a static file by: `/static/{name}?v={a hash of its content}`, so a
/// browser that cached an older version (for up to an hour) fetches the new one after an upgrade.
pub(crate) fn static_url(name: &str, content: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    content.hash(&mut hasher);
    format!("/static/{name}?v={:016x}", hasher.finish())
}

async fn static_file(path: web::Path<String>) -> HttpResponse {
    let Some((_, content_type, body)) = STATIC_FILES.iter().find(|(name, ..)| *name == path.as_str()).copied() else {
        return HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body("not found");
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

/// A request head the HTTP/1 guard refused (see `listener`): its status, and a page that says so.
async fn refused(
    req: HttpRequest,
    path: web::Path<u16>,
    tera: web::Data<Arc<tera::Tera>>,
    catalog: web::Data<Arc<domain::i18n::Catalog>>,
) -> HttpResponse {
    let status = match *path {
        414 => StatusCode::URI_TOO_LONG,
        431 => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    message_page(&tera, &catalog, &req, status, ServerPage::Malformed)
}

async fn not_found(
    req: HttpRequest,
    tera: web::Data<Arc<tera::Tera>>,
    catalog: web::Data<Arc<domain::i18n::Catalog>>,
) -> HttpResponse {
    message_page(&tera, &catalog, &req, StatusCode::NOT_FOUND, ServerPage::NotFound)
}

/// The metrics listener (`server.metrics_bind`): `/metrics`, `/healthz` and `/readyz` only, on one
/// worker, so scrapes and probes reach no page, form or token endpoint.
pub fn serve_metrics(services: &Services, listener: std::net::TcpListener) -> anyhow::Result<Server> {
    let readiness = services.readiness.clone();
    let server = actix_web::HttpServer::new(move || {
        App::new()
            .app_data(readiness.clone())
            .route("/metrics", web::get().to(ops::metrics_page))
            .configure(ops::probes)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(|e| anyhow!("server.metrics_bind: {e}"))?
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    /// `web_layer::mount` puts the crates' routes under each first segment a pattern of theirs has
    /// into one scope, which answers every request under it: a route of the server's own there,
    /// mounted after it, would never be reached.
    #[test]
    fn the_servers_own_routes_are_under_no_scope_of_the_crates() {
        let own = ["/static", "/_refused", "/metrics", "/dev", "/demo", "/health", "/healthz", "/readyz", "/"];
        assert!(super::listener::REFUSED_PATH.starts_with("/_refused/"));
        for e in crate::services::endpoints().iter().filter(|e| e.path.contains('{')) {
            assert!(
                !own.contains(&web_layer::first_segment(e.path)),
                "{} is under a route of the server's own",
                e.path
            );
        }
    }
}

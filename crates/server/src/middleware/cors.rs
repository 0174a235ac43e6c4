//! CORS for registered web origins, on the API's paths only.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web;
use web_layer::EndpointKinds;

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

//! What operators watch: liveness (`/healthz`), readiness (`/readyz`: the database and the
//! counters answer), Prometheus metrics (`/metrics`, on the main listener or on `server.metrics_bind`
//! alone), and the request id every log line of a request and its response carry.
//!
//! The crates count through the `metrics` facade (as they log through `tracing`); this module
//! installs the one recorder and renders it. Names and labels are listed in docs/operations.md.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use store::Store;
use store::counters::Limiter;
use tracing::Instrument;

/// The response header, and the header a trusted front end may send, that carries the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Latency buckets, seconds: from a cached JWKS (well under a millisecond) to a slow database.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The process's metrics recorder, installed once (tests start many servers in one process; they
/// share it, as the counters of one process would).
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = match builder.set_buckets(LATENCY_BUCKETS) {
                Ok(b) => b,
                Err(_) => PrometheusBuilder::new(),
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder was installed first; /metrics shows only its own view");
            }
            handle
        })
        .clone()
}

/// Drains the histograms' buffers now and then, so they hold bounded memory between scrapes.
pub fn spawn_upkeep(handle: PrometheusHandle) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// `server.log_format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
/// `text`: one line per event, for people; `json`: one object per line, for collectors.
pub enum LogFormat {
    Text,
    Json,
}

/// What `/readyz` asks.
pub struct Readiness {
    pub store: Store,
    pub limiter: Arc<Limiter>,
}

/// The probes, on `GET` and `HEAD`: `/healthz` (and its older name `/health`) and `/readyz`.
pub fn probes(cfg: &mut web::ServiceConfig) {
    for path in ["/health", "/healthz"] {
        cfg.route(path, web::get().to(healthz)).route(path, web::head().to(healthz));
    }
    cfg.route("/readyz", web::get().to(readyz)).route("/readyz", web::head().to(readyz));
}

/// `GET /metrics`: the Prometheus text format (version 0.0.4).
pub async fn metrics_page() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(metrics().render())
}

/// `GET /healthz` (and `/health`): the process answers. Nothing else is checked, so a load balancer
/// never restarts a node for a database outage it cannot fix.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when the database and the counters (Redis, when configured) answer within a
/// second, else 503 naming which did not. The reasons stay in the log.
pub async fn readyz(ready: web::Data<Readiness>) -> HttpResponse {
    let limit = Duration::from_secs(1);
    let (database, counters) = tokio::join!(
        tokio::time::timeout(limit, ready.store.ping()),
        tokio::time::timeout(limit, ready.limiter.ping())
    );
    let database = answered(database, "the database does not answer");
    let counters = answered(counters, "the counters (Redis) do not answer");
    let ready = database == "ok" && counters == "ok";
    let body = serde_json::json!({
        "status": if ready { "ok" } else { "unavailable" },
        "database": database,
        "counters": counters,
    });
    let mut res = if ready { HttpResponse::Ok() } else { HttpResponse::ServiceUnavailable() };
    res.insert_header((header::CACHE_CONTROL, "no-store")).json(body)
}

/// One readiness answer: `ok`, `unavailable` (the cause logged) or `timeout`.
fn answered<E: std::fmt::Display>(
    answer: Result<Result<(), E>, tokio::time::error::Elapsed>,
    what: &'static str,
) -> &'static str {
    match answer {
        Ok(Ok(())) => "ok",
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: {what}");
            "unavailable"
        }
        Err(_) => "timeout",
    }
}

pub use web_layer::RequestId;

/// A request id sent by a trusted proxy (`server.trusted_proxies`) is kept when it is short and
/// plain, so log lines can be matched across the proxy and Ostiary; otherwise a new random one is
/// drawn. Anyone else's is ignored: a client could otherwise make its requests look like another's.
fn request_id(req: &ServiceRequest) -> String {
    let trusted = req
        .app_data::<web::Data<crate::middleware::BrowserContext>>()
        .is_some_and(|ctx| crate::middleware::from_trusted_proxy(req, &ctx.trusted_proxies));
    req.headers()
        .get(&REQUEST_ID)
        .filter(|_| trusted)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (8..=64).contains(&v.len())
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| domain::secret::random_token(12))
}

/// The latency histogram of a route, method and status class. Each worker thread keeps the handles
/// it has used, so that a request does not build the labels and look them up in the registry again
/// (`register_histogram` was 0.6 % of a discovery request's CPU). The recorder is installed before
/// the listener starts (`ops::metrics` in `Services`), so no handle here is the no-op one. Routes
/// are the application's patterns and methods one of ten labels, so the handles are few.
fn latency_histogram(route: String, method: &'static str, class: &'static str) -> metrics::Histogram {
    type Handles = std::collections::HashMap<(String, &'static str, &'static str), metrics::Histogram>;
    thread_local! {
        static HANDLES: std::cell::RefCell<Handles> = std::cell::RefCell::default();
    }
    HANDLES.with_borrow_mut(|handles| {
        handles
            .entry((route, method, class))
            .or_insert_with_key(|(route, method, class)| {
                metrics::histogram!(
                    "ostiary_http_request_duration_seconds",
                    "route" => route.clone(),
                    "method" => *method,
                    "status" => *class,
                )
            })
            .clone()
    })
}

/// A request method as a metric label: the methods of RFC 9110 §9 and PATCH (RFC 5789) by name, any
/// other `OTHER`, so that a client cannot add a series to the registry with each method it invents.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// One span per request, holding its id, so every log line written while the request is served
/// names it; the id goes back in `X-Request-Id`. Then one access-log line and the route's latency
/// in the histogram. The line names the route pattern, never the path: paths can carry magic-link
/// tokens and interaction ids.
pub async fn access_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", id = %id);
    let mut res = next.call(req).instrument(span.clone()).await?;
    let route = res.request().match_pattern().unwrap_or_else(|| "(unmatched)".into());
    let status = res.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    let _entered = span.enter();
    if status >= 500 {
        tracing::error!(%method, route, status, ms = seconds * 1000.0, "request");
    } else {
        tracing::info!(%method, route, status, ms = seconds * 1000.0, "request");
    }
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    latency_histogram(route, method_label(&method), class).record(seconds);
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res)
}

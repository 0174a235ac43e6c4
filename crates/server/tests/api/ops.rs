//! What operators watch: `/healthz`, `/readyz`, the request id, and Prometheus metrics on the
//! main listener or on `server.metrics_bind` alone.

use authorization_server::Alg;
use testkit::{Db, both_backends, spawn_app, spawn_app_with};

use crate::oidc::{authorize_url, exchange};
use crate::unique_email;

/// The value of one sample line of the Prometheus text format, when present.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let wanted = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (metric == name && wanted).then(|| value.parse().ok()).flatten()
    })
}

both_backends!(health_readiness_and_request_ids, |db: Db| async move {
    let app = spawn_app(db).await;
    for path in ["/healthz", "/health"] {
        let resp = app.api.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let resp = app.api.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((body["database"].as_str(), body["counters"].as_str()), (Some("ok"), Some("ok")), "{body}");

    // Every response names its request; ids differ, and a client cannot choose its own.
    let id = |resp: &reqwest::Response| resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let first = app.api.get(app.url("/.well-known/openid-configuration")).send().await.unwrap();
    let second = app.api.get(app.url("/nowhere")).send().await.unwrap();
    assert_eq!(second.status(), 404);
    assert!(id(&first).len() >= 16, "{}", id(&first));
    assert_ne!(id(&first), id(&second));
    let chosen = app.api.get(app.url("/healthz")).header("x-request-id", "chosen-by-client").send().await.unwrap();
    assert_ne!(id(&chosen), "chosen-by-client", "only a trusted proxy's id is kept");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_passes_its_request_id_on() {
    let app = spawn_app_with(Db::Sqlite, |s| s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let resp = app.api.get(app.url("/healthz")).header("x-request-id", "proxy-id-1234").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "proxy-id-1234");
    // One that is not plain and short is replaced.
    for odd in ["short", "with spaces in it", "quote\"d-id-1234"] {
        let resp = app.api.get(app.url("/healthz")).header("x-request-id", odd).send().await.unwrap();
        assert_ne!(resp.headers()["x-request-id"], odd);
    }
}

both_backends!(metrics_count_sign_ins_step_up_sends_tokens_and_latency, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let metrics = || async { app.api.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    let before = metrics().await;
    let count = |text: &str, name: &str, labels: &[(&str, &str)]| sample(text, name, labels).unwrap_or(0.0);

    let back = app.sign_in(&app.browser(), &authorize_url(&app, &client, &[]), &unique_email()).await;
    exchange(&app, &client, &back).await;
    // A wrong code, counted as such.
    let email = unique_email();
    let browser = app.browser();
    let page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    assert_eq!(app.submit_code(&browser, &page, "000000").await.status(), 400);

    let after = metrics().await;
    let grew = |name: &str, labels: &[(&str, &str)]| count(&after, name, labels) > count(&before, name, labels);
    assert!(grew("ostiary_sign_ins_total", &[("channel", "email_code"), ("result", "success")]), "{after}");
    assert!(grew("ostiary_sign_ins_total", &[("channel", "email_code"), ("result", "wrong_code")]), "{after}");
    assert!(grew("ostiary_step_up_decisions_total", &[("via", "pages")]), "{after}");
    assert!(grew("ostiary_messages_total", &[("result", "sent")]), "{after}");
    assert!(grew("ostiary_token_requests_total", &[("grant_type", "authorization_code"), ("result", "issued")]));
    assert!(
        grew("ostiary_http_request_duration_seconds_count", &[("route", "/token"), ("status", "2xx")]),
        "a latency histogram per route: {after}"
    );
    assert!(after.contains("ostiary_http_request_duration_seconds_bucket{"), "a histogram, not a summary");
    // Routes, never paths: a magic-link token or an interaction id never becomes a label.
    assert!(!after.lines().any(|l| l.contains("route=\"/login/") && !l.contains('{')), "{after}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_share_one_latency_series() {
    let app = spawn_app(Db::Sqlite).await;
    let metrics = || async { app.api.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap() };
    let count = |text: &str| {
        sample(text, "ostiary_http_request_duration_seconds_count", &[("route", "/healthz"), ("method", "OTHER")])
            .unwrap_or(0.0)
    };
    let before = count(&metrics().await);
    for method in ["BREW", "WHEN", "PROPFIND"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let resp = app.api.request(method, app.url("/healthz")).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{}", resp.status());
    }
    // Each request again, through the handles the workers now keep.
    app.api.request(reqwest::Method::from_bytes(b"BREW").unwrap(), app.url("/healthz")).send().await.unwrap();
    let after = metrics().await;
    assert_eq!(count(&after) - before, 4.0, "{after}");
    for invented in ["BREW", "WHEN", "PROPFIND"] {
        assert!(!after.contains(&format!("method=\"{invented}\"")), "{invented} became a label: {after}");
    }
    assert!(
        sample(&after, "ostiary_http_request_duration_seconds_count", &[("route", "/metrics"), ("method", "GET")])
            .is_some_and(|n| n >= 1.0),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_to_their_own_listener_when_configured() {
    let app = spawn_app_with(Db::Sqlite, |s| s.server.metrics_bind = Some(([127, 0, 0, 1], 0).into())).await;
    let port = app.metrics_port.expect("the metrics listener");
    assert_eq!(app.api.get(app.url("/metrics")).send().await.unwrap().status(), 404, "not on the main listener");
    let resp = app.api.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    assert!(resp.text().await.unwrap().contains("ostiary_http_request_duration_seconds"));
    let ready = app.api.get(format!("http://127.0.0.1:{port}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // Nothing else is served there.
    let page = app.api.get(format!("http://127.0.0.1:{port}/.well-known/openid-configuration")).send().await.unwrap();
    assert_eq!(page.status(), 404);
}

/// `server.log_format = "json"`: one JSON object per line, and a request's lines carry its id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id() {
    let dir = std::env::temp_dir().join(format!("ostiary-logs-{}", domain::secret::random_token(9)));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ostiary"))
        .arg("serve")
        .current_dir(&dir)
        .env_remove("RUST_LOG")
        .env("OSTIARY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("OSTIARY__SERVER__ISSUER", format!("http://127.0.0.1:{port}"))
        .env("OSTIARY__SERVER__DATA_DIR", dir.join("data"))
        .env("OSTIARY__DATABASE__URL", dir.join("o.db"))
        .env("OSTIARY__SERVER__LOG", "info")
        .env("OSTIARY__SERVER__LOG_FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(resp) = http.get(&url).send().await {
            answer = Some(resp);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = answer.expect("the server starts").headers()["x-request-id"].to_str().unwrap().to_owned();
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    let ours = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request" && l["fields"]["route"] == "/readyz")
        .unwrap_or_else(|| panic!("no access line: {log}"));
    assert_eq!(ours["span"]["id"], id.as_str(), "{ours}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the log writer of [`sign_ins_wrong_codes_and_decisions_are_logged_without_secrets`] keeps.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_wrong_codes_and_decisions_are_logged_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let installed = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        // No timestamps: their digits could hold the code by chance.
        .without_time()
        .with_writer(move || writer.clone())
        .try_init()
        .is_ok();
    assert!(installed, "this test needs its own process (cargo nextest)");
    let app = spawn_app(Db::Sqlite).await;
    let client = app.register_client(false, Alg::RS256).await;
    let email = unique_email();
    let browser = app.browser();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    let code = app.message_to(&email).await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    app.submit_code(&browser, &code_page, wrong).await;
    let resp = app.submit_code(&browser, &code_page, &code).await;
    app.resume(&browser, &testkit::location(&resp)).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = |what: &str| log.lines().find(|l| l.contains(what)).unwrap_or_else(|| panic!("no {what:?} in {log}"));
    assert!(line("result=\"wrong_code\"").contains("first factor checked"));
    assert!(line("result=\"success\"").contains("request{id="), "in the request's span");
    assert!(line("step-up decided").contains("decision=\"proceed\""));
    assert!(line("signed in").contains("acr="));
    assert!(!log.contains(&code) && !log.contains(&email), "no code, no address: {log}");
}

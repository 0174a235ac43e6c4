//! The `before_token` hook through the token endpoint, against a receiver of the test's own that
//! verifies each Standard Webhooks signature: claims added to both tokens on the code and refresh
//! grants, a denial (asked before a refresh token is rotated, so the token survives it), a timeout
//! under each failure mode, and answers refused for reserved claims or their size.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use authorization_server::Alg;
use serde_json::{Value, json};
use testkit::{Db, TestApp, both_backends, spawn_app_with};

use crate::oidc::authorize_url_with;
use crate::{jwt_parts, unique_email};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct Receiver {
    /// The answer's body, and how long to wait before giving it.
    reply: String,
    delay_ms: u64,
    /// Each request's JSON, and whether its signature verified.
    seen: Vec<(Value, bool)>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let secret = hooks::SigningSecret::parse(SECRET).unwrap();
    let ts: i64 = header("webhook-timestamp").parse().unwrap_or_default();
    let verified = secret.verify(&header("webhook-id"), ts, &body, &header("webhook-signature"), ts, 300);
    let (reply, delay) = {
        let mut s = state.lock().unwrap();
        s.seen.push((serde_json::from_slice(&body).unwrap_or(Value::Null), verified));
        (s.reply.clone(), s.delay_ms)
    };
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    HttpResponse::Ok().content_type("application/json").body(reply)
}

async fn receiver() -> (String, Shared) {
    let state: Shared = Arc::default();
    let data = web::Data::new(state.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || App::new().app_data(data.clone()).route("/hook", web::post().to(hook)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), state)
}

fn hook_settings(url: &str, on_failure: &str) -> hooks::HookSettings {
    serde_json::from_value(json!({"url": url, "secret": SECRET, "timeout_ms": 1000, "on_failure": on_failure})).unwrap()
}

async fn app_with_hook(db: Db, url: &str, on_failure: &str) -> TestApp {
    let settings = hook_settings(url, on_failure);
    spawn_app_with(db, |s| s.hooks.before_token = Some(settings)).await
}

fn answer(state: &Shared, reply: Value, delay_ms: u64) {
    crate::assert_schema("hook.answer.json", &reply);
    let mut s = state.lock().unwrap();
    (s.reply, s.delay_ms) = (reply.to_string(), delay_ms);
}

/// A sign-in by code; the token endpoint's answer (status and body).
async fn tokens(app: &TestApp, offline: bool) -> (u16, Value) {
    tokens_for(app, offline, &unique_email()).await
}

async fn tokens_for(app: &TestApp, offline: bool, email: &str) -> (u16, Value) {
    tokens_with(app, offline, email, Default::default()).await
}

/// [`tokens_for`] through a new client with these settings.
async fn tokens_with(app: &TestApp, offline: bool, email: &str, settings: domain::ClientSettings) -> (u16, Value) {
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let scope = if offline { "openid email offline_access" } else { "openid email" };
    let url = authorize_url_with(app, &client, &["scope"], &[("scope", scope)]);
    let back = app.sign_in(&app.browser(), &url, email).await;
    let code = testkit::query_param(&back, "code").unwrap();
    let params = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", crate::oidc::VERIFIER),
    ];
    let resp = app.token_request(&params, Some((&client.id, client.secret.as_deref().unwrap()))).await;
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap();
    if status == 200 && offline {
        // Keep the client for the refresh: its secret is in the response's context only.
        let mut body: Value = body;
        body["client_id"] = json!(client.id);
        body["client_secret"] = json!(client.secret);
        return (status, body);
    }
    (status, body)
}

both_backends!(before_token_adds_claims_to_both_tokens_and_may_deny, |db: Db| async move {
    let (url, state) = receiver().await;
    let app = app_with_hook(db, &url, "fail_closed").await;
    answer(&state, json!({"decision": "allow", "claims": {"plan": "gold", "roles": ["editor"]}}), 0);
    let (status, body) = tokens(&app, true).await;
    assert_eq!(status, 200, "{body}");
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    let (_, access) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!((id["plan"].clone(), access["roles"].clone()), (json!("gold"), json!(["editor"])));
    {
        let s = state.lock().unwrap();
        let (payload, verified) = s.seen.last().unwrap().clone();
        assert!(verified, "signed per the Standard Webhooks specification");
        assert_eq!(payload["type"], "before_token");
        crate::assert_schema("before_token.request.json", &payload);
        assert_eq!(payload["grant_type"], "authorization_code");
        assert_eq!(payload["user"]["sub"], id["sub"]);
        assert_eq!(payload["amr"], json!(["otp"]));
    }

    // The refresh grant asks too; a denial leaves the refresh token as it was.
    let refresh = |token: String| {
        let (id, secret) =
            (body["client_id"].as_str().unwrap().to_owned(), body["client_secret"].as_str().unwrap().to_owned());
        let app = &app;
        async move {
            let params = [("grant_type", "refresh_token"), ("refresh_token", token.as_str())];
            let resp = app.token_request(&params, Some((&id, &secret))).await;
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let token = body["refresh_token"].as_str().unwrap().to_owned();
    answer(&state, json!({"decision": "deny", "message": "suspended plan"}), 0);
    let (status, denied) = refresh(token.clone()).await;
    assert_eq!((status, denied["error"].as_str()), (403, Some("access_denied")), "{denied}");
    answer(&state, json!({"decision": "allow", "claims": {"plan": "silver"}}), 0);
    let (status, renewed) = refresh(token).await;
    assert_eq!(status, 200, "the refused refresh token still works: {renewed}");
    let (_, id) = jwt_parts(renewed["id_token"].as_str().unwrap());
    assert_eq!(id["plan"], "silver");
    assert_eq!(state.lock().unwrap().seen.last().unwrap().0["grant_type"], "refresh_token");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hook_refuses_tokens_when_closed_and_adds_nothing_when_open() {
    let (url, state) = receiver().await;
    answer(&state, json!({"decision": "allow", "claims": {"plan": "gold"}}), 1500);
    let closed = app_with_hook(Db::Sqlite, &url, "fail_closed").await;
    let (status, body) = tokens(&closed, false).await;
    assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{body}");
    let open = app_with_hook(Db::Sqlite, &url, "fail_open").await;
    let (status, body) = tokens(&open, false).await;
    assert_eq!(status, 200, "{body}");
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    assert!(id.get("plan").is_none(), "nothing was added: {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_and_oversized_claims_are_refused() {
    let (url, state) = receiver().await;
    let app = app_with_hook(Db::Sqlite, &url, "fail_closed").await;
    for reply in [
        json!({"decision": "allow", "claims": {"sub": "someone-else"}}),
        json!({"decision": "allow", "claims": {"acr": "http://schemas.openid.net/pape/policies/2007/06/multi-factor"}}),
        json!({"decision": "allow", "claims": {"email": "spoof@example.com"}}),
        json!({"decision": "allow", "claims": {"blob": "x".repeat(hooks::MAX_CLAIMS)}}),
        json!({"decision": "allow", "claims": {"blob": "x".repeat(hooks::MAX_ANSWER)}}),
        json!({"decision": "require_mfa"}),
    ] {
        answer(&state, reply.clone(), 0);
        let (status, body) = tokens(&app, false).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{reply:.80}: {body}");
    }
}

/// A process killed when the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example receivers of `docs/hooks.md` (`examples/hooks/`), in Python and in Node: each
/// refuses a request without a right signature, and its answers reach the tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_receivers_verify_signatures_and_answer() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hooks");
    for (program, file) in [("python3", "receiver.py"), ("node", "receiver.mjs")] {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(program)
            .arg(format!("{root}/{file}"))
            .env("HOOK_SECRET", SECRET)
            .env("PORT", port.to_string())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} {file}: {e}"));
        let _running = Running(child);
        let url = format!("http://127.0.0.1:{port}/hook");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
        let http = reqwest::Client::new();
        let unsigned = http.post(&url).body("{}").send().await.unwrap();
        let forged = http
            .post(&url)
            .header("webhook-id", "msg_forged")
            .header("webhook-timestamp", &now)
            .header("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
            .body(r#"{"type":"before_token"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!((unsigned.status().as_u16(), forged.status().as_u16()), (401, 401), "{file}");

        let app = app_with_hook(Db::Sqlite, &url, "fail_closed").await;
        let (status, body) = tokens(&app, false).await;
        assert_eq!(status, 200, "{file}: {body}");
        let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
        assert_eq!(id["plan"], "gold", "{file}");
        let (status, body) = tokens_for(&app, false, "someone@blocked.example").await;
        assert_eq!((status, body["error"].as_str()), (403, Some("access_denied")), "{file}: {body}");
    }
}

both_backends!(before_user_created_may_refuse_a_new_account_with_its_message, |db: Db| async move {
    let (url, state) = receiver().await;
    let settings = hook_settings(&url, "fail_closed");
    let app = spawn_app_with(db, |s| s.hooks.before_user_created = Some(settings)).await;
    let client = app.register_client_with(false, Alg::RS256, Default::default()).await;
    let url = crate::oidc::authorize_url(&app, &client, &[]);

    // Refused: the user reads the hook's message, and no account is made.
    answer(&state, json!({"decision": "deny", "message": "Only staff addresses may sign up."}), 0);
    let outsider = unique_email();
    let browser = app.browser();
    let code_page = app.start_login(&browser, &url, &outsider).await;
    let code = app.message_to(&outsider).await.code();
    let resp = app.submit_code(&browser, &code_page, &code).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("Only staff addresses may sign up."));
    assert!(app.store.user_by_email(&domain::EmailAddress::parse(&outsider).unwrap()).await.unwrap().is_none());
    {
        let s = state.lock().unwrap();
        let (payload, verified) = s.seen.last().unwrap().clone();
        assert!(verified);
        assert_eq!(payload["type"], "before_user_created");
        crate::assert_schema("before_user_created.request.json", &payload);
        assert_eq!(payload["destination"]["email"], outsider.as_str());
        assert_eq!(payload["client"]["id"], client.id.as_str());
        assert_eq!(payload["ip"], "127.0.0.1");
    }

    // Allowed: the account is made; known accounts never ask again.
    answer(&state, json!({"decision": "allow"}), 0);
    let staff = unique_email();
    app.sign_in(&app.browser(), &url, &staff).await;
    assert!(app.store.user_by_email(&domain::EmailAddress::parse(&staff).unwrap()).await.unwrap().is_some());
    let asked = state.lock().unwrap().seen.len();
    answer(&state, json!({"decision": "deny"}), 0);
    app.sign_in(&app.browser(), &url, &staff).await;
    assert_eq!(state.lock().unwrap().seen.len(), asked, "an existing account is not a sign-up");

    // A hook that does not answer in time pauses sign-ups (fail_closed): 503, no account.
    answer(&state, json!({"decision": "allow"}), 1500);
    let late = unique_email();
    let browser = app.browser();
    let code_page = app.start_login(&browser, &url, &late).await;
    let code = app.message_to(&late).await.code();
    assert_eq!(app.submit_code(&browser, &code_page, &code).await.status(), 503);
    assert!(app.store.user_by_email(&domain::EmailAddress::parse(&late).unwrap()).await.unwrap().is_none());
});

both_backends!(after_first_factor_may_require_a_second_factor_or_deny, |db: Db| async move {
    use domain::{ClientSettings, StepUp, StepUpPolicy, WithoutFactor};
    let (url, state) = receiver().await;
    let settings = hook_settings(&url, "fail_closed");
    let app = spawn_app_with(db, |s| s.hooks.after_first_factor = Some(settings)).await;
    let never = ClientSettings {
        step_up: StepUp { policy: StepUpPolicy::Never, without_factor: WithoutFactor::Allow },
        ..Default::default()
    };
    let client = app.register_client_with(false, Alg::RS256, never).await;
    let authorize = crate::oidc::authorize_url(&app, &client, &[]);

    // Required, with a reason: a policy that never asks sets up a factor all the same, and the
    // reason is in the audit log and the sign-in history.
    answer(&state, json!({"decision": "require_mfa", "message": "payroll access"}), 0);
    let email = unique_email();
    let browser = app.browser();
    let step_up = crate::stepup::first_factor(&app, &browser, &authorize, &email).await;
    let (_, _, back) = crate::stepup::enrol(&app, &browser, &step_up).await;
    {
        let s = state.lock().unwrap();
        let (payload, verified) = s.seen.first().expect("asked").clone();
        assert!(verified);
        assert_eq!(payload["type"], "after_first_factor");
        crate::assert_schema("after_first_factor.request.json", &payload);
        assert_eq!(payload["first_factor"]["amr"], json!(["otp"]));
        assert_eq!(payload["signals"]["first_sign_in"], true);
    }
    assert!(back.as_str().starts_with(&client.redirect_uri), "{back}");
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let (_, token) = crate::admin::admin_token(&app).await;
    let events = format!("/api/admin/v1/users/{}/events", user.id);
    let body: Value = app.api.get(app.url(&events)).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let reasons = body["events"][0]["reasons"].to_string();
    assert!(reasons.contains("hook_required") && reasons.contains("payroll access"), "{body}");

    // Denied: the client gets access_denied, and the audit log says why.
    answer(&state, json!({"decision": "deny", "message": "contractor"}), 0);
    let browser = app.browser();
    let step_up = crate::stepup::first_factor(&app, &browser, &authorize, &unique_email()).await;
    let resp = browser.get(&step_up).await;
    let resume = testkit::location(&resp);
    assert!(resume.starts_with("/authorize/resume/"), "{resume}");
    let back = testkit::location(&browser.get(&resume).await);
    assert!(back.contains("error=access_denied"), "{back}");

    // A hook that does not answer in time pauses the sign-in (fail_closed).
    answer(&state, json!({"decision": "allow"}), 1500);
    let browser = app.browser();
    let step_up = crate::stepup::first_factor(&app, &browser, &authorize, &unique_email()).await;
    assert_eq!(browser.get(&step_up).await.status(), 503);
});

both_backends!(after_first_factor_is_asked_for_api_sign_ins_too, |db: Db| async move {
    use domain::{ClientSettings, StepUp, StepUpPolicy, WithoutFactor};
    let (url, state) = receiver().await;
    let settings = hook_settings(&url, "fail_closed");
    let app = spawn_app_with(db, |s| {
        s.hooks.after_first_factor = Some(settings);
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let never = ClientSettings {
        step_up: StepUp { policy: StepUpPolicy::Never, without_factor: WithoutFactor::Allow },
        ..crate::api_methods()
    };
    let client = app.register_client_with(false, Alg::RS256, never).await;
    let error_of = |body: &Value| body["error"].as_str().unwrap_or_default().to_owned();
    // Allowed: tokens, and the hook saw the API sign-in's signals.
    answer(&state, json!({"decision": "allow"}), 0);
    let resp = crate::api_login::api_sign_in(&app, &client, &unique_email(), "198.51.100.7").await;
    assert_eq!(resp.status(), 200);
    {
        let s = state.lock().unwrap();
        let (payload, verified) = s.seen.last().expect("asked").clone();
        assert!(verified);
        assert_eq!(payload["client"]["id"], client.id.as_str());
        assert_eq!(payload["ip"], "198.51.100.7");
        crate::assert_schema("after_first_factor.request.json", &payload);
        assert_eq!(payload["signals"]["first_sign_in"], true);
    }
    // A second factor required: the API cannot ask for one, so `mfa_required`.
    answer(&state, json!({"decision": "require_mfa", "message": "payroll"}), 0);
    let resp = crate::api_login::api_sign_in(&app, &client, &unique_email(), "198.51.100.7").await;
    assert_eq!(resp.status(), 403);
    assert_eq!(error_of(&resp.json().await.unwrap()), "mfa_required");
    // Denied.
    answer(&state, json!({"decision": "deny", "message": "contractor"}), 0);
    let resp = crate::api_login::api_sign_in(&app, &client, &unique_email(), "198.51.100.7").await;
    assert_eq!(error_of(&resp.json().await.unwrap()), "access_denied");
    // Too slow, and closed: not now.
    answer(&state, json!({"decision": "allow"}), 1500);
    let resp = crate::api_login::api_sign_in(&app, &client, &unique_email(), "198.51.100.7").await;
    assert_eq!(error_of(&resp.json().await.unwrap()), "temporarily_unavailable");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_may_take_its_own_hook_or_none() {
    let (everyone, everyone_state) = receiver().await;
    let (payroll, payroll_state) = receiver().await;
    let app = spawn_app_with(Db::Sqlite, |s| {
        s.hooks.before_token = Some(hook_settings(&everyone, "fail_closed"));
        let label =
            hooks::StepHooks { before_token: Some(hook_settings(&payroll, "fail_closed")), ..Default::default() };
        s.hooks.clients.insert("payroll".into(), label);
    })
    .await;
    answer(&everyone_state, json!({"decision": "allow", "claims": {"plan": "everyone"}}), 0);
    answer(&payroll_state, json!({"decision": "allow", "claims": {"plan": "payroll"}}), 0);
    let plan_of = |choice: Option<&str>| {
        let hooks = domain::ClientHooks { before_token: choice.map(str::to_owned), ..Default::default() };
        let settings = domain::ClientSettings { hooks, ..Default::default() };
        let app = &app;
        async move {
            let (status, body) = tokens_with(app, false, &unique_email(), settings).await;
            match status {
                200 => jwt_parts(body["id_token"].as_str().unwrap()).1["plan"].clone(),
                _ => body["error"].clone(),
            }
        }
    };
    assert_eq!(plan_of(None).await, "everyone");
    assert_eq!(plan_of(Some("payroll")).await, "payroll");
    assert_eq!(plan_of(Some("off")).await, Value::Null, "no hook, no claim");
    assert_eq!(plan_of(Some("missing")).await, "access_denied", "a label not configured refuses");
    assert_eq!(everyone_state.lock().unwrap().seen.len(), 1);
    assert_eq!(payroll_state.lock().unwrap().seen.len(), 1);
}

/// A slow answer and one over 16 KiB, for the two sign-in hooks in both failure modes: closed
/// refuses the step (503, nothing made), open goes on as if allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_oversized_answers_fail_closed_or_open_for_the_sign_in_hooks() {
    use domain::{ClientSettings, StepUp, StepUpPolicy, WithoutFactor};
    let oversized = json!({"decision": "allow", "message": "x".repeat(hooks::MAX_ANSWER)});
    for (hook, mode) in [
        ("before_user_created", "fail_closed"),
        ("before_user_created", "fail_open"),
        ("after_first_factor", "fail_closed"),
        ("after_first_factor", "fail_open"),
    ] {
        let (url, state) = receiver().await;
        let settings = hook_settings(&url, mode);
        let app = spawn_app_with(Db::Sqlite, |s| match hook {
            "before_user_created" => s.hooks.before_user_created = Some(settings),
            _ => s.hooks.after_first_factor = Some(settings),
        })
        .await;
        let never = ClientSettings {
            step_up: StepUp { policy: StepUpPolicy::Never, without_factor: WithoutFactor::Allow },
            ..Default::default()
        };
        let client = app.register_client_with(false, Alg::RS256, never).await;
        let authorize = crate::oidc::authorize_url(&app, &client, &[]);
        for (what, reply, delay) in [("slow", json!({"decision": "allow"}), 1500), ("oversized", oversized.clone(), 0)]
        {
            answer(&state, reply, delay);
            let email = unique_email();
            let browser = app.browser();
            let code_page = app.start_login(&browser, &authorize, &email).await;
            let code = app.message_to(&email).await.code();
            let resp = app.submit_code(&browser, &code_page, &code).await;
            let status = match (hook, resp.status().as_u16()) {
                // The code was right: on to step-up, where after_first_factor is asked.
                ("after_first_factor", 303) => browser.get(&testkit::location(&resp)).await.status().as_u16(),
                (_, status) => status,
            };
            let made = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap();
            match mode {
                "fail_closed" => {
                    assert_eq!(status, 503, "{hook} {mode} {what}");
                    if hook == "before_user_created" {
                        assert!(made.is_none(), "{hook} {mode} {what}: no account");
                    }
                }
                _ => {
                    assert_eq!(status, 303, "{hook} {mode} {what}: goes on");
                    assert!(made.is_some(), "{hook} {mode} {what}");
                }
            }
        }
        assert_eq!(state.lock().unwrap().seen.len(), 2, "{hook} {mode}: asked each time");
    }
}

/// `ostiary hooks test NAME`: a signed sample to the configured URL, the answer and the time shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hooks_test_command_shows_the_answer() {
    let (url, state) = receiver().await;
    let dir = std::env::temp_dir().join(format!("ostiary-hooks-cli-{}", domain::secret::random_token(9)));
    std::fs::create_dir_all(&dir).unwrap();
    // The deployment's before_token and send_message, and a label's after_first_factor.
    let run = |args: &'static [&'static str]| {
        let (url, dir) = (url.clone(), dir.clone());
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_ostiary"))
                .env_remove("RUST_LOG")
                .env("OSTIARY__DATABASE__URL", dir.join("o.db"))
                .env("OSTIARY__SERVER__DATA_DIR", dir.join("data"))
                .env("OSTIARY__SERVER__LOG", "warn")
                .env("OSTIARY__HOOKS__BEFORE_TOKEN__URL", &url)
                .env("OSTIARY__HOOKS__BEFORE_TOKEN__SECRET", SECRET)
                .env("OSTIARY__HOOKS__SEND_MESSAGE__URL", &url)
                .env("OSTIARY__HOOKS__SEND_MESSAGE__SECRET", SECRET)
                .env("OSTIARY__HOOKS__CLIENTS__PAYROLL__AFTER_FIRST_FACTOR__URL", &url)
                .env("OSTIARY__HOOKS__CLIENTS__PAYROLL__AFTER_FIRST_FACTOR__SECRET", SECRET)
                .args(["hooks", "test"])
                .args(args)
                .output()
                .await
                .unwrap()
        }
    };
    answer(&state, json!({"decision": "allow", "claims": {"plan": "gold"}}), 0);
    let out = run(&["before_token"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Answered in") && stdout.contains("allow") && stdout.contains("gold"), "{stdout}");
    let (payload, verified) = state.lock().unwrap().seen.last().unwrap().clone();
    assert!(verified && payload["test"] == true && payload["type"] == "before_token", "{payload}");
    crate::assert_schema("before_token.request.json", &payload);
    // send_message: a sample email, taken on any 2xx.
    let out = run(&["send_message"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("Taken in"), "{stdout}");
    let (payload, verified) = state.lock().unwrap().seen.last().unwrap().clone();
    assert!(verified && payload["type"] == "send_message" && payload["to"] == "sample@example.com", "{payload}");
    crate::assert_schema("send_message.request.json", &payload);
    // A hook that is not configured, or not a hook at all: said in words, exit status not 0.
    let out = run(&["after_first_factor"]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("hooks.after_first_factor is not configured"));
    let out = run(&["before_lunch"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no hook is called"));
    // A label's hook: `--label`.
    let out = run(&["after_first_factor", "--label", "payroll"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Answered in"),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (payload, _) = state.lock().unwrap().seen.last().unwrap().clone();
    assert_eq!(payload["type"], "after_first_factor");
    let _ = std::fs::remove_dir_all(dir);
}

/// The console offers each configured label, and `off`, for each of a client's decision hooks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_chooses_a_clients_hooks() {
    let (url, _state) = receiver().await;
    let app = spawn_app_with(Db::Sqlite, |s| {
        let label = hooks::StepHooks { before_token: Some(hook_settings(&url, "fail_closed")), ..Default::default() };
        s.hooks.clients.insert("payroll".into(), label);
    })
    .await;
    let (browser, _) = crate::admin_console::console_admin(&app).await;
    let client = app.register_client(false, Alg::RS256).await;
    let id = domain::ClientId::parse(&client.id).unwrap();
    let path = format!("/admin/clients/{}", client.id);
    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("name=\"hook_before_token\"") && page.contains("[hooks.clients.payroll]"), "{page}");
    let version = app.store.client(&id).await.unwrap().unwrap().version.to_string();
    let csrf = testkit::csrf_of(&page);
    let fields = [
        ("csrf", csrf.as_str()),
        ("version", version.as_str()),
        ("name", "Hooked"),
        ("redirect_uris", client.redirect_uri.as_str()),
        ("post_logout_redirect_uris", ""),
        ("login_methods", "email_code"),
        ("refresh_tokens", "offline_access"),
        ("step_up_policy", "risky"),
        ("without_factor", "allow"),
        ("product_name", ""),
        ("primary_color", ""),
        ("logo_url", ""),
        ("css_url", ""),
        ("hook_before_user_created", ""),
        ("hook_after_first_factor", "off"),
        ("hook_before_token", "payroll"),
    ];
    assert_eq!(browser.post_form(&path, &fields).await.status(), 200);
    let hooks = app.store.client(&id).await.unwrap().unwrap().settings.hooks;
    let expected = domain::ClientHooks {
        before_user_created: None,
        after_first_factor: Some("off".into()),
        before_token: Some("payroll".into()),
    };
    assert_eq!(hooks, expected);
    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("<option value=\"payroll\" selected>"), "{page}");
    // Not a label: refused with the rule's words, nothing saved.
    let mut bad = fields;
    bad[1].1 = &version;
    let csrf = testkit::csrf_of(&page);
    bad[0].1 = &csrf;
    let version = app.store.client(&id).await.unwrap().unwrap().version.to_string();
    bad[1].1 = &version;
    bad[15].1 = "no such/label";
    assert_eq!(browser.post_form(&path, &bad).await.status(), 422);
    assert_eq!(app.store.client(&id).await.unwrap().unwrap().settings.hooks, expected);
}

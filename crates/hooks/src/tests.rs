//! A hook against a receiver of the test's own (a plain HTTP/1.1 server on a local port) that
//! verifies every signature and answers as it is told.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver answers: a status, a body, and how long it waits first.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    delay_ms: u64,
}

/// What the receiver saw: the body and whether its signature verified.
#[derive(Clone, Debug, Default)]
struct Seen {
    body: String,
    verified: bool,
}

async fn receiver(reply: Reply) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (reply, log) = (reply.clone(), log.clone());
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                let (head, body) = loop {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let head = text[..end].to_owned();
                        let length = head
                            .lines()
                            .find_map(|l| l.to_lowercase().strip_prefix("content-length:").map(str::to_owned))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break (head, request[end + 4..end + 4 + length].to_vec());
                        }
                    }
                };
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                };
                let secret = SigningSecret::parse(SECRET).expect("secret");
                let (id, ts, sig) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
                let verified = match (id, ts.and_then(|t| t.parse::<i64>().ok()), sig) {
                    (Some(id), Some(ts), Some(sig)) => secret.verify(&id, ts, &body, &sig, ts, TOLERANCE),
                    _ => false,
                };
                log.lock().expect("log").push(Seen { body: String::from_utf8_lossy(&body).into(), verified });
                tokio::time::sleep(std::time::Duration::from_millis(reply.delay_ms)).await;
                let response = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
                    reply.status,
                    reply.body.len(),
                    reply.body
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, seen)
}

fn hook(url: &str, timeout_ms: u64, on_failure: OnFailure) -> Hook {
    let settings =
        HookSettings { url: url.into(), secret: SigningSecret::parse(SECRET).expect("secret"), timeout_ms, on_failure };
    Hook::new("before_token", settings).expect("hook")
}

fn reply(status: u16, body: &str, delay_ms: u64) -> Reply {
    Reply { status, body: body.into(), delay_ms }
}

#[tokio::test]
async fn a_signed_request_gets_the_receivers_decision_and_claims() {
    let (url, seen) = receiver(reply(200, r#"{"decision":"allow","claims":{"plan":"gold"}}"#, 0)).await;
    let answer = hook(&url, 2000, OnFailure::FailClosed).call(json!({"user": {"sub": "u1"}}), 1_800_000_000).await;
    let answer = answer.expect("an answer");
    assert_eq!((answer.decision, answer.claims["plan"].clone()), (Decision::Allow, json!("gold")));
    let seen = seen.lock().unwrap()[0].clone();
    assert!(seen.verified, "the receiver verified the signature");
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!((body["type"].clone(), body["user"]["sub"].clone()), (json!("before_token"), json!("u1")));

    let (url, _) = receiver(reply(200, r#"{"decision":"deny","message":"  Not\u0007 today  "}"#, 0)).await;
    let answer = hook(&url, 2000, OnFailure::FailClosed).call(json!({}), 1).await.expect("an answer");
    assert_eq!((answer.decision, answer.shown_message().as_deref()), (Decision::Deny, Some("Not today")));
}

#[tokio::test]
async fn a_slow_hook_fails_closed_or_open_as_declared() {
    let (url, _) = receiver(reply(200, r#"{"decision":"deny"}"#, 1500)).await;
    let closed = hook(&url, 200, OnFailure::FailClosed).decide(json!({}), 1).await;
    assert!(matches!(closed, Err(HookError::Timeout(200))), "{closed:?}");
    let open = hook(&url, 200, OnFailure::FailOpen).decide(json!({}), 1).await;
    assert_eq!(open.expect("allowed").decision, Decision::Allow);
}

#[tokio::test]
async fn bad_answers_are_failures() {
    let big = format!(r#"{{"decision":"allow","claims":{{"x":"{}"}}}}"#, "y".repeat(MAX_ANSWER));
    for (status, body, expected) in [
        (500, r#"{"decision":"allow"}"#, "status"),
        (200, "not json", "malformed"),
        (200, r#"{"decision":"maybe"}"#, "malformed"),
        (200, r#"{"decision":"allow","claim":{}}"#, "malformed"),
        (200, big.as_str(), "too_large"),
    ] {
        let (url, _) = receiver(reply(status, body, 0)).await;
        let e = hook(&url, 2000, OnFailure::FailClosed).call(json!({}), 1).await.expect_err("a failure");
        assert_eq!(e.label(), expected, "{status} {}", &body[..body.len().min(40)]);
    }
    let nobody = hook("http://127.0.0.1:9/hook", 500, OnFailure::FailClosed).call(json!({}), 1).await;
    assert!(matches!(nobody, Err(HookError::Unreachable(_) | HookError::Timeout(_))), "{nobody:?}");
}

#[test]
fn reserved_taken_and_oversized_claims_are_refused() {
    let taken: Map<String, Value> = serde_json::from_value(json!({"email": "a@example.com"})).unwrap();
    let ok: Map<String, Value> = serde_json::from_value(json!({"plan": "gold", "roles": ["a"]})).unwrap();
    assert!(check_claims(&ok, &taken).is_ok());
    // A hook cannot forge a delegation (RFC 8693 `act`) or a key binding (`cnf`).
    for name in ["act", "may_act", "cnf", "events"] {
        assert!(RESERVED_CLAIMS.contains(&name), "{name}");
    }
    for name in RESERVED_CLAIMS.iter().chain(["email"].iter()) {
        let claims: Map<String, Value> = serde_json::from_value(json!({ *name: "x" })).unwrap();
        assert!(check_claims(&claims, &taken).is_err(), "{name}");
    }
    let big: Map<String, Value> = serde_json::from_value(json!({"x": "y".repeat(MAX_CLAIMS)})).unwrap();
    assert!(check_claims(&big, &taken).is_err());
}

#[test]
fn http_urls_only_in_development() {
    let settings = |url: &str| HooksSettings {
        before_user_created: None,
        after_first_factor: None,
        send_message: None,
        clients: Default::default(),
        before_token: Some(HookSettings {
            url: url.into(),
            secret: SigningSecret::parse(SECRET).unwrap(),
            timeout_ms: 2000,
            on_failure: OnFailure::FailClosed,
        }),
    };
    let problems = |url: &str, production: bool| {
        let mut p = Vec::new();
        settings(url).validate(production, &mut p);
        p
    };
    assert!(problems("https://hooks.example.com/t", true).is_empty());
    assert!(problems("http://localhost:9000/t", false).is_empty());
    assert_eq!(problems("http://hooks.example.com/t", true).len(), 1);
    assert_eq!(problems("ftp://x", false).len(), 1);
}

#[test]
fn a_client_takes_the_deployments_hook_none_or_its_labels() {
    let hook = |url: &str| {
        Some(HookSettings {
            url: url.into(),
            secret: SigningSecret::parse(SECRET).unwrap(),
            timeout_ms: 2000,
            on_failure: OnFailure::FailClosed,
        })
    };
    let mut clients = std::collections::BTreeMap::new();
    let payroll = StepHooks { before_token: hook("https://payroll.example/t"), ..Default::default() };
    clients.insert("payroll".to_owned(), payroll);
    let settings = HooksSettings { before_token: hook("https://all.example/t"), clients, ..Default::default() };
    let hooks = settings.build().unwrap();
    let choose =
        |choice: Option<&str>| domain::ClientHooks { before_token: choice.map(str::to_owned), ..Default::default() };
    let url_of = |choice: Option<&str>| {
        hooks.for_client(Step::BeforeToken, &choose(choice)).map(|h| h.map(|h| h.settings.url.clone()))
    };
    assert_eq!(url_of(None).unwrap().as_deref(), Some("https://all.example/t"));
    assert_eq!(url_of(Some("off")).unwrap(), None);
    assert_eq!(url_of(Some("payroll")).unwrap().as_deref(), Some("https://payroll.example/t"));
    assert!(url_of(Some("missing")).is_err(), "a label not configured refuses the step");
    // The label configures before_token only: its other hooks are none, not the deployment's.
    let payroll_everywhere = domain::ClientHooks { after_first_factor: Some("payroll".into()), ..Default::default() };
    assert!(hooks.for_client(Step::AfterFirstFactor, &payroll_everywhere).unwrap().is_none());
    assert!(hooks.any(Step::BeforeToken) && !hooks.any(Step::AfterFirstFactor));
    let mut problems = Vec::new();
    let mut off = HooksSettings::default();
    off.clients.insert("off".into(), StepHooks::default());
    off.validate(true, &mut problems);
    assert_eq!(problems.len(), 1, "{problems:?}");
}

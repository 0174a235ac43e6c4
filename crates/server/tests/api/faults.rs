//! Durability under SIGKILL: the real binary is killed at random moments while workers sign in
//! (passwordless API and OTP grant) and refresh token chains, then started again on the same data
//! directory and database. After each restart, every acknowledged write is there (users,
//! sessions, access tokens, refresh rotations, spent codes, signing keys), every chain continues
//! (a refresh whose answer was lost is retried with the same token, within
//! `oidc.refresh_reuse_leeway`, and must not revoke the family), and no request ever got a 5xx.
//!
//! `OSTIARY_FAULT_KILLS` kills per backend: 3 by default, 60 under `make soak`.

mod api;
mod load;
mod server;
mod verify;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use api::{Api, Tally};
use load::Worker;
use server::{Backend, Server};
use verify::Ledger;

/// Concurrent clients.
const WORKERS: usize = 8;

fn kills() -> usize {
    std::env::var("OSTIARY_FAULT_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_write_through_sigkills() {
    survive_kills(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_every_acknowledged_write_through_sigkills() {
    survive_kills(Backend::Postgres).await;
}

async fn survive_kills(backend: Backend) {
    let began = std::time::Instant::now();
    let mut server = Server::prepare(backend).await;
    let (client, admin) = register_clients(&server).await;
    server.start().await;
    let admin_token = admin_token(&server.base, &admin).await;
    let tally = Arc::new(Tally::default());
    let base = server.base.clone();
    let connect = || async {
        let api = Arc::new(Api::new(&base, &client, &admin_token, Arc::clone(&tally)));
        api.warm_up().await;
        api
    };
    let mut api = connect().await;
    let mut ledger = Ledger::default();
    let mut workers: Vec<Worker> = (0..WORKERS).map(|_| Worker::default()).collect();
    let kills = kills();
    for round in 1..=kills {
        let running: Vec<_> = workers.drain(..).map(|w| tokio::spawn(w.run(Arc::clone(&api)))).collect();
        // The moment of the kill, at random while the workers are busy (not an assertion).
        tokio::time::sleep(Duration::from_millis(rand::random_range(300..1500))).await;
        server.kill().await;
        for worker in running {
            workers.push(worker.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())));
        }
        server.start().await;
        api = connect().await;
        verify::after_restart(&api, &mut workers, &mut ledger).await;
        assert_no_problems(&tally, &server, &format!("after kill {round} of {kills}"));
    }
    verify::everything(&api, &mut ledger).await;
    assert_no_problems(&tally, &server, "at the end");
    let t = &ledger.totals;
    eprintln!(
        "{backend:?}: {kills} SIGKILLs in {:.1} s; {} answers ({} 5xx), {} requests lost to kills, {} lost \
         successors replaced within the reuse leeway; {t:?}",
        began.elapsed().as_secs_f64(),
        tally.answers.load(Ordering::Relaxed),
        tally.server_errors.load(Ordering::Relaxed),
        tally.lost.load(Ordering::Relaxed),
        server.log().matches("its unused successor was replaced").count(),
    );
    assert!(t.sign_ins > 0 && t.refreshes > 0, "the load signed in and refreshed: {t:?}");
}

/// Registered with the CLI, in the database, before the server first starts: the load's client
/// (the passwordless API by email and by text, refresh tokens, no step-up: nothing to ask a second
/// factor of) as `(id, secret)`, and an admin API client for the checks.
async fn register_clients(server: &Server) -> ((String, String), serde_json::Value) {
    let client = server
        .cli(&[
            "client",
            "create",
            "--name",
            "Load",
            "--redirect-uri",
            "http://127.0.0.1:9/callback",
            "--api-login",
            "true",
            "--refresh-tokens",
            "offline_access",
            "--step-up",
            "never",
            "--login-methods",
            "email_code,sms_code",
        ])
        .await;
    let secret = |c: &serde_json::Value, key: &str| c[key].as_str().unwrap().to_owned();
    let admin = server.cli(&["client", "create", "--name", "Checks", "--admin-api"]).await;
    ((secret(&client, "client_id"), secret(&client, "client_secret")), admin)
}

/// A `client_credentials` token for the admin API, taken once and used across every restart.
async fn admin_token(base: &str, admin: &serde_json::Value) -> String {
    let (id, secret) = (admin["client_id"].as_str().unwrap(), admin["client_secret"].as_str().unwrap());
    let resp = reqwest::Client::new()
        .post(format!("{base}/token"))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .basic_auth(id, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

fn assert_no_problems(tally: &Tally, server: &Server, when: &str) {
    let problems = tally.problems();
    assert!(
        problems.is_empty(),
        "{when}: {} problem(s), {} of them 5xx:\n{}\n\nserver log: {}",
        problems.len(),
        tally.server_errors.load(Ordering::Relaxed),
        problems.iter().take(30).cloned().collect::<Vec<_>>().join("\n"),
        server.log_tail()
    );
}

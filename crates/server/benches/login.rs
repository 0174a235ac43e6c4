//! `cargo bench -p ostiary --bench login`: complete sign-ins against a real server on SQLite, driven
//! over HTTP like a browser and a relying party would (authorize → email → code → resume → token
//! → userinfo), sequentially and then with concurrent users. Prints latency percentiles and
//! sign-ins per second. `BENCH_DB=postgres` (with OSTIARY_TEST_DATABASE_URL) runs it on PostgreSQL;
//! `BENCH_POOL=N` sets the connection pool size.

use std::time::{Duration, Instant};

use authorization_server::Alg;
use testkit::{Db, TestApp, TestClient, query_param, spawn_app_with};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorize_url(app: &TestApp, client: &TestClient) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", &client.redirect_uri)
        .append_pair("scope", "openid email")
        .append_pair("state", "s")
        .append_pair("nonce", "n")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

async fn one_sign_in(app: &TestApp, client: &TestClient, n: usize) -> Duration {
    let started = Instant::now();
    let browser = app.browser();
    let email =
        format!("bench-{n}-{}@example.com", domain::secret::random_token(4).to_lowercase().replace(['-', '_'], "x"));
    let back = app.sign_in(&browser, &authorize_url(app, client), &email).await;
    let code = query_param(&back, "code").expect("code");
    let resp = app
        .token_request(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &client.redirect_uri),
                ("code_verifier", VERIFIER),
            ],
            Some((&client.id, client.secret.as_deref().expect("secret"))),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let tokens: serde_json::Value = resp.json().await.expect("json");
    let info = app
        .api
        .get(app.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("userinfo");
    assert_eq!(info.status(), 200);
    started.elapsed()
}

fn report(label: &str, mut times: Vec<Duration>, wall: Duration) {
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{label:<28} n={:<5} p50={:>7.1} ms  p95={:>7.1} ms  p99={:>7.1} ms  {:>7.1} sign-ins/s",
        times.len(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        times.len() as f64 / wall.as_secs_f64()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let db = if std::env::var("BENCH_DB").as_deref() == Ok("postgres") { Db::Postgres } else { Db::Sqlite };
        let pool = std::env::var("BENCH_POOL").ok().and_then(|p| p.parse().ok());
        let app = spawn_app_with(db, |s| {
            s.passwordless.limits.starts_per_ip_per_hour = 1_000_000;
            s.passwordless.limits.sends_per_destination_per_minute = 1_000_000;
            s.passwordless.limits.sends_per_destination_per_hour = 1_000_000;
            if let Some(pool) = pool {
                s.database.pool_size = pool;
            }
        })
        .await;
        println!("backend: {:?}, pool: {}", db, app.settings.database.pool_size);
        let client = app.register_client(false, Alg::RS256).await;
        for n in 0..10 {
            one_sign_in(&app, &client, n).await; // warm-up
        }
        let started = Instant::now();
        let mut times = Vec::new();
        for n in 0..200 {
            times.push(one_sign_in(&app, &client, n).await);
        }
        report("sequential sign-ins", times, started.elapsed());

        for users in [8, 32] {
            let started = Instant::now();
            let runs = (0..users * 25).map(|n| one_sign_in(&app, &client, 10_000 + n));
            let mut times = Vec::new();
            let mut pending = futures_util::stream::iter(runs).buffer_unordered(users);
            use futures_util::StreamExt;
            while let Some(t) = pending.next().await {
                times.push(t);
            }
            report(&format!("{users} concurrent users"), times, started.elapsed());
        }
    });
}

//! Two `ostiary` processes sharing one PostgreSQL database and one Redis, as several nodes behind
//! a load balancer do: the limits hold across them, and every step of a sign-in (code or magic
//! link, step-up, resume, token, refresh, userinfo, logout) can land on either node.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use authorization_server::Alg;
use authorization_server::clients::{NewClient, new_client};
use domain::{Clock, MasterKey};
use testkit::{Browser, PostgresDatabase, location};

use crate::unique_email;

/// A running `ostiary serve`; killed on drop.
struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_node(port: u16, issuer: &str, db: &str, redis: &str, prefix: &str, key: &MasterKey) -> Node {
    let child = Command::new(env!("CARGO_BIN_EXE_ostiary"))
        .arg("serve")
        .env_remove("RUST_LOG")
        .env("OSTIARY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("OSTIARY__SERVER__ISSUER", issuer)
        .env("OSTIARY__SERVER__LOG", "warn")
        .env("OSTIARY__SERVER__DATA_DIR", std::env::temp_dir().join("ostiary-multinode"))
        .env("OSTIARY__DATABASE__URL", db)
        .env("OSTIARY__REDIS__URL", redis)
        .env("OSTIARY__REDIS__KEY_PREFIX", prefix)
        .env("OSTIARY__SECRETS__MASTER_KEY", key.to_base64())
        .env("OSTIARY__DEMO__ENABLED", "false")
        .env("OSTIARY__PASSWORDLESS__LIMITS__STARTS_PER_IP_PER_HOUR", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the ostiary binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let node = Node { child, base };
    for _ in 0..300 {
        if reqwest::get(format!("{}/health", node.base)).await.is_ok_and(|r| r.status() == 200) {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node on port {port} did not start");
}

/// Starts a sign-in: `/authorize` on `from`, the login form on `to`. Returns the status of the
/// form post and the login path.
async fn start(
    browser: &Browser,
    client: &testkit::TestClient,
    from: &Node,
    to: &Node,
    email: String,
) -> (u16, String) {
    let url = crate::oidc::authorize_url_on(&from.base, client, &[]);
    let login = location(&browser.get(&url).await);
    let page = browser.get(&format!("{}{login}", to.base)).await.text().await.unwrap();
    let csrf = testkit::csrf_of(&page);
    let resp = browser.post_form(&format!("{}{login}", to.base), &[("csrf", &csrf), ("email", &email)]).await;
    (resp.status().as_u16(), login)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_and_sign_ins_move_across_two_processes_sharing_redis() {
    let redis = testkit::redis_url().expect("OSTIARY_TEST_REDIS_URL (make test starts a Redis)");
    let db = PostgresDatabase::create().await;
    let key = MasterKey::generate();
    let prefix = format!("ostiary-test-{}", domain::secret::random_token(9));
    let (port_a, port_b) = (free_port(), free_port());
    // Both nodes answer for one issuer, as behind a load balancer.
    let issuer = format!("http://127.0.0.1:{port_a}");
    let a = start_node(port_a, &issuer, &db.url, &redis, &prefix, &key).await;
    let b = start_node(port_b, &issuer, &db.url, &redis, &prefix, &key).await;

    let store = store::Store::connect(&db.url, 1).unwrap();
    let redirect_uri = "http://127.0.0.1:9/callback".to_owned();
    let (client, secret) = new_client(
        NewClient {
            name: "Shop".into(),
            redirect_uris: vec![redirect_uri.clone()],
            post_logout_redirect_uris: vec![testkit::POST_LOGOUT_REDIRECT_URI.into()],
            public: false,
            id_token_alg: Alg::RS256,
            native: false,
            settings: domain::ClientSettings { refresh_tokens: domain::RefreshPolicy::Always, ..Default::default() },
        },
        &key.hasher(),
        domain::SystemClock.now(),
    )
    .unwrap();
    store.insert_client(&client).await.unwrap();
    let client = testkit::TestClient { id: client.id.to_string(), secret, redirect_uri };

    let browser = Browser::new(&a.base, None);
    let email = unique_email();
    let (status, login) = start(&browser, &client, &a, &b, email.clone()).await;
    assert_eq!(status, 303, "started on A, sent from B");

    // The code, read from the shared outbox on A, is typed on B: the sign-in finishes there.
    let code = outbox_message(&a, &email).await.code();
    let code_page = format!("{}{login}/code", b.base);
    let page = browser.get(&code_page).await.text().await.unwrap();
    let resp = browser.post_form(&code_page, &[("csrf", &testkit::csrf_of(&page)), ("code", &code)]).await;
    assert_eq!(resp.status(), 303);
    let step_up = browser.get(&format!("{}{}", a.base, location(&resp))).await;
    assert!(location(&step_up).starts_with("/authorize/resume/"), "step-up on A asks nothing more");
    let resp = browser.get(&format!("{}{}", b.base, location(&step_up))).await;
    assert!(location(&resp).starts_with("http://127.0.0.1:9/callback?code="), "resumed on B");
    tokens_and_logout_across_nodes(&browser, &client, &a, &b, &location(&resp)).await;

    // A magic link sent by B is opened on A, and the sign-in continues on B.
    let browser = Browser::new(&b.base, None);
    let email = unique_email();
    let (status, _) = start(&browser, &client, &b, &a, email.clone()).await;
    assert_eq!(status, 303);
    let link = outbox_message(&b, &email).await.link();
    let token = link.rsplit('/').next().unwrap().to_owned();
    let page = browser.get(&format!("{}/login/link/{token}", a.base)).await.text().await.unwrap();
    let resp = browser
        .post_form(&format!("{}/login/link", a.base), &[("csrf", &testkit::csrf_of(&page)), ("token", &token)])
        .await;
    assert_eq!(resp.status(), 303, "the link continues on A");
    let step_up = browser.get(&format!("{}{}", b.base, location(&resp))).await;
    let resp = browser.get(&format!("{}{}", a.base, location(&step_up))).await;
    assert!(location(&resp).starts_with("http://127.0.0.1:9/callback?code="), "resumed on A");

    // The limit (3 starts per IP per hour) is counted once for both nodes.
    assert_eq!(start(&Browser::new(&b.base, None), &client, &b, &a, unique_email()).await.0, 303);
    assert_eq!(
        start(&Browser::new(&b.base, None), &client, &b, &a, unique_email()).await.0,
        429,
        "the fourth, on either node"
    );
    assert_eq!(start(&Browser::new(&a.base, None), &client, &a, &b, unique_email()).await.0, 429);
}

/// The newest message to `email`, as the shared outbox shows it on `node`.
async fn outbox_message(node: &Node, email: &str) -> testkit::OutboxMessage {
    for _ in 0..200 {
        let outbox: Vec<testkit::OutboxMessage> =
            reqwest::get(format!("{}/dev/outbox.json", node.base)).await.unwrap().json().await.unwrap();
        if let Some(m) = outbox.into_iter().find(|m| m.to == email) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no message to {email}");
}

/// The code is exchanged on B, the refresh token rotated on A, userinfo asked of B, and the session
/// ended on A (RP-initiated logout), after which B knows it is gone.
async fn tokens_and_logout_across_nodes(
    browser: &Browser,
    client: &testkit::TestClient,
    a: &Node,
    b: &Node,
    back: &str,
) {
    let http = reqwest::Client::new();
    let secret = client.secret.as_deref().unwrap();
    let token = |node: &Node, form: Vec<(&'static str, String)>| {
        let request = http.post(format!("{}/token", node.base)).basic_auth(&client.id, Some(secret)).form(&form);
        async move {
            let resp = request.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<serde_json::Value>().await.unwrap()
        }
    };
    let code = testkit::query_param(&url::Url::parse(back).unwrap(), "code").unwrap();
    let first = token(
        b,
        vec![
            ("grant_type", "authorization_code".into()),
            ("code", code),
            ("redirect_uri", client.redirect_uri.clone()),
            ("code_verifier", crate::oidc::VERIFIER.into()),
        ],
    )
    .await;
    let refresh = first["refresh_token"].as_str().expect("a refresh token").to_owned();
    let second = token(a, vec![("grant_type", "refresh_token".into()), ("refresh_token", refresh)]).await;
    let access = second["access_token"].as_str().unwrap();
    let info = http.get(format!("{}/userinfo", b.base)).bearer_auth(access).send().await.unwrap();
    assert_eq!(info.status(), 200, "a token minted on A is good on B");

    let mut logout = url::Url::parse(&format!("{}/logout", a.base)).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", first["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", testkit::POST_LOGOUT_REDIRECT_URI);
    let resp = browser.get(logout.as_str()).await;
    assert!(location(&resp).starts_with(testkit::POST_LOGOUT_REDIRECT_URI), "signed out on A");
    let again = crate::oidc::authorize_url_on(&b.base, client, &[("prompt", "none")]);
    let resp = browser.get(&again).await;
    assert!(location(&resp).contains("error=login_required"), "B knows the session ended: {}", location(&resp));
}

/// Keys rotated on one node: published by both before either signs with them, then used by A and
/// accepted by B. (B's reload stands for its 60-second reload tick; `PUBLISH_AHEAD`, 120 s, covers
/// it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_on_one_node_is_published_and_used_by_both() {
    use authorization_server::keys::PUBLISH_AHEAD;
    let a = testkit::spawn_app(testkit::Db::Postgres).await;
    let b = testkit::spawn_app_on(a.settings.database.url.as_str(), |s| {
        s.secrets.master_key = Some(a.master.clone());
        s.server.issuer = a.settings.server.issuer.clone();
        s.redis = a.settings.redis.clone();
    })
    .await;
    let b_base = format!("http://127.0.0.1:{}", b.settings.server.bind.port());
    let client = a.register_client(false, Alg::ES256).await;
    let kids = a.keys.rotate(a.clock.now()).await.unwrap();
    b.keys.reload().await.unwrap();
    let jwks: serde_json::Value = a.api.get(format!("{b_base}/jwks.json")).send().await.unwrap().json().await.unwrap();
    for kid in &kids {
        assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()), "B publishes {kid}");
    }
    a.clock.advance(PUBLISH_AHEAD + 1);
    b.clock.advance(PUBLISH_AHEAD + 1);
    let back = a.sign_in(&a.browser(), &crate::oidc::authorize_url(&a, &client, &[]), &unique_email()).await;
    let tokens = crate::oidc::exchange(&a, &client, &back).await;
    let access = tokens["access_token"].as_str().unwrap();
    let header = access.split('.').next().unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    assert!(kids.iter().any(|k| header["kid"] == k.as_str()), "A signs with the new key: {header}");
    let info = a.api.get(format!("{b_base}/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(info.status(), 200, "B accepts it");
}

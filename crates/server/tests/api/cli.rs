//! The `ostiary` binary: configuration errors, `migrate`, `client create|list`, `keys rotate`.

use std::process::Command;

fn ostiary(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ostiary"));
    cmd.current_dir(dir)
        .env_remove("RUST_LOG")
        .env("OSTIARY__DATABASE__URL", dir.join("o.db"))
        .env("OSTIARY__SERVER__DATA_DIR", dir.join("data"))
        .env("OSTIARY__SERVER__LOG", "warn");
    cmd
}

fn temp() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ostiary-cli-{}", domain::secret::random_token(9)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_bad_value_is_reported_with_its_key_and_the_server_refuses_to_start() {
    let dir = temp();
    let out = ostiary(&dir)
        .env("OSTIARY__SERVER__BIND", "not-an-address")
        .env("OSTIARY__OIDC__CODE_TTL", "soon")
        .arg("serve")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("oidc.code_ttl"), "{stderr}");
    // Type errors stop extraction; semantic checks name their keys once types are right.
    let out = ostiary(&dir).env("OSTIARY__SERVER__BIND", "not-an-address").arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.bind"));
    let out = ostiary(&dir).args(["--config", "missing.toml", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn client_create_prints_json_and_client_list_shows_it() {
    let dir = temp();
    let out = ostiary(&dir)
        .args([
            "client",
            "create",
            "--name",
            "Shop",
            "--redirect-uri",
            "https://shop.example/cb",
            "--redirect-uri",
            "https://shop.example/cb2",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert!(created["client_id"].is_string());
    assert!(created["client_secret"].as_str().unwrap().len() >= 43);

    let out = ostiary(&dir)
        .args(["client", "create", "--name", "App", "--redirect-uri", "com.example.app:/cb", "--public", "--json"])
        .output()
        .unwrap();
    let public: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(public.get("client_secret").is_none(), "public clients have no secret");

    let out = ostiary(&dir).args(["client", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|c| c["client_id"].as_str().unwrap()).collect();
    assert!(ids.contains(&created["client_id"].as_str().unwrap()));
    assert!(ids.contains(&public["client_id"].as_str().unwrap()));

    let out = ostiary(&dir)
        .args(["client", "create", "--name", "Bad", "--redirect-uri", "/relative", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn migrate_and_keys_rotate_work_from_the_command_line() {
    let dir = temp();
    let out = ostiary(&dir).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    let out = ostiary(&dir).args(["keys", "rotate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Published new signing keys"));
    assert!(dir.join("data/master.key").exists(), "a development master key was generated");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn client_update_changes_the_refresh_token_policy() {
    let dir = temp();
    let out = ostiary(&dir)
        .args(["client", "create", "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--json"])
        .args(["--refresh-tokens", "never"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id =
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["client_id"].as_str().unwrap().to_owned();
    let policy = |dir: &std::path::Path| {
        let out = ostiary(dir).args(["client", "list", "--json"]).output().unwrap();
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        list[0]["settings"]["refresh_tokens"].as_str().unwrap().to_owned()
    };
    assert_eq!(policy(&dir), "never");
    let out = ostiary(&dir).args(["client", "update", &id, "--refresh-tokens", "always"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(policy(&dir), "always");
    let out = ostiary(&dir).args(["client", "update", &id, "--refresh-tokens", "sometimes"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--refresh-tokens"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn user_commands_create_update_and_show_claims() {
    let dir = temp();
    let out = ostiary(&dir).args(["user", "create", "--email", "Ann@Example.com", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["email"], "ann@example.com");
    let out = ostiary(&dir)
        .args(["user", "update", "ann@example.com", "--set", "name=Ann Lee", "--set", "address.country=FR"])
        .args(["--phone", "+44 7400 123456", "--phone-verified", "true", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sub = created["sub"].as_str().unwrap();
    let out = ostiary(&dir).args(["user", "show", sub, "--json"]).output().unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["profile"]["name"], "Ann Lee");
    assert_eq!(shown["profile"]["address"]["country"], "FR");
    assert_eq!(shown["phone_number"], "+447400123456");
    assert_eq!(shown["phone_number_verified"], true);

    // Bad values are refused with the key named, and change nothing.
    for bad in [["--set", "picture=javascript:x"], ["--set", "shoe_size=44"], ["--phone", "12"]] {
        let out = ostiary(&dir).args(["user", "update", sub]).args(bad).output().unwrap();
        assert!(!out.status.success(), "{bad:?} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(bad[0]), "{stderr}");
    }
    let out = ostiary(&dir).args(["user", "create", "--email", "ann@example.com"]).output().unwrap();
    assert!(!out.status.success(), "one account per address");
    let out = ostiary(&dir).args(["user", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["profile"]["name"], "Ann Lee", "the refused updates changed nothing");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn client_update_sets_login_methods_and_branding_and_refuses_bad_values() {
    let dir = temp();
    let out = ostiary(&dir)
        .args(["client", "create", "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--json"])
        .args(["--login-methods", "email_code,sms_code", "--brand-color", "#0a7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id =
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["client_id"].as_str().unwrap().to_owned();
    let settings = |dir: &std::path::Path| {
        let out = ostiary(dir).args(["client", "list", "--json"]).output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()[0]["settings"].clone()
    };
    assert_eq!(settings(&dir)["login_methods"], serde_json::json!(["email_code", "sms_code"]));
    assert_eq!(settings(&dir)["branding"]["primary_color"], "#0a7");
    let out = ostiary(&dir)
        .args(["client", "update", &id, "--step-up", "always", "--without-factor", "deny"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(settings(&dir)["step_up"], serde_json::json!({ "policy": "always", "without_factor": "deny" }));
    let out = ostiary(&dir)
        .args(["client", "update", &id, "--brand-logo", "https://cdn.shop.example/logo.png", "--brand-color", ""])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(settings(&dir)["branding"], serde_json::json!({ "logo_url": "https://cdn.shop.example/logo.png" }));
    for bad in [
        ["--login-methods", "carrier_pigeon"],
        ["--brand-color", "red;x"],
        ["--brand-css", "http://x.example/a.css"],
        ["--step-up", "sometimes"],
        ["--without-factor", "maybe"],
    ] {
        let out = ostiary(&dir).args(["client", "update", &id]).args(bad).output().unwrap();
        assert!(!out.status.success(), "{bad:?} accepted");
    }
    assert_eq!(settings(&dir)["login_methods"], serde_json::json!(["email_code", "sms_code"]), "unchanged");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_listed_and_lifted_from_the_command_line() {
    let dir = temp();
    let out = ostiary(&dir).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let store = store::Store::connect(&dir.join("o.db").display().to_string(), 1).unwrap();
    let now = domain::Clock::now(&domain::SystemClock);
    use passwordless_connection::storage::{BlockScope, BlockStore, NewBlock};
    let one = || BlockScope::Account("abc".into());
    for (ip, scope) in
        [("203.0.113.5", one()), ("203.0.113.5", BlockScope::AllAccounts), ("198.51.100.9", BlockScope::AllAccounts)]
    {
        let block = NewBlock {
            ip: ip.into(),
            scope,
            reason: "test".into(),
            unblock_hash: None,
            created_at: now,
            expires_at: now + 3600,
        };
        assert!(store.insert_block(block).await.unwrap().is_some());
    }
    let out = ostiary(&dir).args(["blocks", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);
    let out = ostiary(&dir).args(["blocks", "lift", "203.0.113.5"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Lifted 2 block(s)"));
    let out = ostiary(&dir).args(["blocks", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["ip"], "198.51.100.9");
    assert_eq!(list.as_array().unwrap().len(), 1);
    let out = ostiary(&dir)
        .args(["blocks", "add", "192.0.2.44", "--reason", "abuse report", "--hours", "2"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Blocked 192.0.2.44"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ostiary(&dir).args(["blocks", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let added = list.as_array().unwrap().iter().find(|b| b["ip"] == "192.0.2.44").unwrap().clone();
    assert_eq!(
        (added["reason"].as_str(), added["expires_at"].as_i64().unwrap() - added["created_at"].as_i64().unwrap()),
        (Some("abuse report"), 7200)
    );
    assert!(!ostiary(&dir).args(["blocks", "add", "192.0.2.44", "--hours", "0"]).output().unwrap().status.success());
    let out = ostiary(&dir).args(["blocks", "lift", "not-an-ip"]).output().unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

/// A free port on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

// Only Ostiary's own faults belong at ERROR (issue 9): a running server fed malformed requests
// and dropped connections answers each and writes no error line.
testkit::both_backends!(malformed_requests_write_no_error_lines, |db: testkit::Db| async move {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = temp();
    let pg = match db {
        testkit::Db::Postgres => Some(testkit::PostgresDatabase::create().await),
        testkit::Db::Sqlite => None,
    };
    let port = free_port();
    let mut cmd = ostiary(&dir);
    if let Some(pg) = &pg {
        cmd.env("OSTIARY__DATABASE__URL", &pg.url);
    }
    let mut server = tokio::process::Command::from(cmd)
        .env("OSTIARY__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("OSTIARY__SERVER__ISSUER", format!("http://127.0.0.1:{port}"))
        .env("OSTIARY__SERVER__LOG", "info")
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let health = format!("http://127.0.0.1:{port}/health");
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(&health).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let bad: [&[u8]; 4] = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
        b"POST /token HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"GET / HTTP/9.9\r\n\r\n",
    ];
    for i in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let _ = stream.write_all(bad[i % bad.len()]).await;
        if i % 5 == 0 {
            // Hang up without reading: a reset connection.
            drop(stream);
            continue;
        }
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        assert!(String::from_utf8_lossy(&out).contains("content-security-policy"), "answered by the application");
    }
    assert!(client.get(&health).send().await.unwrap().status().is_success());
    server.start_kill().unwrap();
    let mut stderr = String::new();
    server.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "error lines: {errors:#?}");
    assert!(stderr.contains("/_refused/{status}"), "the refusals are in the access log: {stderr}");
    drop(pg);
    let _ = std::fs::remove_dir_all(dir);
});

#[test]
fn admins_and_admin_api_clients_are_made_from_the_command_line() {
    let dir = temp();
    let out =
        ostiary(&dir).args(["client", "create", "--name", "Ops scripts", "--admin-api", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(created["client_id"].is_string() && created["client_secret"].as_str().unwrap().len() >= 43);
    let out = ostiary(&dir).args(["client", "list", "--json"]).output().unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["settings"]["admin_api"], true);
    // An admin API client proves itself with a secret; other clients still need a redirect URI.
    let out = ostiary(&dir).args(["client", "create", "--name", "Bad", "--admin-api", "--public"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("confidential"));
    let out = ostiary(&dir).args(["client", "create", "--name", "Shop"]).output().unwrap();
    assert!(!out.status.success(), "a redirect URI is required");

    let out =
        ostiary(&dir).args(["user", "create", "--email", "root@example.com", "--admin", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(admin["is_admin"], true);
    let out =
        ostiary(&dir).args(["user", "update", "root@example.com", "--admin", "false", "--json"]).output().unwrap();
    let updated: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(updated["is_admin"], false);
    let out = ostiary(&dir).args(["user", "create", "--email", "ann@example.com", "--json"]).output().unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["is_admin"], false);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn logs_to_a_file_or_a_pipe_carry_no_colour_codes() {
    let dir = temp();
    let out = ostiary(&dir)
        .env("OSTIARY__SERVER__LOG", "info")
        .args(["user", "create", "--email", "plain@example.com"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("applied database migrations"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI escapes in a log that is not a terminal: {stderr:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// On PostgreSQL, libpq opens TLS sessions with OpenSSL, whose exit handler crashed a command
/// that ended while the pool was opening a spare connection (1 run in 25 here). None may.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_on_postgres_end_cleanly_every_time() {
    let database = testkit::PostgresDatabase::create().await;
    let dir = temp();
    let run = |args: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::from(ostiary(&dir));
        cmd.env("OSTIARY__DATABASE__URL", &database.url).args(args).output()
    };
    let made = run(&["client", "create", "--name", "Shop", "--admin-api", "--json"]).await.unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    for _ in 0..16 {
        let runs = (0..6).map(|_| run(&["client", "list", "--json"]));
        for out in futures_util::future::join_all(runs).await {
            let out = out.unwrap();
            assert!(out.status.success(), "{} {}", out.status, String::from_utf8_lossy(&out.stderr));
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

//! The real `ostiary` binary, started, killed with SIGKILL and started again on the same port,
//! data directory (its generated master key) and database.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// Where the durable state lives.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    /// A fresh PostgreSQL database, with Redis counters when `OSTIARY_TEST_REDIS_URL` is set.
    Postgres,
}

pub struct Server {
    /// The issuer: `http://127.0.0.1:PORT`, the same across restarts.
    pub base: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
    /// Dropped (the database with it) after the server.
    _database: Option<testkit::PostgresDatabase>,
}

/// A port below Linux's ephemeral range (32768–60999): no other test's port-0 listener and no
/// outgoing connection can take it while this server is down between a kill and its restart.
fn port_outside_ephemeral_range() -> u16 {
    loop {
        let port = rand::random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The limits stay out of the way of one IP signing in thousands of times; each code reused on
/// purpose counts as a failure.
const UNLIMITED: [&str; 9] = [
    "PASSWORDLESS__LIMITS__STARTS_PER_IP_PER_HOUR",
    "PASSWORDLESS__LIMITS__SENDS_PER_DESTINATION_PER_MINUTE",
    "PASSWORDLESS__LIMITS__SENDS_PER_DESTINATION_PER_HOUR",
    "PASSWORDLESS__LIMITS__FAILURES_PER_IP_PER_ACCOUNT",
    "PASSWORDLESS__LIMITS__FAILURES_PER_IP_PER_DAY",
    "PASSWORDLESS__LIMITS__GLOBAL_FAILURES_PER_HOUR",
    "PASSWORDLESS__SMS__SENDS_PER_PREFIX_PER_HOUR",
    "OIDC__INTERACTIONS_PER_IP_PER_HOUR",
    "STEP_UP__MAX_FAILURES_PER_HOUR",
];

impl Server {
    /// A data directory, a database and a port; nothing runs yet.
    pub async fn prepare(backend: Backend) -> Server {
        let dir = std::env::temp_dir().join(format!("ostiary-faults-{}", domain::secret::random_token(9)));
        std::fs::create_dir_all(&dir).unwrap();
        let port = port_outside_ephemeral_range();
        let base = format!("http://127.0.0.1:{port}");
        let mut env: Vec<(String, String)> = vec![
            ("SERVER__BIND".into(), format!("127.0.0.1:{port}")),
            ("SERVER__ISSUER".into(), base.clone()),
            ("SERVER__DATA_DIR".into(), dir.join("data").display().to_string()),
            // Warnings, and each retry the reuse leeway let through (counted in the summary).
            ("SERVER__LOG".into(), "warn,authorization_server::token::refresh=info".into()),
            ("DEMO__ENABLED".into(), "false".into()),
            // New-sign-in emails would crowd the codes out of the outbox.
            ("STEP_UP__NOTIFY_NEW_SIGN_INS".into(), "false".into()),
        ];
        env.extend(UNLIMITED.iter().map(|key| ((*key).to_owned(), "1000000".to_owned())));
        let mut database = None;
        match backend {
            Backend::Sqlite => env.push(("DATABASE__URL".into(), dir.join("ostiary.db").display().to_string())),
            Backend::Postgres => {
                let created = testkit::PostgresDatabase::create().await;
                env.push(("DATABASE__URL".into(), created.url.clone()));
                database = Some(created);
                if let Some(redis) = testkit::redis_url() {
                    env.push(("REDIS__URL".into(), redis));
                    let prefix = format!("ostiary-faults-{}", domain::secret::random_token(9));
                    env.push(("REDIS__KEY_PREFIX".into(), prefix));
                }
            }
        }
        Server { base, dir, env, child: None, _database: database }
    }

    fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_ostiary"));
        cmd.current_dir(&self.dir).env_remove("RUST_LOG").kill_on_drop(true);
        for (key, value) in &self.env {
            cmd.env(format!("OSTIARY__{key}"), value);
        }
        cmd
    }

    /// `ostiary ARGS --json` against the same database and master key: its JSON answer.
    pub async fn cli(&self, args: &[&str]) -> Value {
        let out = self.command().args(args).arg("--json").output().await.unwrap();
        assert!(out.status.success(), "ostiary {args:?} ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Starts `ostiary serve` and waits for `/healthz`. Its log lines are appended to one file.
    pub async fn start(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let mut child = self.command().arg("serve").stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        let url = format!("{}/healthz", self.base);
        for _ in 0..1500 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the server exited at start ({status}):\n{}", self.log_tail());
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                self.child = Some(child);
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the server did not answer /healthz within 30 s:\n{}", self.log_tail());
    }

    /// SIGKILL: no shutdown, no flush, no goodbye.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("a running server");
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "killed, not exited: {status}");
    }

    /// What every run of the server logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// The last lines the server logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        format!("{} (kept):\n{}", self.dir.display(), lines[lines.len().saturating_sub(40)..].join("\n"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

//! The servers under load, as child processes: `ostiary serve` with a configuration written for
//! the run (a fresh database, limits out of the way, email through the fake SendGrid), and
//! node-oidc-provider. Both are pinned to one core with `taskset` when it exists.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use tokio::io::AsyncBufReadExt;

use crate::fake_sendgrid::{API_KEY, FakeSendGrid};
use crate::flows::REDIRECT_URI;

/// Where a run keeps its data.
pub enum Backend {
    Sqlite,
    /// A new database on this PostgreSQL server, and Redis for the counters.
    Postgres {
        admin_url: String,
        redis_url: String,
    },
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres+redis",
        }
    }
}

/// A server child process; killed when dropped.
pub struct Child {
    pub process: tokio::process::Child,
    pub pid: u32,
    pub base: String,
}

/// A running `ostiary serve` and the confidential client registered for the run.
pub struct Ostiary {
    pub child: Child,
    pub client: (String, String),
    dir: PathBuf,
    database: Option<PostgresDatabase>,
}

/// A `Command` for `program`, pinned to `cpu` with taskset when asked and available.
fn pinned(program: &Path, cpu: Option<&str>) -> tokio::process::Command {
    match cpu.filter(|_| which("taskset")) {
        Some(cpu) => {
            let mut cmd = tokio::process::Command::new("taskset");
            cmd.args(["-c", cpu]).arg(program);
            cmd
        }
        None => tokio::process::Command::new(program),
    }
}

pub fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Clears what the caller's environment could change in the child's configuration.
fn clean_env(cmd: &mut tokio::process::Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("OSTIARY__") || k == "RUST_LOG") {
            cmd.env_remove(key);
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A TOML string: JSON's escapes are TOML's.
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// The configuration of a run: the defaults, but a fresh database, the demo off, email through
/// the fake SendGrid, and every per-IP and per-address limit far above what a run does (all the
/// virtual users share one IP).
fn config(port: u16, dir: &Path, database_url: &str, redis: Option<&str>, fake: &FakeSendGrid) -> String {
    let redis = match redis {
        Some(url) => format!(
            "url = {}\nkey_prefix = {}",
            quoted(url),
            quoted(&format!("ostiary-bench-{}", domain::secret::random_token(6)))
        ),
        None => String::new(),
    };
    format!(
        r#"[server]
profile = "development"
bind = "127.0.0.1:{port}"
issuer = "http://127.0.0.1:{port}"
data_dir = {data}
log = "warn"

[database]
url = {database}

[redis]
{redis}

[oidc]
interactions_per_ip_per_hour = 1000000000

[passwordless.limits]
starts_per_ip_per_hour = 1000000000
sends_per_destination_per_minute = 1000000000
sends_per_destination_per_hour = 1000000000
failures_per_ip_per_account = 1000000000
failures_per_ip_per_day = 1000000000
global_failures_per_hour = 1000000000

[step_up]
max_failures_per_hour = 1000000000

[delivery]
email = ["sendgrid"]
email_from = "Ostiary Bench <login@example.com>"

[delivery.sendgrid]
api_key = {key}
base_url = {fake}

[demo]
enabled = false
"#,
        data = quoted(&dir.join("data").display().to_string()),
        database = quoted(database_url),
        key = quoted(API_KEY),
        fake = quoted(&fake.base),
    )
}

impl Ostiary {
    pub async fn start(
        binary: &Path,
        backend: &Backend,
        fake: &FakeSendGrid,
        cpu: Option<&str>,
        id_token_alg: &str,
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("ostiary-bench-{}", domain::secret::random_token(6)));
        std::fs::create_dir_all(&dir)?;
        let (database, database_url, redis) = match backend {
            Backend::Sqlite => (None, dir.join("ostiary.db").display().to_string(), None),
            Backend::Postgres { admin_url, redis_url } => {
                let created = PostgresDatabase::create(admin_url).await?;
                let url = created.url.clone();
                (Some(created), url, Some(redis_url.as_str()))
            }
        };
        let port = free_port()?;
        let config_file = dir.join("bench.toml");
        std::fs::write(&config_file, config(port, &dir, &database_url, redis, fake))?;
        let client = create_client(binary, &config_file, id_token_alg).await?;
        let mut cmd = pinned(binary, cpu);
        clean_env(&mut cmd);
        cmd.arg("--config").arg(&config_file).arg("serve").kill_on_drop(true);
        cmd.stdout(Stdio::null()).stderr(std::fs::File::create(dir.join("server.log"))?);
        let process = cmd.spawn().with_context(|| format!("start {}", binary.display()))?;
        let pid = process.id().ok_or_else(|| anyhow!("the server exited at once"))?;
        let mut child = Child { process, pid, base: format!("http://127.0.0.1:{port}") };
        if let Err(e) = wait_until_serving(&mut child).await {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            bail!("{e:#}\n{}", log.lines().rev().take(20).collect::<Vec<_>>().join("\n"));
        }
        Ok(Ostiary { child, client, dir, database })
    }

    /// Stops the server, drops the run's database and removes its files.
    pub async fn stop(mut self) {
        let _ = self.child.process.kill().await;
        if let Some(database) = self.database.take() {
            database.drop_database().await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `ostiary client create`: a confidential client whose code exchanges always bring a refresh token,
/// its ID tokens signed with `id_token_alg`.
async fn create_client(binary: &Path, config_file: &Path, id_token_alg: &str) -> anyhow::Result<(String, String)> {
    let mut cmd = tokio::process::Command::new(binary);
    clean_env(&mut cmd);
    cmd.arg("--config").arg(config_file);
    cmd.args(["client", "create", "--name", "Bench", "--redirect-uri", REDIRECT_URI, "--refresh-tokens", "always"]);
    cmd.args(["--id-token-alg", id_token_alg]);
    let out = cmd.arg("--json").output().await.with_context(|| format!("run {}", binary.display()))?;
    if !out.status.success() {
        bail!("ostiary client create failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).context("client create --json")?;
    let field = |k: &str| created[k].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no {k} in {created}"));
    Ok((field("client_id")?, field("client_secret")?))
}

/// Polls discovery until it answers (60 s at most), failing early if the process ends.
async fn wait_until_serving(child: &mut Child) -> anyhow::Result<()> {
    let api = crate::http::api_client()?;
    let url = format!("{}/.well-known/openid-configuration", child.base);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = child.process.try_wait()? {
            bail!("the server exited: {status}");
        }
        if api.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the server did not answer {url} within 60 s")
}

/// node-oidc-provider (`bench/peer/server.mjs`), which prints its issuer on its first line.
pub async fn start_peer(script: &Path, secret: &str, cpu: Option<&str>, id_token_alg: &str) -> anyhow::Result<Child> {
    let mut cmd = pinned(Path::new("node"), cpu);
    cmd.arg(script).env("NODE_ENV", "production").env("PEER_CLIENT_SECRET", secret);
    cmd.env("PEER_ID_TOKEN_ALG", id_token_alg);
    cmd.env("PEER_REDIRECT_URI", REDIRECT_URI).kill_on_drop(true);
    let mut process = cmd.stdout(Stdio::piped()).spawn().context("start node")?;
    let pid = process.id().ok_or_else(|| anyhow!("node exited at once"))?;
    let stdout = process.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| anyhow!("node-oidc-provider did not start within 30 s"))??
        .ok_or_else(|| anyhow!("node-oidc-provider exited (was `npm ci` run in bench/peer?)"))?;
    let base = first.trim().strip_prefix("issuer ").ok_or_else(|| anyhow!("unexpected first line {first:?}"))?;
    // Keep reading so that node never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Child { process, pid, base: base.to_owned() })
}

/// A throwaway database on the PostgreSQL server of `admin_url`.
struct PostgresDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PostgresDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("ostiary_bench_{}", domain::secret::random_token(6).to_lowercase().replace(['-', '_'], "x"));
        let mut url = url::Url::parse(admin_url).context("--postgres is not a URL")?;
        url.set_path(&format!("/{name}"));
        let database = PostgresDatabase { admin_url: admin_url.to_owned(), name, url: url.to_string() };
        database.execute(format!("CREATE DATABASE {}", database.name)).await?;
        Ok(database)
    }

    async fn drop_database(self) {
        let _ = self.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).await;
    }

    async fn execute(&self, sql: String) -> anyhow::Result<()> {
        let admin = self.admin_url.clone();
        tokio::task::spawn_blocking(move || {
            use diesel::{Connection, RunQueryDsl};
            let mut conn = diesel::PgConnection::establish(&admin).context("connect to --postgres")?;
            diesel::sql_query(&sql).execute(&mut conn).with_context(|| sql.clone())?;
            anyhow::Ok(())
        })
        .await?
    }
}

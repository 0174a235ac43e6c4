//! A PostgreSQL cluster and a Redis of a test's own, on free ports, that the test may stop and
//! start again (outages). The shared servers of `OSTIARY_TEST_DATABASE_URL` and
//! `OSTIARY_TEST_REDIS_URL` are never stopped; these are. Both are removed when dropped.
//!
//! PostgreSQL refuses to run as root: as root (CI), `initdb` and `pg_ctl` run as the `postgres`
//! user, as `scripts/with-test-services.sh` does.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

fn throwaway_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ostiary-{what}-{}", domain::secret::random_token(9)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits (up to 10 s) until something accepts connections on `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` of the test's own: nothing saved to disk.
pub struct ThrowawayRedis {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl ThrowawayRedis {
    pub fn start() -> Self {
        let mut redis = ThrowawayRedis { port: free_port(), dir: throwaway_dir("redis"), child: None };
        redis.start_again();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, and waits until it listens.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "Redis is already running");
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port, "--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test-deps.sh)");
        self.child = Some(child);
        wait_for_port(self.port, "redis-server");
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of the test's own (`initdb` into a temporary directory, trust
/// authentication, user `postgres`), listening on 127.0.0.1 only.
pub struct ThrowawayPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    running: bool,
}

impl ThrowawayPostgres {
    pub fn start() -> Self {
        let bin = postgres_bin_dir();
        let dir = throwaway_dir("pg");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        if is_root() {
            let chown = Command::new("chown").args(["-R", "postgres"]).arg(&dir).status().expect("chown");
            assert!(chown.success(), "chown {} to postgres", dir.display());
        }
        let mut pg = ThrowawayPostgres { port: free_port(), dir, bin, running: false };
        let data = pg.data().display().to_string();
        pg.run("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        pg.start_again();
        pg
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`pg_ctl -m immediate`, as a crash would): open connections break.
    pub fn stop(&mut self) {
        if self.running {
            let data = self.data().display().to_string();
            self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
            self.running = false;
        }
    }

    /// Starts the server again on the same port and waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(!self.running, "PostgreSQL is already running");
        let data = self.data().display().to_string();
        let log = self.dir.join("pg.log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100",
            self.port,
            self.dir.display()
        );
        self.run("pg_ctl", &["-D", &data, "-w", "-l", &log, "-o", &options, "start"]);
        self.running = true;
        wait_for_port(self.port, "PostgreSQL");
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Runs one of PostgreSQL's programs, as `postgres` when we are root.
    fn run(&self, program: &str, args: &[&str]) {
        let path = self.bin.join(program);
        let mut cmd = if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(&path);
            cmd
        } else {
            Command::new(&path)
        };
        let out = cmd.args(args).stdin(Stdio::null()).output().expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{program} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("pg.log")).unwrap_or_default()
        );
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.data().display().to_string();
            // Never panic in drop: a failed stop leaves a process the directory's removal ends.
            let path = self.bin.join("pg_ctl");
            let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
            let _ = if is_root() {
                Command::new("runuser").args(["-u", "postgres", "--"]).arg(&path).args(args).output()
            } else {
                Command::new(&path).args(args).output()
            };
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// Where `initdb` and `pg_ctl` are: beside `initdb` on the `PATH`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn postgres_bin_dir() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    if let Some(dir) = on_path {
        return dir;
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path().join("bin"))).collect())
        .unwrap_or_default();
    versions.retain(|dir| Path::new(&dir.join("initdb")).is_file());
    versions.sort_by_key(|dir| {
        let version = dir.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse().ok());
        version.unwrap_or(0u32)
    });
    versions.pop().expect("PostgreSQL's initdb is installed (scripts/test-deps.sh)")
}

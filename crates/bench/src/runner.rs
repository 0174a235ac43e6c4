//! The closed loop: C virtual users share a fixed number of operations; each starts its next one
//! as soon as the last one ended (or, paced, at its scheduled time). The server's CPU time is read
//! from /proc before and after.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;

use crate::documents::Documents;
use crate::flows::{self, Target, Tokens};
use crate::http::Recorder;
use crate::procfs;
use crate::stats::Summary;

/// An operation under load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The whole sign-in: authorize, pages, (email code, step-up,) resume, code exchange.
    SignIn,
    /// One refresh grant of a rotating chain.
    Refresh,
    ClientCredentials,
    Introspection,
    Userinfo,
    Discovery,
    Jwks,
}

impl Op {
    pub const ALL: [Op; 7] =
        [Op::Discovery, Op::Jwks, Op::ClientCredentials, Op::SignIn, Op::Refresh, Op::Introspection, Op::Userinfo];

    pub fn name(self) -> &'static str {
        match self {
            Op::SignIn => "sign_in",
            Op::Refresh => "refresh",
            Op::ClientCredentials => "client_credentials",
            Op::Introspection => "introspection",
            Op::Userinfo => "userinfo",
            Op::Discovery => "discovery",
            Op::Jwks => "jwks",
        }
    }

    /// Whether each virtual user needs a signed-in user's tokens first.
    pub fn needs_tokens(self) -> bool {
        matches!(self, Op::Refresh | Op::Introspection | Op::Userinfo)
    }
}

/// Reads the CPU time of the server process, and of the database processes beside it.
pub struct Meter {
    pub pid: u32,
    pub ticks_per_second: u64,
    /// Process names whose CPU is the database's (`postgres`, `redis-server`); empty for SQLite.
    pub database_processes: Vec<&'static str>,
}

/// CPU times at one moment: the server's, the database's, this driver's, the whole machine's.
#[derive(Clone, Copy)]
struct Reading {
    server: Duration,
    database: Duration,
    driver: Duration,
    machine: Duration,
}

impl Meter {
    fn read(&self) -> anyhow::Result<Reading> {
        let ticks = self.ticks_per_second;
        let server = procfs::cpu_time(self.pid, ticks)?;
        let database = if self.database_processes.is_empty() {
            Duration::ZERO
        } else {
            procfs::cpu_time_of_named(&self.database_processes, ticks)
        };
        let driver = procfs::cpu_time(std::process::id(), ticks)?;
        Ok(Reading { server, database, driver, machine: procfs::machine_busy_time(ticks) })
    }
}

impl Reading {
    /// Seconds of CPU between two readings: server, database, and everything else on the machine
    /// but this driver (other processes: a build, tests; ideally about zero).
    fn since(&self, before: &Reading) -> (f64, f64, f64) {
        let d = |a: Duration, b: Duration| a.saturating_sub(b).as_secs_f64();
        let (server, database) = (d(self.server, before.server), d(self.database, before.database));
        let all = d(self.machine, before.machine);
        (server, database, (all - server - database - d(self.driver, before.driver)).max(0.0))
    }
}

/// One load: an operation, its concurrency and its total of operations; paced at `rate` per
/// second (evenly spaced starts) when set.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub op: Op,
    pub concurrency: usize,
    pub ops: usize,
    pub rate: Option<f64>,
}

/// Every figure of one load.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Measured {
    pub op: Op,
    pub concurrency: usize,
    pub ops: usize,
    pub errors: usize,
    pub error_samples: Vec<String>,
    /// The pace asked for (half of the peak), for a paced load.
    pub target_rate: Option<f64>,
    pub wall_seconds: f64,
    pub ops_per_second: f64,
    pub server_cpu_seconds: f64,
    /// Operations per second of the server's CPU time: the cost of one operation, inverted.
    pub ops_per_server_cpu_second: f64,
    /// The CPU time of the PostgreSQL and Redis processes over the same time (0 on SQLite).
    pub database_cpu_seconds: f64,
    /// The CPU time every other process on the machine used meanwhile (not the server, the
    /// database or this driver): more than a little means the figures are disturbed.
    pub other_cpu_seconds: f64,
    pub requests: Summary,
    pub operations: Summary,
    /// The requests of each step, for operations of several steps (sign_in), in their order.
    pub steps: Vec<(&'static str, Summary)>,
}

/// A virtual user: its API client, its tokens, what it measured.
struct Vu {
    api: reqwest::Client,
    tokens: Option<Tokens>,
    rec: Recorder,
    operations: Vec<Duration>,
    errors: usize,
    error_samples: Vec<String>,
    /// The connection and last document of the discovery and JWKS loads.
    documents: Documents,
}

pub async fn run(target: &Arc<Target>, load: Load, pool: &mut [Tokens], meter: &Meter) -> anyhow::Result<Measured> {
    if load.op.needs_tokens() && pool.len() < load.concurrency {
        return Err(anyhow!("{}: {} token sets for {} users", load.op.name(), pool.len(), load.concurrency));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let before = meter.read()?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(load.concurrency);
    for i in 0..load.concurrency {
        let vu = Vu {
            api: crate::http::api_client()?,
            tokens: pool.get(i).cloned(),
            rec: Recorder::default(),
            operations: Vec::new(),
            errors: 0,
            error_samples: Vec::new(),
            documents: Documents::default(),
        };
        tasks.push(tokio::spawn(vu_loop(Arc::clone(target), load, vu, Arc::clone(&next), started)));
    }
    let mut vus = Vec::with_capacity(tasks.len());
    for task in tasks {
        vus.push(task.await?);
    }
    let wall = started.elapsed();
    let (server_cpu, database_cpu, other_cpu) = meter.read()?.since(&before);
    for (slot, vu) in pool.iter_mut().zip(&vus) {
        if let Some(tokens) = &vu.tokens {
            slot.clone_from(tokens);
        }
    }
    let ops = load.ops;
    Ok(Measured {
        op: load.op,
        concurrency: load.concurrency,
        ops,
        errors: vus.iter().map(|v| v.errors).sum(),
        error_samples: vus.iter().flat_map(|v| v.error_samples.clone()).take(5).collect(),
        target_rate: load.rate,
        wall_seconds: wall.as_secs_f64(),
        ops_per_second: ops as f64 / wall.as_secs_f64(),
        server_cpu_seconds: server_cpu,
        ops_per_server_cpu_second: if server_cpu > 0.0 { ops as f64 / server_cpu } else { f64::INFINITY },
        database_cpu_seconds: database_cpu,
        other_cpu_seconds: other_cpu,
        operations: Summary::of(vus.iter_mut().flat_map(|v| std::mem::take(&mut v.operations)).collect()),
        requests: Summary::of(vus.iter().flat_map(|v| v.rec.requests.iter().map(|(_, d)| *d)).collect()),
        steps: steps(vus.into_iter().flat_map(|v| v.rec.requests).collect()),
    })
}

/// The requests grouped by step, in the order steps first appear; empty for a one-step operation.
fn steps(requests: Vec<(&'static str, Duration)>) -> Vec<(&'static str, Summary)> {
    let mut names: Vec<&'static str> = Vec::new();
    for (name, _) in &requests {
        if !names.contains(name) {
            names.push(name);
        }
    }
    if names.len() < 2 {
        return Vec::new();
    }
    let summary = |name| Summary::of(requests.iter().filter(|(n, _)| *n == name).map(|(_, d)| *d).collect());
    names.into_iter().map(|name| (name, summary(name))).collect()
}

async fn vu_loop(target: Arc<Target>, load: Load, mut vu: Vu, next: Arc<AtomicUsize>, started: Instant) -> Vu {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= load.ops {
            return vu;
        }
        if let Some(rate) = load.rate {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
        }
        let began = Instant::now();
        match one(&target, load.op, &mut vu).await {
            Ok(()) => vu.operations.push(began.elapsed()),
            Err(e) => {
                vu.errors += 1;
                if vu.error_samples.len() < 2 {
                    vu.error_samples.push(format!("{e:#}"));
                }
                // A broken refresh chain is started again (untimed), or every later refresh fails.
                if load.op == Op::Refresh {
                    let mut scratch = Recorder::default();
                    vu.tokens = flows::sign_in(&target, &vu.api, &mut scratch).await.ok().or(vu.tokens.take());
                }
            }
        }
    }
}

async fn one(t: &Target, op: Op, vu: &mut Vu) -> anyhow::Result<()> {
    let (api, rec) = (&vu.api, &mut vu.rec);
    let tokens = vu.tokens.as_mut().ok_or_else(|| anyhow!("no tokens"));
    match op {
        Op::SignIn => flows::sign_in(t, api, rec).await.map(|_| ()),
        Op::Refresh => flows::refresh(t, api, rec, tokens?).await,
        Op::ClientCredentials => flows::client_credentials(t, api, rec).await,
        Op::Introspection => flows::introspection(t, api, rec, tokens?).await,
        Op::Userinfo => flows::userinfo(t, api, rec, tokens?).await,
        Op::Discovery => vu.documents.get("discovery", rec, &t.discovery_url()).await,
        Op::Jwks => vu.documents.get("jwks", rec, &t.jwks).await,
    }
}

/// Signs in `count` users, `parallel` at a time, untimed: the tokens the token loads start from.
pub async fn sign_in_users(target: &Arc<Target>, count: usize, parallel: usize) -> anyhow::Result<Vec<Tokens>> {
    let api = crate::http::api_client()?;
    let mut tokens = Vec::with_capacity(count);
    while tokens.len() < count {
        let batch = parallel.min(count - tokens.len());
        let tasks: Vec<_> = (0..batch)
            .map(|_| {
                let (target, api) = (Arc::clone(target), api.clone());
                tokio::spawn(async move { flows::sign_in(&target, &api, &mut Recorder::default()).await })
            })
            .collect();
        for task in tasks {
            tokens.push(task.await??);
        }
    }
    Ok(tokens)
}

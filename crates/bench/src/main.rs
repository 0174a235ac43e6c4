//! `ostiary-bench`: starts an `ostiary serve` (pinned to one core), drives closed-loop loads of
//! each operation at several concurrencies from this process, and reports operations per second
//! of the server's CPU time, latency percentiles and memory. With `--peer`, does the same against
//! node-oidc-provider and prints the ratios. See docs/performance.md.
#![forbid(unsafe_code)]

mod documents;
mod fake_sendgrid;
mod flows;
mod http;
mod procfs;
mod report;
mod runner;
mod server;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;

use crate::fake_sendgrid::FakeSendGrid;
use crate::flows::{Kind, Target};
use crate::report::TargetReport;
use crate::runner::{Load, Meter, Op};
use crate::server::{Backend, Ostiary};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
#[command(name = "ostiary-bench", about = "Load generator for Ostiary (and node-oidc-provider, with --peer)")]
struct Args {
    /// The ostiary binary to start.
    #[arg(long, default_value = "target/release/ostiary")]
    server: PathBuf,
    /// sqlite (a fresh file), or postgres (a fresh database on --postgres, counters in --redis).
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendArg,
    /// A PostgreSQL server URL on which a database may be created (and is dropped afterwards).
    #[arg(long, env = "OSTIARY_TEST_DATABASE_URL")]
    postgres: Option<String>,
    /// A Redis URL (keys get a prefix of their own).
    #[arg(long, env = "OSTIARY_TEST_REDIS_URL")]
    redis: Option<String>,
    /// Operations per load, for every operation but sign_in (discovery and jwks: thirty times this).
    #[arg(long, default_value_t = 3000)]
    ops: usize,
    /// Sign-ins per load.
    #[arg(long, default_value_t = 600)]
    sign_in_ops: usize,
    /// Concurrencies (virtual users) to run each operation at.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
    concurrency: Vec<usize>,
    /// Only these operations (default: all; with --peer: sign_in, refresh, discovery, jwks).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Op>,
    /// Skip the paced load at half of each operation's peak.
    #[arg(long)]
    no_half_peak: bool,
    /// Also run node-oidc-provider (this script, e.g. bench/peer/server.mjs) and print the ratios.
    #[arg(long)]
    peer: Option<PathBuf>,
    /// The CPU list the servers are pinned to (taskset -c); empty: not pinned.
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// Write every figure here as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The benchmark client's ID token algorithm (RS256, ES256 or EdDSA), for Ostiary and the peer
    /// alike. ES256 is what a new client should choose; RS256 costs about 0.7 ms of CPU per token.
    #[arg(long, default_value = "ES256")]
    id_token_alg: String,
}

/// The operations node-oidc-provider is compared on (its sign-in is its code flow).
const PEER_OPS: [Op; 4] = [Op::SignIn, Op::Refresh, Op::Discovery, Op::Jwks];

/// What each server is put through.
struct Plan {
    ops: Vec<Op>,
    concurrency: Vec<usize>,
    ops_per_load: usize,
    sign_in_ops: usize,
    half_peak: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        bail!("--concurrency: give positive numbers, e.g. 1,4,16,64");
    }
    let mut ops = if args.only.is_empty() && args.peer.is_some() {
        PEER_OPS.to_vec()
    } else if args.only.is_empty() {
        Op::ALL.to_vec()
    } else {
        args.only.clone()
    };
    ops.sort_by_key(|op| Op::ALL.iter().position(|o| o == op));
    ops.dedup();
    let plan = Plan {
        ops,
        concurrency: args.concurrency.clone(),
        ops_per_load: args.ops,
        sign_in_ops: args.sign_in_ops,
        half_peak: !args.no_half_peak,
    };
    let cpu = Some(args.server_cpus.as_str()).filter(|c| !c.is_empty());
    let backend = match args.backend {
        BackendArg::Sqlite => Backend::Sqlite,
        BackendArg::Postgres => Backend::Postgres {
            admin_url: args.postgres.clone().context("--backend postgres needs --postgres URL")?,
            redis_url: args.redis.clone().context("--backend postgres needs --redis URL")?,
        },
    };
    let pinning = match cpu.filter(|_| server::which("taskset")) {
        Some(cpu) => format!("pinned to CPU {cpu}"),
        None => "not pinned".to_owned(),
    };
    println!("ostiary-bench: {} on {}, server {pinning}", args.server.display(), backend.name());
    let ticks = procfs::clock_ticks_per_second();
    let alg = args.id_token_alg.as_str();
    let mut reports = vec![bench_ostiary(&args.server, &backend, cpu, ticks, &plan, alg).await?];
    if let Some(script) = &args.peer {
        reports.push(bench_peer(script, cpu, ticks, &plan, alg).await?);
    }
    let ratios = match reports.as_slice() {
        [ostiary, peer] => {
            let lines = report::ratios(ostiary, peer);
            print!("{}", report::ratio_table(&ostiary.name, &peer.name, &lines));
            lines
        }
        _ => Vec::new(),
    };
    if let Some(path) = &args.json {
        let json = serde_json::json!({
            "machine": report::machine(),
            "pinning": pinning,
            "clock_ticks_per_second": ticks,
            "ops_per_load": plan.ops_per_load,
            "sign_in_ops_per_load": plan.sign_in_ops,
            "concurrency": plan.concurrency,
            "id_token_alg": alg,
            "targets": reports,
            "ratios": ratios,
        });
        std::fs::write(path, serde_json::to_string_pretty(&json)?).with_context(|| format!("{}", path.display()))?;
        println!("\nEvery figure is in {}", path.display());
    }
    Ok(())
}

async fn bench_ostiary(
    binary: &std::path::Path,
    backend: &Backend,
    cpu: Option<&str>,
    ticks: u64,
    plan: &Plan,
    id_token_alg: &str,
) -> anyhow::Result<TargetReport> {
    let fake = FakeSendGrid::start().await?;
    let server = Ostiary::start(binary, backend, &fake, cpu, id_token_alg).await?;
    let name = format!("ostiary ({})", backend.name());
    let kind = Kind::Ostiary(fake.clone());
    let result = async {
        let target = Arc::new(Target::discover(&name, kind, &server.child.base, server.client.clone()).await?);
        let database_processes =
            if matches!(backend, Backend::Postgres { .. }) { vec!["postgres", "redis-server"] } else { Vec::new() };
        let meter = Meter { pid: server.child.pid, ticks_per_second: ticks, database_processes };
        bench_target(&target, &meter, plan).await
    }
    .await;
    server.stop().await;
    let mut report = result?;
    (report.emails_received, report.emails_unclaimed) = fake.counts();
    let postgres = matches!(backend, Backend::Postgres { .. });
    print!("{}{}", report::summary(&report), report::goals(&report, postgres));
    Ok(report)
}

async fn bench_peer(
    script: &std::path::Path,
    cpu: Option<&str>,
    ticks: u64,
    plan: &Plan,
    id_token_alg: &str,
) -> anyhow::Result<TargetReport> {
    let secret = domain::secret::random_token(32);
    let mut peer = server::start_peer(script, &secret, cpu, id_token_alg).await?;
    let name = "node-oidc-provider";
    let result = async {
        let client = ("ostiary-bench".to_owned(), secret.clone());
        let target = Arc::new(Target::discover(name, Kind::Peer, &peer.base, client).await?);
        let meter = Meter { pid: peer.pid, ticks_per_second: ticks, database_processes: Vec::new() };
        let peer_plan = Plan {
            ops: plan.ops.iter().copied().filter(|op| PEER_OPS.contains(op)).collect(),
            concurrency: plan.concurrency.clone(),
            ..*plan
        };
        bench_target(&target, &meter, &peer_plan).await
    }
    .await;
    let _ = peer.process.kill().await;
    let report = result?;
    print!("{}", report::summary(&report));
    Ok(report)
}

/// Every load of the plan on one server, in order; its memory before and after.
async fn bench_target(target: &Arc<Target>, meter: &Meter, plan: &Plan) -> anyhow::Result<TargetReport> {
    let idle = procfs::memory(meter.pid)?;
    let most = plan.concurrency.iter().copied().max().unwrap_or(1);
    println!("\n{} (pid {}, idle RSS {:.1} MiB)", target.name, meter.pid, idle.rss_kib as f64 / 1024.0);
    let mut pool = if plan.ops.iter().any(|op| op.needs_tokens()) {
        runner::sign_in_users(target, most, 8).await.context("signing in the users of the token loads")?
    } else {
        Vec::new()
    };
    println!("{}", report::header());
    let (mut runs, mut half_peak) = (Vec::new(), Vec::new());
    for &op in &plan.ops {
        let ops = match op {
            Op::SignIn => plan.sign_in_ops,
            // Ten to twenty times cheaper than the other API calls: thirty times as many, so that the
            // server's CPU time, counted in 10 ms ticks, is still a few tenths of a second.
            Op::Discovery | Op::Jwks => plan.ops_per_load * 30,
            _ => plan.ops_per_load,
        };
        // Warm-up, not recorded: connections, caches, the first allocations.
        let warm = Load { op, concurrency: most.min(4), ops: (ops / 20).max(8), rate: None };
        runner::run(target, warm, &mut pool, meter).await?;
        for &concurrency in &plan.concurrency {
            let m = runner::run(target, Load { op, concurrency, ops, rate: None }, &mut pool, meter).await?;
            println!("{}", report::row(&m));
            runs.push(m);
        }
        if plan.half_peak {
            let peak = runs.iter().filter(|m| m.op == op).map(|m| m.ops_per_second).fold(0.0, f64::max);
            let load = Load { op, concurrency: most, ops, rate: Some(peak / 2.0) };
            let m = runner::run(target, load, &mut pool, meter).await?;
            println!("{}", report::row(&m));
            half_peak.push(m);
        }
    }
    for m in runs.iter().chain(&half_peak).filter(|m| m.errors > 0) {
        eprintln!("{} at {}: {} errors, e.g. {:?}", m.op.name(), m.concurrency, m.errors, m.error_samples);
    }
    let memory = procfs::memory(meter.pid)?;
    Ok(TargetReport {
        name: target.name.clone(),
        idle_rss_kib: idle.rss_kib,
        peak_rss_kib: memory.peak_rss_kib,
        runs,
        half_peak,
        emails_received: 0,
        emails_unclaimed: 0,
    })
}

//! What a run prints (a table per server, the goals, the ratio to the peer) and writes (`--json`).

use crate::runner::{Measured, Op};

/// Everything measured on one server.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TargetReport {
    pub name: String,
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub runs: Vec<Measured>,
    /// One paced load per operation at half of its peak ops/s, at the highest concurrency.
    pub half_peak: Vec<Measured>,
    /// Emails the fake SendGrid received, and those no virtual user waited for.
    pub emails_received: u64,
    pub emails_unclaimed: u64,
}

impl TargetReport {
    /// The highest ops per server CPU-second of an operation over the concurrencies, with its run.
    pub fn best(&self, op: Op) -> Option<&Measured> {
        self.runs
            .iter()
            .filter(|m| m.op == op)
            .max_by(|a, b| a.ops_per_server_cpu_second.total_cmp(&b.ops_per_server_cpu_second))
    }

    pub fn peak_ops_per_second(&self, op: Op) -> Option<f64> {
        self.runs.iter().filter(|m| m.op == op).map(|m| m.ops_per_second).max_by(f64::total_cmp)
    }

    fn half(&self, op: Op) -> Option<&Measured> {
        self.half_peak.iter().find(|m| m.op == op)
    }
}

pub fn header() -> String {
    format!(
        "{:<18} {:>5} {:>6} {:>5} {:>9} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7}",
        "operation",
        "conc",
        "ops",
        "err",
        "ops/s",
        "srv cpu",
        "ops/cpu-s",
        "req p50",
        "req p99",
        "req max",
        "op p50",
        "op p99",
        "db cpu",
        "other"
    )
}

pub fn row(m: &Measured) -> String {
    let conc = match m.target_rate {
        Some(rate) => format!("{}@{rate:.0}/s", m.concurrency),
        None => m.concurrency.to_string(),
    };
    format!(
        "{:<18} {:>5} {:>6} {:>5} {:>9.1} {:>7.2}s {:>10.1} {:>6.2}ms {:>6.2}ms {:>6.1}ms {:>6.2}ms {:>6.2}ms {:>6.2}s {:>6.2}s",
        m.op.name(),
        conc,
        m.ops,
        m.errors,
        m.ops_per_second,
        m.server_cpu_seconds,
        m.ops_per_server_cpu_second,
        m.requests.p50_ms,
        m.requests.p99_ms,
        m.requests.max_ms,
        m.operations.p50_ms,
        m.operations.p99_ms,
        m.database_cpu_seconds,
        m.other_cpu_seconds,
    )
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Per operation: the best ops per server CPU-second, the peak ops/s, and the p99 at half peak.
pub fn summary(r: &TargetReport) -> String {
    let mut out =
        format!("\n{}: idle RSS {:.1} MiB, peak RSS {:.1} MiB", r.name, mib(r.idle_rss_kib), mib(r.peak_rss_kib));
    if r.emails_received > 0 {
        out += &format!("; {} emails sent, {} unclaimed", r.emails_received, r.emails_unclaimed);
    }
    out += "\n";
    out += &format!(
        "{:<18} {:>14} {:>10} {:>12} {:>16} {:>16}\n",
        "operation", "best ops/cpu-s", "at conc", "peak ops/s", "half-peak req p99", "half-peak op p99"
    );
    for op in Op::ALL {
        let Some(best) = r.best(op) else { continue };
        let half = r.half(op);
        let ms = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.2}ms"));
        out += &format!(
            "{:<18} {:>14.1} {:>10} {:>12.1} {:>16} {:>16}\n",
            op.name(),
            best.ops_per_server_cpu_second,
            best.concurrency,
            r.peak_ops_per_second(op).unwrap_or_default(),
            ms(half.map(|m| m.requests.p99_ms)),
            ms(half.map(|m| m.operations.p99_ms)),
        );
    }
    out + &steps(r)
}

/// The steps of a sign-in one at a time (concurrency 1), where latency is about service time.
fn steps(r: &TargetReport) -> String {
    let Some(run) = r.runs.iter().filter(|m| m.op == Op::SignIn).min_by_key(|m| m.concurrency) else {
        return String::new();
    };
    let steps: Vec<String> =
        run.steps.iter().map(|(name, s)| format!("{name} {:.2}/{:.2}", s.p50_ms, s.p99_ms)).collect();
    format!("sign_in steps at concurrency {}, p50/p99 ms: {}\n", run.concurrency, steps.join(", "))
}

/// The goals, checked on a report (they are set for PostgreSQL + Redis).
pub fn goals(r: &TargetReport) -> String {
    let mut out = String::new();
    if let Some(best) = r.best(Op::SignIn) {
        let verdict = if best.ops_per_server_cpu_second >= 1000.0 { "met" } else { "NOT met" };
        out += &format!(
            "goal ≥ 1,000 sign-ins per server CPU-second: {:.1} ({verdict})\n",
            best.ops_per_server_cpu_second
        );
    }
    for m in &r.half_peak {
        let verdict = if m.requests.p99_ms < 5.0 { "met" } else { "NOT met" };
        out += &format!(
            "goal p99 < 5 ms per request at half of peak load, {}: {:.2} ms ({verdict})\n",
            m.op.name(),
            m.requests.p99_ms
        );
    }
    out
}

/// One line of the comparison with the peer.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ratio {
    pub figure: String,
    pub ostiary: f64,
    pub peer: f64,
    /// ostiary ÷ peer.
    pub ratio: f64,
}

pub fn ratios(ostiary: &TargetReport, peer: &TargetReport) -> Vec<Ratio> {
    let mut lines = Vec::new();
    let mut push = |figure: String, a: f64, b: f64| lines.push(Ratio { figure, ostiary: a, peer: b, ratio: a / b });
    for op in [Op::SignIn, Op::Refresh, Op::Discovery, Op::Jwks] {
        if let (Some(a), Some(b)) = (ostiary.best(op), peer.best(op)) {
            let name = if op == Op::SignIn { "sign_in (code flow)" } else { op.name() };
            push(
                format!("{name}, ops per server CPU-second"),
                a.ops_per_server_cpu_second,
                b.ops_per_server_cpu_second,
            );
        }
    }
    push("idle RSS, MiB".into(), mib(ostiary.idle_rss_kib), mib(peer.idle_rss_kib));
    push("peak RSS, MiB".into(), mib(ostiary.peak_rss_kib), mib(peer.peak_rss_kib));
    lines
}

pub fn ratio_table(ostiary: &str, peer: &str, lines: &[Ratio]) -> String {
    let mut out = format!("\n{:<48} {:>24} {:>20} {:>8}\n", "figure", ostiary, peer, "ratio");
    for l in lines {
        out += &format!("{:<48} {:>24.1} {:>20.1} {:>7.2}x\n", l.figure, l.ostiary, l.peer, l.ratio);
    }
    out
}

/// The machine, from /proc: CPU model, cores, memory, kernel.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let value = |text: &str, key: &str| {
        text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_owned())
    };
    serde_json::json!({
        "cpu": value(&cpuinfo, "model name"),
        "cores": cpuinfo.lines().filter(|l| l.starts_with("processor")).count(),
        "memory": value(&meminfo, "MemTotal"),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}

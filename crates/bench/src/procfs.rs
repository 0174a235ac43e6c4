//! What the kernel says about a process (`/proc/PID/stat` and `/proc/PID/status`, proc(5)): the
//! CPU time it has used and its resident memory.

use std::time::Duration;

use anyhow::{Context, anyhow};

/// Clock ticks per second of the `utime`/`stime` fields (`sysconf(_SC_CLK_TCK)`), read once from
/// `getconf CLK_TCK`; 100, the value on every Linux architecture in use, when that fails.
pub fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|ticks| *ticks > 0)
        .unwrap_or(100)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/PID/stat` line, in ticks. The command name
/// (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are counted
/// from the last `)`.
pub fn cpu_ticks_of_stat(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first, so utime (14) is the 12th.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The command name (field 2) of a `/proc/PID/stat` line.
fn name_of_stat(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// The CPU time process `pid` (all its threads) has used so far.
pub fn cpu_time(pid: u32, ticks_per_second: u64) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid}"))?;
    let ticks = cpu_ticks_of_stat(&stat).ok_or_else(|| anyhow!("unreadable /proc/{pid}/stat"))?;
    Ok(ticks_to_duration(ticks, ticks_per_second))
}

fn ticks_to_duration(ticks: u64, ticks_per_second: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64)
}

/// The CPU time used so far by every process whose name is one of `names` (PostgreSQL's backends,
/// Redis): what the database does for the server, which the server's own CPU time leaves out.
pub fn cpu_time_of_named(names: &[&str], ticks_per_second: u64) -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Duration::ZERO };
    let ticks: u64 = dir
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| name_of_stat(stat).is_some_and(|n| names.contains(&n)))
        .filter_map(|stat| cpu_ticks_of_stat(&stat))
        .sum();
    ticks_to_duration(ticks, ticks_per_second)
}

/// CPU time the whole machine has been busy (every core; `/proc/stat`, its `cpu` line: user, nice,
/// system, irq, softirq and steal), to tell how much of it other processes took during a load.
pub fn machine_busy_time(ticks_per_second: u64) -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    ticks_to_duration(busy_ticks_of_proc_stat(&stat).unwrap_or(0), ticks_per_second)
}

fn busy_ticks_of_proc_stat(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    Some(f.get(..8)?.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum())
}

/// Resident memory now (`VmRSS`) and its high-water mark (`VmHWM`), in KiB.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid}"))?;
    memory_of_status(&status).ok_or_else(|| anyhow!("no VmRSS/VmHWM in /proc/{pid}/status"))
}

fn memory_of_status(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some(Memory { rss_kib: field("VmRSS:")?, peak_rss_kib: field("VmHWM:")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_even_with_parentheses_in_the_name() {
        let stat = "4242 (tokio (w) 1) S 1 4242 4242 0 -1 4194560 2000 0 0 0 731 169 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_ticks_of_stat(stat), Some(900));
        assert_eq!(name_of_stat(stat), Some("tokio (w) 1"));
    }

    #[test]
    fn a_truncated_stat_line_gives_nothing() {
        assert_eq!(cpu_ticks_of_stat("12 (x) S 1 2"), None);
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  100 5 50 9000 70 3 2 10 0 0\ncpu0 50 2 25 4500 35 1 1 5 0 0\n";
        assert_eq!(busy_ticks_of_proc_stat(stat), Some(170));
    }

    #[test]
    fn memory_is_read_from_vmrss_and_vmhwm() {
        let status = "Name:\tostiary\nVmPeak:\t  999 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   18432 kB\n";
        let m = memory_of_status(status).expect("both fields");
        assert_eq!((m.rss_kib, m.peak_rss_kib), (18432, 20480));
    }

    #[test]
    fn this_process_has_used_some_cpu_and_memory() {
        let pid = std::process::id();
        assert!(cpu_time(pid, clock_ticks_per_second()).is_ok());
        assert!(memory(pid).expect("own status").rss_kib > 0);
    }
}

//! Short-lived counters for rate limits: fixed windows, in-process for one node, in Redis (one
//! atomic script per hit, keys expiring with their window) when several nodes share the load.
//! If Redis cannot be reached the limiter says so; callers fail closed and never skip a limit.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};

pub use domain::counters::{CounterError as LimiterError, Counters, Decision};
use redis::aio::ConnectionManager;

pub enum Limiter {
    InProcess(Mutex<Windows>),
    Redis { manager: ConnectionManager, prefix: String },
}

/// The in-process windows: a count and a reset time per key, and every window's end in a min-heap
/// so ended windows are dropped a few at a time as hits arrive. Each hit does at most
/// [`Windows::SWEEP`] removals plus one heap push, however many keys are live: the clean-up never
/// walks the whole map (under millions of keys a full sweep per hit would stall every request).
pub struct Windows {
    counts: HashMap<Arc<str>, (u64, i64)>,
    ends: BinaryHeap<Reverse<(i64, Arc<str>)>>,
    /// Heap entries looked at by the clean-up so far (its whole cost), for tests and metrics.
    swept: u64,
}

impl Windows {
    /// Ended windows dropped per hit at most. Each hit starts at most one window, so the heap is
    /// emptied faster than it fills.
    pub const SWEEP: usize = 8;
    /// Live windows kept at most. Beyond it a new key fails closed, like an unreachable Redis:
    /// the limits are never skipped, and memory stays bounded under a flood of distinct addresses.
    pub const MAX_KEYS: usize = 4_000_000;

    fn new() -> Self {
        Windows { counts: HashMap::new(), ends: BinaryHeap::new(), swept: 0 }
    }

    fn sweep(&mut self, now: i64) {
        for _ in 0..Self::SWEEP {
            match self.ends.peek() {
                Some(Reverse((end, _))) if *end <= now => {}
                _ => break,
            }
            let Some(Reverse((end, key))) = self.ends.pop() else { break };
            self.swept += 1;
            // A window that restarted has a later end in the heap; only the one that ended goes.
            if self.counts.get(&key).is_some_and(|(_, reset)| *reset == end) {
                self.counts.remove(&key);
            }
        }
    }

    fn hit(&mut self, key: &str, window: i64, now: i64) -> Result<(u64, i64), LimiterError> {
        self.sweep(now);
        if let Some(entry) = self.counts.get_mut(key) {
            if entry.1 > now {
                entry.0 += 1;
                return Ok(*entry);
            }
            *entry = (1, now + window);
            let shared: Arc<str> =
                self.counts.get_key_value(key).map(|(k, _)| Arc::clone(k)).unwrap_or_else(|| key.into());
            self.ends.push(Reverse((now + window, shared)));
            return Ok((1, now + window));
        }
        if self.counts.len() >= Self::MAX_KEYS {
            return Err(LimiterError("too many distinct counters in this process".into()));
        }
        let shared: Arc<str> = key.into();
        self.counts.insert(Arc::clone(&shared), (1, now + window));
        self.ends.push(Reverse((now + window, shared)));
        Ok((1, now + window))
    }

    /// Heap entries the clean-up has looked at so far.
    pub fn swept(&self) -> u64 {
        self.swept
    }

    pub fn live(&self) -> usize {
        self.counts.len()
    }
}

/// One hit on a fixed window kept as a hash {n, reset}: the window restarts when the caller's clock
/// passes `reset`, so every node counts by the same clock as its in-process twin (and tests can
/// move a fake clock). The key also expires in real time a minute after its window, for cleanup.
const HIT_SCRIPT: &str = r"
local window = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local reset = tonumber(redis.call('HGET', KEYS[1], 'reset') or '0')
if reset <= now then
  reset = now + window
  redis.call('HSET', KEYS[1], 'n', 0, 'reset', reset)
end
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('EXPIRE', KEYS[1], window + 60)
return {n, reset - now}
";

/// The count and seconds left of a window, counting nothing.
const PEEK_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'n', 'reset')
local reset = tonumber(v[2] or '0')
if reset <= now then return {0, 0} end
return {tonumber(v[1] or '0'), reset - now}
";

impl Limiter {
    pub fn in_process() -> Self {
        Limiter::InProcess(Mutex::new(Windows::new()))
    }

    /// Connects to Redis (`redis://` or `rediss://`), failing at start-up if it does not answer.
    pub async fn redis(url: &str, prefix: &str) -> Result<Self, LimiterError> {
        let client = redis::Client::open(url).map_err(|e| LimiterError(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(std::time::Duration::from_secs(2)))
            .set_number_of_retries(1);
        let manager =
            ConnectionManager::new_with_config(client, config).await.map_err(|e| LimiterError(e.to_string()))?;
        Ok(Limiter::Redis { manager, prefix: prefix.to_owned() })
    }

    /// Whether the counters can be reached now (readiness): Redis answers `PING`.
    pub async fn ping(&self) -> Result<(), LimiterError> {
        match self {
            Limiter::InProcess(_) => Ok(()),
            Limiter::Redis { manager, .. } => {
                let mut conn = manager.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| LimiterError(e.to_string()))
            }
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Limiter::InProcess(_) => "in-process counters (one node)",
            Limiter::Redis { .. } => "Redis counters (shared by all nodes)",
        }
    }
}

/// The Lua scripts, each hashed once (`EVALSHA` by that hash, the source sent only when Redis has
/// not seen it yet).
struct Scripts {
    hit: redis::Script,
    give_back: redis::Script,
    peek: redis::Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: std::sync::OnceLock<Scripts> = std::sync::OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        hit: redis::Script::new(HIT_SCRIPT),
        give_back: redis::Script::new(GIVE_BACK_SCRIPT),
        peek: redis::Script::new(PEEK_SCRIPT),
    })
}

/// Takes back one hit of the current window (never below zero; nothing once the window ended).
const GIVE_BACK_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'n', 'reset')
local reset = tonumber(v[2] or '0')
if reset > now and tonumber(v[1] or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 1
";

#[async_trait::async_trait]
impl Counters for Limiter {
    async fn hit(&self, key: &str, limit: u64, window: u64, now: i64) -> Result<Decision, LimiterError> {
        let window = window.max(1);
        let (count, ttl) = match self {
            Limiter::InProcess(windows) => {
                let mut windows = windows.lock().map_err(|_| LimiterError("counter lock poisoned".into()))?;
                let (count, reset) = windows.hit(key, window as i64, now)?;
                (count, (reset - now).max(1) as u64)
            }
            Limiter::Redis { manager, prefix } => {
                let mut conn = manager.clone();
                let (n, ttl): (u64, i64) = scripts()
                    .hit
                    .key(format!("{prefix}:rl:{key}"))
                    .arg(window)
                    .arg(now)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| LimiterError(e.to_string()))?;
                (n, ttl.max(1) as u64)
            }
        };
        Ok(if count > limit {
            Decision::Limited { retry_after: ttl }
        } else {
            Decision::Allowed { remaining: limit - count }
        })
    }

    async fn give_back(&self, key: &str, now: i64) -> Result<(), LimiterError> {
        match self {
            Limiter::InProcess(windows) => {
                let mut windows = windows.lock().map_err(|_| LimiterError("counter lock poisoned".into()))?;
                if let Some(entry) = windows.counts.get_mut(key).filter(|(n, reset)| *reset > now && *n > 0) {
                    entry.0 -= 1;
                }
                Ok(())
            }
            Limiter::Redis { manager, prefix } => {
                let mut conn = manager.clone();
                let _: i64 = scripts()
                    .give_back
                    .key(format!("{prefix}:rl:{key}"))
                    .arg(now)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| LimiterError(e.to_string()))?;
                Ok(())
            }
        }
    }

    async fn peek(&self, key: &str, now: i64) -> Result<(u64, u64), LimiterError> {
        match self {
            Limiter::InProcess(windows) => {
                let windows = windows.lock().map_err(|_| LimiterError("counter lock poisoned".into()))?;
                Ok(windows
                    .counts
                    .get(key)
                    .filter(|(_, reset)| *reset > now)
                    .map(|(n, reset)| (*n, (reset - now) as u64))
                    .unwrap_or((0, 0)))
            }
            Limiter::Redis { manager, prefix } => {
                let mut conn = manager.clone();
                let (n, left): (u64, i64) = scripts()
                    .peek
                    .key(format!("{prefix}:rl:{key}"))
                    .arg(now)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| LimiterError(e.to_string()))?;
                Ok((n, left.max(0) as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_window_limits_and_resets() {
        let l = Limiter::in_process();
        assert_eq!(l.hit("k", 2, 60, 1000).await.unwrap(), Decision::Allowed { remaining: 1 });
        assert_eq!(l.hit("k", 2, 60, 1001).await.unwrap(), Decision::Allowed { remaining: 0 });
        assert_eq!(l.hit("k", 2, 60, 1010).await.unwrap(), Decision::Limited { retry_after: 50 });
        assert_eq!(l.hit("other", 2, 60, 1010).await.unwrap(), Decision::Allowed { remaining: 1 });
        assert_eq!(l.hit("k", 2, 60, 1060).await.unwrap(), Decision::Allowed { remaining: 1 });
        assert_eq!(l.peek("k", 1061).await.unwrap(), (1, 59));
        assert_eq!(l.peek("k", 1200).await.unwrap(), (0, 0), "the window ended");
        assert_eq!(l.peek("never", 1061).await.unwrap(), (0, 0));
    }

    /// Under a million live keys, each hit's clean-up looks at a bounded number of entries (it
    /// used to walk the whole map on every hit past 100,000 keys), and ended windows still go.
    #[test]
    fn the_clean_up_costs_a_bounded_amount_per_hit_under_a_million_keys() {
        let mut w = Windows::new();
        for i in 0..1_000_000 {
            w.hit(&format!("start:ip:{i}"), 3600, 1000).unwrap();
        }
        assert_eq!(w.swept(), 0, "nothing has ended yet");
        for i in 0..10_000 {
            w.hit(&format!("other:{i}"), 60, 1001).unwrap();
        }
        assert_eq!(w.swept(), 0, "live windows cost nothing to keep");
        // An hour later every window has ended: each hit drops at most SWEEP of them.
        let hits = 20_000;
        for i in 0..hits {
            w.hit(&format!("late:{i}"), 60, 5000).unwrap();
        }
        assert!(w.swept() <= (hits * Windows::SWEEP) as u64, "{}", w.swept());
        assert_eq!(w.swept(), (hits * Windows::SWEEP) as u64, "and that much is cleaned while work remains");
        // Enough hits later, all of the ended windows are gone.
        let before = w.live();
        for i in 0..200_000 {
            w.hit(&format!("later:{}", i % 10), 60, 5000).unwrap();
        }
        assert!(w.live() < before, "{} of {before}", w.live());
    }

    #[test]
    fn a_restarted_window_is_not_dropped_by_its_old_end() {
        let mut w = Windows::new();
        w.hit("k", 60, 1000).unwrap();
        assert_eq!(w.hit("k", 60, 1100).unwrap(), (1, 1160), "a new window");
        w.hit("other", 60, 1101).unwrap();
        assert_eq!(w.hit("k", 60, 1102).unwrap(), (2, 1160), "the old end (1060) did not drop it");
    }
}

//! Short-lived counters for rate limits: fixed windows, in-process for one node, in Redis (one
//! atomic script per hit, keys expiring with their window) when several nodes share the load.
//! If Redis cannot be reached the limiter says so; callers fail closed and never skip a limit.

use std::collections::HashMap;
use std::sync::Mutex;

use redis::aio::ConnectionManager;

/// The verdict for one hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed {
        remaining: u64,
    },
    /// Over the limit; the window resets in `retry_after` seconds.
    Limited {
        retry_after: u64,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("the rate-limit store is unreachable: {0}")]
pub struct LimiterError(String);

pub enum Limiter {
    InProcess(Mutex<HashMap<String, (u64, i64)>>),
    Redis { manager: ConnectionManager, prefix: String },
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
        Limiter::InProcess(Mutex::new(HashMap::new()))
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

    pub fn describe(&self) -> &'static str {
        match self {
            Limiter::InProcess(_) => "in-process counters (one node)",
            Limiter::Redis { .. } => "Redis counters (shared by all nodes)",
        }
    }

    /// Counts one event under `key` in a window of `window` seconds and decides against `limit`.
    pub async fn hit(&self, key: &str, limit: u64, window: u64, now: i64) -> Result<Decision, LimiterError> {
        let window = window.max(1);
        let (count, ttl) = match self {
            Limiter::InProcess(map) => {
                let mut map = map.lock().map_err(|_| LimiterError("counter lock poisoned".into()))?;
                if map.len() > 100_000 {
                    map.retain(|_, (_, reset)| *reset > now);
                }
                let entry = map.entry(key.to_owned()).or_insert((0, now + window as i64));
                if entry.1 <= now {
                    *entry = (0, now + window as i64);
                }
                entry.0 += 1;
                (entry.0, (entry.1 - now).max(1) as u64)
            }
            Limiter::Redis { manager, prefix } => {
                let mut conn = manager.clone();
                let (n, ttl): (u64, i64) = redis::Script::new(HIT_SCRIPT)
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

impl Limiter {
    /// Takes back one hit on `key`: a unit taken before an outcome was known (a failure budget
    /// taken before a comparison) that turned out not to count.
    pub async fn give_back(&self, key: &str, now: i64) -> Result<(), LimiterError> {
        match self {
            Limiter::InProcess(map) => {
                let mut map = map.lock().map_err(|_| LimiterError("counter lock poisoned".into()))?;
                if let Some(entry) = map.get_mut(key).filter(|(n, reset)| *reset > now && *n > 0) {
                    entry.0 -= 1;
                }
                Ok(())
            }
            Limiter::Redis { manager, prefix } => {
                let mut conn = manager.clone();
                let _: i64 = redis::Script::new(GIVE_BACK_SCRIPT)
                    .key(format!("{prefix}:rl:{key}"))
                    .arg(now)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| LimiterError(e.to_string()))?;
                Ok(())
            }
        }
    }

    /// The count of `key` in its current window and the seconds left in it, without counting.
    pub async fn peek(&self, key: &str, now: i64) -> Result<(u64, u64), LimiterError> {
        match self {
            Limiter::InProcess(map) => {
                let map = map.lock().map_err(|_| LimiterError("counter lock poisoned".into()))?;
                Ok(map
                    .get(key)
                    .filter(|(_, reset)| *reset > now)
                    .map(|(n, reset)| (*n, (reset - now) as u64))
                    .unwrap_or((0, 0)))
            }
            Limiter::Redis { manager, prefix } => {
                let mut conn = manager.clone();
                let (n, left): (u64, i64) = redis::Script::new(PEEK_SCRIPT)
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
}

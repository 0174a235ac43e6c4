//! Short-lived counters for rate limits and failure budgets: fixed windows, counted in-process or
//! in Redis (`store::counters`). A counter that cannot be reached is an error, and callers fail
//! closed: no limit is ever skipped.

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

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the rate-limit store is unreachable: {0}")]
pub struct CounterError(pub String);

#[async_trait::async_trait]
pub trait Counters: Send + Sync {
    /// Counts one event under `key` in a window of `window` seconds starting at its first event,
    /// and decides against `limit`.
    async fn hit(&self, key: &str, limit: u64, window: u64, now: i64) -> Result<Decision, CounterError>;

    /// Takes back one hit of the current window (never below zero): a unit taken before an
    /// outcome was known that turned out not to count.
    async fn give_back(&self, key: &str, now: i64) -> Result<(), CounterError>;

    /// The count of `key` in its current window and the seconds left in it, counting nothing.
    async fn peek(&self, key: &str, now: i64) -> Result<(u64, u64), CounterError>;
}

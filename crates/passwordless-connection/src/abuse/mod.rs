//! Abuse protection, each rule in one named place:
//! - `check_send`: before any message goes out — allowed SMS countries, IP blocks, starts per IP,
//!   messages per destination per minute and per hour, texts per number prefix per hour;
//! - `take_failure_budget`: before a typed code (or an approval number) is compared — one unit of
//!   the IP's budget against the account and against all accounts, and of the service's global
//!   budget, taken first so that parallel guesses get no more comparisons than the budget allows;
//!   a right answer gives it back (`FailureBudget::give_back`), a wrong one keeps it
//!   (`FailureBudget::failed`: reaching a budget blocks the IP; crossing the global one alerts);
//! - `record_sms_sent` / `record_sms_verified`: the sent-to-verified ratio of text messages.
//!
//! A budget that is reached blocks the IP (`block.rs`); the owner hears of blocks and crossed
//! thresholds (`alerts.rs`).
//!
//! Counters are keyed by a keyed hash of the destination, never the address itself, and live in
//! `domain::counters::Counters` (in-process, or Redis shared by every node). When the counters
//! cannot be reached, the request fails closed (503): no limit is ever skipped.

mod alerts;
mod block;

use alerts::alert_once;
pub(crate) use alerts::{record_sms_sent, record_sms_verified};
use block::block;

use domain::counters::{CounterError as LimiterError, Decision};

use crate::PasswordlessConnection;
use crate::challenge::{Destination, Origin};
use crate::storage::Challenge;

/// The purpose of the keyed hash an unblock link's token is stored as.
pub(crate) const UNBLOCK_PURPOSE: &str = "unblock";

/// Why a message was not sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over an hourly limit; the window resets in `retry_after` seconds.
    Limited { retry_after: u64 },
    /// A message just went to this destination.
    TooSoon { retry_after: u64 },
    /// The IP is blocked (for this account or for all).
    Blocked,
    /// Text messages to this number's country are not allowed.
    Country,
    /// The counters cannot be reached: fail closed.
    Unavailable,
}

const DAY: u64 = 86_400;
const HOUR: u64 = 3_600;

/// The keyed hash that stands for an address or number in counters and blocks.
pub(crate) fn account_key(conn: &PasswordlessConnection, destination: &str) -> String {
    conn.hasher.hash("abuse-account", destination).0[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds until another message may go to `destination` under the per-minute limit (0: now; also
/// when the counters cannot be read: sending then says why it cannot).
pub(crate) async fn resend_in(conn: &PasswordlessConnection, destination: &str) -> u64 {
    let account = account_key(conn, destination);
    match conn.limiter.peek(&format!("send:min:{account}"), conn.clock.now()).await {
        Ok((n, left)) if n >= conn.config.limits.sends_per_destination_per_minute => left,
        _ => 0,
    }
}

fn unavailable(e: &LimiterError) -> Refusal {
    tracing::error!(error = %e, "rate limiter unavailable");
    Refusal::Unavailable
}

/// One hit on a limit: `Ok(())` while within it, else the refusal `over` builds.
async fn within(
    conn: &PasswordlessConnection,
    key: &str,
    limit: u64,
    window: u64,
    over: fn(u64) -> Refusal,
) -> Result<(), Refusal> {
    match conn.limiter.hit(key, limit, window, conn.clock.now()).await {
        Ok(Decision::Allowed { .. }) => Ok(()),
        Ok(Decision::Limited { retry_after }) => {
            // The limit's name: the key's first two parts (`send:hour`), never the IP or account.
            let name: String = key.split(':').take(2).collect::<Vec<_>>().join(":");
            metrics::counter!("ostiary_limit_refusals_total", "limit" => name).increment(1);
            Err(over(retry_after))
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// The digits of an E.164 number that make up its "prefix" for velocity limits.
fn prefix(phone: &str, digits: usize) -> &str {
    let digits_only = phone.trim_start_matches('+');
    &digits_only[..digits.min(digits_only.len())]
}

/// Every rule a message must pass before it is sent (a start or a resend). Known and unknown
/// destinations are treated alike, so a refusal tells nothing about accounts.
pub(crate) async fn check_send(
    conn: &PasswordlessConnection,
    origin: &Origin,
    to: &Destination,
) -> Result<(), Refusal> {
    let limits = &conn.config.limits;
    if let Destination::Phone(phone) = to
        && !conn.config.sms_policy.allows_region(phone.region())
    {
        return Err(Refusal::Country);
    }
    match is_blocked(conn, origin, to.as_str()).await {
        Ok(true) => {
            metrics::counter!("ostiary_limit_refusals_total", "limit" => "ip_blocked").increment(1);
            return Err(Refusal::Blocked);
        }
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "block lookup failed");
            return Err(Refusal::Unavailable);
        }
    }
    let ip = origin.ip.limit_key();
    within(conn, &format!("start:ip:{ip}"), limits.starts_per_ip_per_hour, HOUR, |r| Refusal::Limited {
        retry_after: r,
    })
    .await?;
    let account = account_key(conn, to.as_str());
    within(conn, &format!("send:min:{account}"), limits.sends_per_destination_per_minute, 60, |r| Refusal::TooSoon {
        retry_after: r,
    })
    .await?;
    within(conn, &format!("send:hour:{account}"), limits.sends_per_destination_per_hour, HOUR, |r| Refusal::Limited {
        retry_after: r,
    })
    .await?;
    if let Destination::Phone(phone) = to {
        let policy = &conn.config.sms_policy;
        let key = format!("send:prefix:{}", prefix(phone.as_str(), policy.prefix_digits));
        within(conn, &key, policy.sends_per_prefix_per_hour, HOUR, |r| Refusal::Limited { retry_after: r }).await?;
    }
    Ok(())
}

/// Whether `origin`'s IP is blocked for `destination`'s account or for every account.
pub(crate) async fn is_blocked(
    conn: &PasswordlessConnection,
    origin: &Origin,
    destination: &str,
) -> Result<bool, domain::StorageError> {
    conn.store.is_blocked(&origin.ip.limit_key(), &account_key(conn, destination), conn.clock.now()).await
}

/// Whether a failure budget is used up by this hit (the hit that reaches it counts).
fn reached(decision: Decision) -> bool {
    !matches!(decision, Decision::Allowed { remaining } if remaining > 0)
}

/// Units taken from the failure budgets for one comparison, before it is made.
pub(crate) struct FailureBudget {
    ip: String,
    account: String,
    one: Decision,
    all: Decision,
    global: Decision,
}

/// Takes one unit of each failure budget for a comparison about to be made from `origin` against
/// `destination`'s account. `Ok(None)`: a budget is already spent (the IP is being blocked), so
/// nothing may be compared. `Err`: the counters cannot be reached; the caller fails closed.
pub(crate) async fn take_failure_budget(
    conn: &PasswordlessConnection,
    origin: &Origin,
    destination: &str,
) -> Result<Option<FailureBudget>, LimiterError> {
    let limits = &conn.config.limits;
    let now = conn.clock.now();
    let ip = origin.ip.limit_key();
    let account = account_key(conn, destination);
    let one =
        conn.limiter.hit(&format!("fail:acct:{ip}:{account}"), limits.failures_per_ip_per_account, DAY, now).await?;
    let all = conn.limiter.hit(&format!("fail:ip:{ip}"), limits.failures_per_ip_per_day, DAY, now).await?;
    let global = conn.limiter.hit("fail:global", limits.global_failures_per_hour, HOUR, now).await?;
    let budget = FailureBudget { ip, account, one, all, global };
    if matches!(one, Decision::Limited { .. }) || matches!(all, Decision::Limited { .. }) {
        budget.give_back(conn).await;
        return Ok(None);
    }
    Ok(Some(budget))
}

impl FailureBudget {
    /// The answer was right: it was no failure, and the units go back.
    pub(crate) async fn give_back(self, conn: &PasswordlessConnection) {
        let now = conn.clock.now();
        let keys =
            [format!("fail:acct:{}:{}", self.ip, self.account), format!("fail:ip:{}", self.ip), "fail:global".into()];
        for key in keys {
            if let Err(e) = conn.limiter.give_back(&key, now).await {
                tracing::warn!(error = %e, "a failure count could not be given back");
            }
        }
    }

    /// The answer was wrong: the units stay spent. Reaching the budget against one account
    /// (10 by default) blocks the IP for that account — the real user elsewhere is unaffected — and
    /// emails the account's owner a link to lift it; reaching it across accounts (100 a day) blocks
    /// the IP for all; crossing the global hourly budget alerts the owner.
    pub(crate) async fn failed(self, conn: &PasswordlessConnection, challenge: &Challenge) {
        let now = conn.clock.now();
        let limits = &conn.config.limits;
        if reached(self.one) {
            block(conn, &self.ip, Some(challenge), now).await;
        }
        if reached(self.all) {
            block(conn, &self.ip, None, now).await;
        }
        if matches!(self.global, Decision::Limited { .. }) {
            alert_once(
                conn,
                "global-failures",
                "The sign-in failure budget was crossed",
                &format!(
                    "More than {} wrong sign-in codes were entered across the service in the last hour. \
                     Someone may be guessing codes at scale; check `ostiary blocks list` and the logs.",
                    limits.global_failures_per_hour
                ),
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_the_leading_digits() {
        assert_eq!(prefix("+447400123456", 7), "4474001");
        assert_eq!(prefix("+1234", 7), "1234");
    }

    #[test]
    fn a_budget_is_reached_by_the_hit_that_uses_it_up() {
        assert!(!reached(Decision::Allowed { remaining: 1 }));
        assert!(reached(Decision::Allowed { remaining: 0 }));
        assert!(reached(Decision::Limited { retry_after: 5 }));
    }
}

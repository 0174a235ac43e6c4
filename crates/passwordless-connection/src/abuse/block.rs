//! Blocking an IP after too many wrong codes, and telling the owner and the account's user.

use domain::secret::random_token;

use super::alerts::send_owner_alert;
use super::{UNBLOCK_PURPOSE, account_key};
use crate::PasswordlessConnection;
use crate::challenge::Destination;
use crate::storage::{BlockScope, BlockedFor, Challenge, ConnectionAudit, NewBlock};

/// Blocks `ip` (an IPv4 address or an IPv6 /64) for `challenge`'s account (or, with `None`, for
/// every account), then tells the owner and, for an account block, the account's user (with a link
/// that lifts it).
pub(super) async fn block(conn: &PasswordlessConnection, ip: &str, challenge: Option<&Challenge>, now: i64) {
    let limits = &conn.config.limits;
    let unblock_token = random_token(32);
    let (scope, reason, user_email) = match challenge {
        Some(c) => {
            let email = match &c.destination {
                Destination::Email(e) => conn.store.user_by_email(e).await.ok().flatten().and_then(|u| u.email),
                Destination::Phone(p) => conn.store.user_by_phone(p).await.ok().flatten().and_then(|u| u.email),
            };
            let reason = format!("{} wrong codes for one account", limits.failures_per_ip_per_account);
            (BlockScope::Account(account_key(conn, c.destination.as_str())), reason, email)
        }
        None => (
            BlockScope::AllAccounts,
            format!("{} wrong codes across accounts in a day", limits.failures_per_ip_per_day),
            None,
        ),
    };
    let new = NewBlock {
        ip: ip.to_owned(),
        scope,
        reason: reason.clone(),
        unblock_hash: user_email.as_ref().map(|_| conn.hasher.hash(UNBLOCK_PURPOSE, &unblock_token).0),
        created_at: now,
        expires_at: now + limits.block_seconds,
    };
    let scope_of = if challenge.is_some() { BlockedFor::Account } else { BlockedFor::All };
    let what = ConnectionAudit::IpBlocked { ip: ip.to_string(), reason: reason.to_owned(), scope: scope_of };
    // The block, its audit entry and its `ip.blocked` event, together.
    let audit = domain::audit::AuditEntry { what, user: None, client: None, at: now };
    match conn.store.insert_block_audited(new, audit).await {
        Ok(Some(_)) => {}
        Ok(None) => return, // another node (or request) blocked it first and told everyone
        Err(e) => {
            tracing::error!(error = %e, "the IP block could not be stored");
            return;
        }
    }
    tracing::warn!(%ip, reason, "blocked an IP after too many wrong codes");
    let label = if challenge.is_some() { "account" } else { "all" };
    metrics::counter!("ostiary_ip_blocks_total", "scope" => label).increment(1);
    let scope = if challenge.is_some() { "for one account" } else { "for every account" };
    let hours = (limits.block_seconds / 3600).max(1);
    send_owner_alert(
        conn,
        &format!("Blocked {ip} {scope}"),
        &format!(
            "{ip} was blocked {scope} for {hours} hours: {reason}. Lift it with `ostiary blocks lift {ip}`; \
             list every block with `ostiary blocks list`."
        ),
    )
    .await;
    if let Some(email) = user_email
        && let Err(e) = send_unblock_email(conn, &email, ip, &unblock_token, hours, now).await
    {
        tracing::error!(error = %e, "the unblock email could not be queued");
    }
}

async fn send_unblock_email(
    conn: &PasswordlessConnection,
    to: &domain::EmailAddress,
    ip: &str,
    token: &str,
    hours: i64,
    now: i64,
) -> Result<(), domain::StorageError> {
    let lang = conn.catalog.negotiate(None, None);
    let product = &conn.config.product_name;
    let mut ctx = crate::messages::context(conn, lang, product, "", now);
    ctx.insert("place", ip);
    ctx.insert("hours", &hours.to_string());
    ctx.insert("link", &crate::paths::unblock(&conn.config.public_url, token));
    let subject = conn.catalog.fill(lang, "unblock_subject", &[("product", product)]);
    let message = crate::messages::email(conn, to, "unblock", subject, &mut ctx)?;
    conn.store.enqueue_message(message, now).await?;
    conn.outbox_ready.notify_one();
    Ok(())
}

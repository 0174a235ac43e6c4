//! Alerts to the owner: logged, audited and emailed, at most once an hour per kind; and the
//! sent-to-verified ratio of text messages that raises one.

use domain::counters::Decision;

use super::HOUR;
use crate::PasswordlessConnection;
use crate::storage::ConnectionAudit;

/// Emails the configured owner (`passwordless.alerts.owner_email`), and logs the alert and writes
/// it to the audit log (the admin console's "recent failures and alerts") either way.
pub(super) async fn send_owner_alert(conn: &PasswordlessConnection, subject: &str, text: &str) {
    tracing::error!(alert = subject, "{text}");
    let now = conn.clock.now();
    let what = ConnectionAudit::Alert { subject: subject.to_owned(), text: text.to_owned() };
    if let Err(e) = conn.store.record(domain::audit::AuditEntry { what, user: None, client: None, at: now }).await {
        tracing::error!(error = %e, "audit log");
    }
    let Some(owner) = &conn.config.alerts.owner_email else { return };
    let mut ctx = crate::messages::context(conn, domain::i18n::DEFAULT_LANGUAGE, &conn.config.product_name, "", now);
    ctx.insert("text", text);
    let queued = match crate::messages::email(
        conn,
        owner,
        "alert",
        format!("[{}] {subject}", conn.config.product_name),
        &mut ctx,
    ) {
        Ok(message) => conn.store.enqueue_message(message, now).await,
        Err(e) => Err(e),
    };
    match queued {
        Ok(()) => conn.outbox_ready.notify_one(),
        Err(e) => tracing::error!(error = %e, "the owner alert could not be queued"),
    }
}

/// Sends an alert at most once an hour per `kind`, across every node sharing the counters.
pub(super) async fn alert_once(conn: &PasswordlessConnection, kind: &str, subject: &str, text: &str) {
    let first = conn.limiter.hit(&format!("alert:{kind}"), 1, HOUR, conn.clock.now()).await;
    if matches!(first, Ok(Decision::Allowed { .. })) {
        send_owner_alert(conn, subject, text).await;
    }
}

/// The counters of text messages sent and verified share clock-hour windows.
fn hour_key(kind: &str, now: i64) -> String {
    format!("sms:{kind}:{}", now / 3600)
}

/// Counts a text queued for sending, and alerts when the share that led to a sign-in collapses
/// (SMS pumping: texts bought by a fraudster, never used).
pub(crate) async fn record_sms_sent(conn: &PasswordlessConnection) {
    let now = conn.clock.now();
    let alerts = &conn.config.alerts;
    let sent = match conn.limiter.hit(&hour_key("sent", now), u64::MAX - 1, 2 * HOUR, now).await {
        Ok(Decision::Allowed { remaining }) => u64::MAX - 1 - remaining,
        _ => return,
    };
    if sent < alerts.sms_ratio_min_sent {
        return;
    }
    let verified = conn.limiter.peek(&hour_key("verified", now), now).await.map(|(n, _)| n).unwrap_or(0);
    let ratio = verified as f64 / sent as f64;
    if ratio < alerts.sms_ratio_threshold {
        alert_once(
            conn,
            "sms-ratio",
            "Text messages are not being used",
            &format!(
                "{sent} sign-in texts were sent this hour but only {verified} led to a sign-in ({:.0}%, below the \
                 {:.0}% alert threshold). This is what SMS pumping fraud looks like: check the destinations, \
                 `passwordless.sms.allowed_countries` and the per-prefix limit.",
                ratio * 100.0,
                alerts.sms_ratio_threshold * 100.0
            ),
        )
        .await;
    }
}

pub(crate) async fn record_sms_verified(conn: &PasswordlessConnection) {
    let now = conn.clock.now();
    if let Err(e) = conn.limiter.hit(&hour_key("verified", now), u64::MAX - 1, 2 * HOUR, now).await {
        tracing::warn!(error = %e, "could not count a verified text");
    }
}

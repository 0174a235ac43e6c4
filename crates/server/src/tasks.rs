//! The background tasks every node runs: the purge, the signing keys' upkeep, and the webhook
//! worker when endpoints are configured (the delivery queue's worker is the connection's).

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use authorization_server::Keys;
use domain::Clock;
use store::Store;

use crate::config::Settings;

/// Delivers events to the `[webhooks.NAME]` endpoints, when there are any.
pub(crate) fn spawn_webhooks(
    settings: &Settings,
    store: &Store,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let webhooks = hooks::webhooks::Webhooks::new(&settings.webhooks).map_err(|e| anyhow!("{e}"))?;
    if webhooks.is_empty() {
        return Ok(None);
    }
    Ok(Some(hooks::webhooks::spawn_worker(Arc::new(webhooks), Arc::new(store.clone()), Arc::clone(clock))))
}

/// Deletes expired rows every ten minutes.
pub(crate) fn spawn_purge(
    store: Store,
    clock: Arc<dyn Clock>,
    keep: store::purge::Retention,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            match store.purge_expired(clock.now(), keep).await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "purged expired rows"),
                Err(e) => tracing::error!(error = %e, "purging expired rows failed"),
            }
        }
    })
}

/// Reloads keys every minute (rotations by the CLI or another node) and rotates when due.
pub(crate) fn spawn_key_maintenance(
    keys: Arc<Keys>,
    clock: Arc<dyn Clock>,
    period: i64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            match keys.rotate_if_due(clock.now(), period).await {
                Ok(true) => tracing::info!("signing keys rotated (automatic rotation period reached)"),
                Ok(false) => {
                    if let Err(e) = keys.reload().await {
                        tracing::error!(error = %e, "signing keys could not be reloaded");
                    }
                }
                Err(e) => tracing::error!(error = %e, "signing key rotation failed"),
            }
        }
    })
}

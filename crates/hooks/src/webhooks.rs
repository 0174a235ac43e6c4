//! Event webhooks: nothing waits for them. Each event is written to the outbox in the transaction
//! of what it describes (`store`), one delivery per endpoint that wants it; this worker leases due
//! deliveries (a conditional update, so of several nodes exactly one takes each), POSTs them signed
//! per the Standard Webhooks specification with the event's id as `webhook-id` (the same on every
//! attempt: receivers drop duplicates by it), and on failure tries again later, backing off. An
//! endpoint that keeps failing for longer than its `disable_after_minutes` is disabled until an
//! admin enables it again; its deliveries wait, nothing is dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use domain::events::{EventType, Route};
use domain::{Clock, StorageError};
use serde::Deserialize;

use crate::SigningSecret;

fn five_seconds() -> u64 {
    5000
}

fn three_days() -> i64 {
    3 * 24 * 60
}

/// One endpoint's settings (`[webhooks.NAME]`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// An `https://` URL (`http://` only in development: the server checks).
    pub url: String,
    /// The Standard Webhooks secret, `whsec_` and base64.
    pub secret: SigningSecret,
    /// The events it wants; every one when empty.
    #[serde(default)]
    pub events: Vec<EventType>,
    /// How long one attempt may take: 100 ms to 30 s (default 5 s).
    #[serde(default = "five_seconds", deserialize_with = "domain::settings::within::<_, _, 100, 30000>")]
    pub timeout_ms: u64,
    /// How long it may keep failing before it is disabled: 1 minute to 30 days (default 3 days).
    #[serde(default = "three_days", deserialize_with = "domain::settings::within::<_, _, 1, 43200>")]
    pub disable_after_minutes: i64,
}

/// `[webhooks]`: the endpoints, by name.
pub type WebhooksSettings = BTreeMap<String, WebhookSettings>;

/// Every problem with the endpoints' names and URLs.
pub fn validate(settings: &WebhooksSettings, production: bool, problems: &mut Vec<String>) {
    for (name, endpoint) in settings {
        if !domain::settings::is_label(name) {
            problems.push(format!("webhooks.{name}: a name is letters, digits, '-' and '_', at most 64"));
        }
        crate::settings::check_url(&format!("webhooks.{name}.url"), &endpoint.url, production, problems);
    }
}

/// Which endpoint wants which events, for `store` to fan each event out as it writes it.
pub fn routes(settings: &WebhooksSettings) -> Vec<Route> {
    settings.iter().map(|(name, s)| Route { endpoint: name.clone(), types: s.events.clone() }).collect()
}

/// A delivery a node leased: one event for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The event's id, sent as `webhook-id`.
    pub event_id: String,
    pub endpoint: String,
    /// The JSON body, as written with the event.
    pub payload: String,
    /// This attempt's number (1 for the first; it only grows); the lease is this node's while it
    /// matches.
    pub attempts: i32,
    /// The failures since the last success, enabling or replay: the back-off's step.
    pub retries: i32,
    /// When this lease ends. An admin's replay or enabling moves the next attempt to now, which
    /// ends the lease too: the outcome of the attempt in flight then no longer settles the delivery.
    pub leased_until: i64,
}

/// What the worker needs of storage.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync {
    /// The endpoints disabled for failing, until an admin enables them again.
    async fn disabled_endpoints(&self) -> Result<Vec<String>, StorageError>;

    /// Leases up to `limit` due deliveries of `endpoint` until `now + lease`, oldest events first.
    async fn claim_deliveries(
        &self,
        endpoint: &str,
        now: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StorageError>;

    /// The endpoint took it: done, and the endpoint is healthy.
    async fn delivered(&self, delivery: &Delivery, now: i64) -> Result<(), StorageError>;

    /// It failed: tried again at `retry_at`. The endpoint is failing since its first failure after
    /// a success; true when that is longer ago than `disable_after` seconds and this disabled it.
    async fn delivery_failed(
        &self,
        delivery: &Delivery,
        error: &str,
        retry_at: i64,
        now: i64,
        disable_after: i64,
    ) -> Result<bool, StorageError>;
}

/// How long to wait before attempt `attempts + 1` (after `attempts` failed ones): 5 s, 1 min,
/// 5 min, 30 min, 2 h, then every 5 h (near the schedule the Standard Webhooks specification
/// suggests).
pub fn retry_delay(attempts: i32) -> i64 {
    match attempts {
        ..=1 => 5,
        2 => 60,
        3 => 300,
        4 => 1800,
        5 => 7200,
        _ => 18000,
    }
}

/// A configured endpoint, ready to post to.
struct Endpoint {
    name: String,
    settings: WebhookSettings,
}

/// The endpoints and their HTTP client.
pub struct Webhooks {
    endpoints: Vec<Endpoint>,
    http: reqwest::Client,
}

/// How many deliveries of one endpoint a node sends at once.
const BATCH: i64 = 20;

impl Webhooks {
    pub fn new(settings: &WebhooksSettings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ostiary/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhooks: cannot build the HTTP client: {e}"))?;
        let endpoints = settings.iter().map(|(name, s)| Endpoint { name: name.clone(), settings: s.clone() }).collect();
        Ok(Webhooks { endpoints, http })
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// Sends what is due to every enabled endpoint; how many deliveries were attempted.
    pub async fn deliver_due(&self, store: &dyn EventStore, clock: &dyn Clock) -> Result<usize, StorageError> {
        let disabled = store.disabled_endpoints().await?;
        // Each endpoint on its own, at once: a slow one does not hold the others up.
        let rounds = self.endpoints.iter().filter(|e| !disabled.contains(&e.name)).map(|endpoint| async move {
            // The lease outlasts the attempt, so no other node takes it while it is in flight.
            let lease = (endpoint.settings.timeout_ms / 1000) as i64 + 10;
            let due = store.claim_deliveries(&endpoint.name, clock.now(), lease, BATCH).await?;
            let sends = due.iter().map(|d| self.send(endpoint, d, store, clock));
            for result in futures_util::future::join_all(sends).await {
                result?;
            }
            Ok::<_, StorageError>(due.len())
        });
        let mut attempted = 0;
        for round in futures_util::future::join_all(rounds).await {
            attempted += round?;
        }
        Ok(attempted)
    }

    async fn send(
        &self,
        endpoint: &Endpoint,
        delivery: &Delivery,
        store: &dyn EventStore,
        clock: &dyn Clock,
    ) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let result = self.post(endpoint, delivery, clock.now()).await;
        metrics::histogram!("ostiary_webhook_seconds").record(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "delivered" } else { "failed" };
        metrics::counter!("ostiary_webhook_deliveries_total", "outcome" => outcome).increment(1);
        let now = clock.now();
        match result {
            Ok(()) => store.delivered(delivery, now).await,
            Err(error) => {
                let retry_at = now + retry_delay(delivery.retries + 1);
                let disable_after = endpoint.settings.disable_after_minutes * 60;
                tracing::warn!(endpoint = %endpoint.name, event = %delivery.event_id, attempt = delivery.attempts,
                    %error, "a webhook delivery failed; it will be tried again");
                if store.delivery_failed(delivery, &error, retry_at, now, disable_after).await? {
                    tracing::error!(endpoint = %endpoint.name, "a webhook endpoint kept failing and is now disabled; \
                        an admin can enable it again in the console or the admin API");
                }
                Ok(())
            }
        }
    }

    /// One attempt: any 2xx status is a delivery; anything else, or no answer in time, is not.
    async fn post(&self, endpoint: &Endpoint, delivery: &Delivery, now: i64) -> Result<(), String> {
        let (settings, body) = (&endpoint.settings, delivery.payload.as_bytes().to_vec());
        let timeout = Duration::from_millis(settings.timeout_ms);
        let resp = settings
            .secret
            .post(&self.http, &settings.url, timeout, &delivery.event_id, now, body)
            .send()
            .await
            .map_err(|e| match e.is_timeout() {
                true => format!("no answer within {} ms", endpoint.settings.timeout_ms),
                // Without the URL: it may carry a token, and this text is shown to admins.
                false => format!("could not be reached: {}", e.without_url()),
            })?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("answered HTTP {}", s.as_u16())),
        }
    }
}

/// Delivers due events every second for as long as it runs.
pub fn spawn_worker(
    webhooks: Arc<Webhooks>,
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            loop {
                match webhooks.deliver_due(store.as_ref(), clock.as_ref()).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the event outbox; trying again shortly");
                        break;
                    }
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

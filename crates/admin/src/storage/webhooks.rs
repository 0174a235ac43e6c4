//! What admins see of the event webhooks.

use serde::Serialize;

/// A webhook endpoint as admins see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointInfo {
    pub name: String,
    /// The events it takes; every one when empty.
    pub events: Vec<String>,
    /// Failing since the first failure after its last success.
    pub failing_since: Option<i64>,
    /// Disabled for failing too long, until an admin enables it.
    pub disabled_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_success_at: Option<i64>,
    /// Deliveries not made yet.
    pub waiting: i64,
}

/// One endpoint's delivery of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeliveryInfo {
    pub endpoint: String,
    pub delivered_at: Option<i64>,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
}

/// An event and its deliveries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventInfo {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_at: i64,
    /// The body every delivery sends.
    pub payload: serde_json::Value,
    pub deliveries: Vec<DeliveryInfo>,
}

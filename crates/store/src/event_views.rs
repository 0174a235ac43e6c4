//! What admins see of the event outbox (the console's webhooks page and the admin API): each
//! endpoint's health, the events with their deliveries; and what they do to it: enable a disabled
//! endpoint, replay an event.

use admin::storage::{DeliveryInfo, EndpointInfo, EventInfo};
use diesel::prelude::*;
use domain::events::{EventType, Route};

use crate::StoreError;
use crate::schema::{event_deliveries, events, webhook_endpoints};

/// An endpoint's row: failing since, disabled at, last error, last success.
type Health = (Option<i64>, Option<i64>, Option<String>, Option<i64>);

/// The configured endpoints (`routes`) and their health.
pub(crate) fn endpoints(conn: &mut crate::DbConnection, routes: &[Route]) -> Result<Vec<EndpointInfo>, StoreError> {
    let mut out = Vec::new();
    for route in routes {
        let health: Option<Health> = webhook_endpoints::table
            .find(&route.endpoint)
            .select((
                webhook_endpoints::failing_since,
                webhook_endpoints::disabled_at,
                webhook_endpoints::last_error,
                webhook_endpoints::last_success_at,
            ))
            .first(conn)
            .optional()?;
        let (failing_since, disabled_at, last_error, last_success_at) = health.unwrap_or_default();
        let waiting: i64 = event_deliveries::table
            .filter(event_deliveries::endpoint.eq(&route.endpoint))
            .filter(event_deliveries::delivered_at.is_null())
            .count()
            .get_result(conn)?;
        out.push(EndpointInfo {
            name: route.endpoint.clone(),
            events: route.types.iter().map(|t| t.as_str().to_owned()).collect(),
            failing_since,
            disabled_at,
            last_error,
            last_success_at,
            waiting,
        });
    }
    Ok(out)
}

/// Enables `name` again: healthy, and what waits for it due now.
pub(crate) fn enable_in(conn: &mut crate::DbConnection, name: &str, now: i64) -> Result<(), StoreError> {
    // Only a disabled endpoint: a healthy one's deliveries may be leased by a node right now.
    let disabled = crate::cached::update(
        webhook_endpoints::table.find(name).filter(webhook_endpoints::disabled_at.is_not_null()),
        webhook_endpoints::disabled_at.eq(webhook_endpoints::disabled_at),
    )
    .execute(conn)?;
    if disabled == 0 {
        return Ok(());
    }
    crate::cached::update(
        webhook_endpoints::table.find(name),
        (webhook_endpoints::disabled_at.eq(None::<i64>), webhook_endpoints::failing_since.eq(None::<i64>)),
    )
    .execute(conn)?;
    // A fresh start: the back-off begins again at its first step.
    crate::cached::update(
        event_deliveries::table
            .filter(event_deliveries::endpoint.eq(name))
            .filter(event_deliveries::delivered_at.is_null()),
        (event_deliveries::next_attempt_at.eq(now), event_deliveries::retries.eq(0)),
    )
    .execute(conn)?;
    Ok(())
}

type DeliveryRow = (String, Option<i64>, i32, i64, Option<String>);

/// A page of events, newest first, with their deliveries.
pub(crate) fn page(
    conn: &mut crate::DbConnection,
    event_type: Option<EventType>,
    before: Option<String>,
    limit: i64,
) -> Result<Vec<EventInfo>, StoreError> {
    let mut q = events::table
        .order(events::id.desc())
        .limit(limit)
        .select((events::id, events::event_type, events::created_at, events::payload))
        .into_boxed();
    if let Some(t) = event_type {
        q = q.filter(events::event_type.eq(t.as_str()));
    }
    if let Some(before) = before {
        q = q.filter(events::id.lt(before));
    }
    let rows: Vec<(String, String, i64, String)> = q.load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, event_type, created_at, payload) in rows {
        let deliveries: Vec<DeliveryRow> = event_deliveries::table
            .filter(event_deliveries::event_id.eq(&id))
            .order(event_deliveries::endpoint.asc())
            .select((
                event_deliveries::endpoint,
                event_deliveries::delivered_at,
                event_deliveries::attempts,
                event_deliveries::next_attempt_at,
                event_deliveries::last_error,
            ))
            .load(conn)?;
        let deliveries = deliveries
            .into_iter()
            .map(|(endpoint, delivered_at, attempts, next_attempt_at, last_error)| DeliveryInfo {
                endpoint,
                delivered_at,
                attempts,
                next_attempt_at,
                last_error,
            })
            .collect();
        let payload = crate::from_json(&payload, "event payload")?;
        out.push(EventInfo { id, event_type, created_at, payload, deliveries });
    }
    Ok(out)
}

/// Queues the event `id` again for `endpoint`, or every route that wants it; the endpoints, or
/// `None` when there is no such event or no such endpoint wants it.
pub(crate) fn replay_in(
    conn: &mut crate::DbConnection,
    routes: &[Route],
    id: &str,
    endpoint: Option<&str>,
    now: i64,
) -> Result<Option<Vec<String>>, StoreError> {
    let Some(kind) = events::table.find(id).select(events::event_type).first::<String>(conn).optional()? else {
        return Ok(None);
    };
    let Some(kind) = EventType::parse(&kind) else {
        return Err(StoreError::Corrupt("event type".into()));
    };
    let to: Vec<String> = routes
        .iter()
        .filter(|r| r.wants(kind) && endpoint.is_none_or(|e| e == r.endpoint))
        .map(|r| r.endpoint.clone())
        .collect();
    if to.is_empty() {
        return Ok(None);
    }
    for name in &to {
        let again = crate::cached::update(
            event_deliveries::table.find((id, name)),
            (
                event_deliveries::delivered_at.eq(None::<i64>),
                event_deliveries::next_attempt_at.eq(now),
                event_deliveries::last_error.eq(None::<String>),
                event_deliveries::retries.eq(0),
            ),
        )
        .execute(conn)?;
        if again == 0 {
            diesel::insert_into(event_deliveries::table)
                .values((
                    event_deliveries::event_id.eq(id),
                    event_deliveries::endpoint.eq(name),
                    event_deliveries::attempts.eq(0),
                    event_deliveries::retries.eq(0),
                    event_deliveries::next_attempt_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(Some(to))
}

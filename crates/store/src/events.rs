//! The event outbox. An event is written on the connection (so in the transaction) of what it
//! describes, with one delivery for each webhook endpoint that wants it; `hooks::webhooks` leases
//! and sends the deliveries. Which endpoint wants what is this store's configuration
//! ([`Store::route_events`]); `Store::run` hands it to the work it runs, so the many places that
//! write an audit entry need not carry it.

use std::cell::RefCell;
use std::sync::Arc;

use diesel::dsl;
use diesel::prelude::*;
use domain::events::{EventType, Route};
use domain::{StorageError, UserId};
use hooks::webhooks::{Delivery, EventStore};
use serde_json::{Value, json};

use crate::schema::{event_deliveries, events, webhook_endpoints};
use crate::{Store, StoreError};

/// The routes of the store whose work runs on this thread now.
pub(crate) type Routes = Arc<Vec<Route>>;

thread_local! {
    static ROUTES: RefCell<Routes> = RefCell::new(Arc::new(Vec::new()));
}

/// Runs `f` with `routes` as this thread's routes.
pub(crate) fn with_routes<T>(routes: Routes, f: impl FnOnce() -> T) -> T {
    let before = ROUTES.with(|r| r.replace(routes));
    let out = f();
    ROUTES.with(|r| r.replace(before));
    out
}

/// What an event says besides its type: who, through which client, what wrote it, and its fields.
pub(crate) struct Fact<'a> {
    pub user: Option<&'a str>,
    pub client: Option<&'a str>,
    /// The audit kind, or the store's own name for it.
    pub source: &'a str,
    pub detail: Value,
    pub at: i64,
}

/// Writes `event` and its deliveries on `conn` (inside the caller's transaction), when any
/// endpoint wants it.
pub(crate) fn emit_in(conn: &mut crate::DbConnection, event: EventType, fact: &Fact) -> Result<(), StoreError> {
    let routes = ROUTES.with(|r| Arc::clone(&r.borrow()));
    let wanting: Vec<&Route> = routes.iter().filter(|r| r.wants(event)).collect();
    if wanting.is_empty() {
        return Ok(());
    }
    let id = format!("evt_{}", domain::ids::sortable_id());
    // The Standard Webhooks payload: `type`, `timestamp`, `data`; and the id, also in `webhook-id`.
    let payload = json!({
        "id": id,
        "type": event.as_str(),
        "timestamp": domain::clock::rfc3339(fact.at),
        "data": { "user_id": fact.user, "client_id": fact.client, "source": fact.source, "detail": fact.detail },
    });
    diesel::insert_into(events::table)
        .values((
            events::id.eq(&id),
            events::event_type.eq(event.as_str()),
            events::user_id.eq(fact.user),
            events::payload.eq(crate::to_json(&payload)),
            events::created_at.eq(fact.at),
        ))
        .execute(conn)?;
    for route in wanting {
        diesel::insert_into(event_deliveries::table)
            .values((
                event_deliveries::event_id.eq(&id),
                event_deliveries::endpoint.eq(&route.endpoint),
                event_deliveries::attempts.eq(0),
                event_deliveries::retries.eq(0),
                event_deliveries::next_attempt_at.eq(fact.at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The events an audit entry stands for, written with it.
pub(crate) fn emit_audited<D: domain::audit::Audited>(
    conn: &mut crate::DbConnection,
    entry: &domain::audit::AuditEntry<D>,
) -> Result<(), StoreError> {
    if ROUTES.with(|r| r.borrow().is_empty()) {
        return Ok(());
    }
    let (user, client) = (entry.user.as_ref().map(|u| u.to_string()), entry.client.as_ref().map(|c| c.to_string()));
    let kind = entry.what.kind();
    let fact = Fact {
        user: user.as_deref(),
        client: client.as_deref(),
        source: kind.as_str(),
        detail: serde_json::to_value(&entry.what).unwrap_or_default(),
        at: entry.at,
    };
    for event in EventType::of_audit(kind, &fact.detail) {
        emit_in(conn, event, &fact)?;
    }
    Ok(())
}

impl Store {
    /// Which webhook endpoint wants which events, from now on; each endpoint gets its row of
    /// health (kept when it is there already: a disabled endpoint stays disabled across restarts).
    pub async fn route_events(&self, routes: Vec<Route>) -> Result<(), StoreError> {
        let names: Vec<String> = routes.iter().map(|r| r.endpoint.clone()).collect();
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
        self.run(move |conn| {
            for name in names {
                let known: i64 = webhook_endpoints::table.find(&name).count().get_result(conn)?;
                if known > 0 {
                    continue;
                }
                match diesel::insert_into(webhook_endpoints::table)
                    .values(webhook_endpoints::name.eq(&name))
                    .execute(conn)
                {
                    // Another node wrote it first.
                    Ok(_)
                    | Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(())
        })
        .await
    }

    pub(crate) fn routes(&self) -> Routes {
        Arc::clone(&self.routes.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// An event only `store` sees happen, in its own transaction (for tests and the CLI).
    pub async fn emit(
        &self,
        event: EventType,
        user: Option<&UserId>,
        detail: Value,
        at: i64,
    ) -> Result<(), StoreError> {
        let user = user.map(|u| u.to_string());
        self.run(move |conn| {
            let fact = Fact { user: user.as_deref(), client: None, source: event.as_str(), detail, at };
            emit_in(conn, event, &fact)
        })
        .await
    }
}

#[async_trait::async_trait]
impl EventStore for Store {
    async fn disabled_endpoints(&self) -> Result<Vec<String>, StorageError> {
        self.run(|conn| {
            Ok(webhook_endpoints::table
                .filter(webhook_endpoints::disabled_at.is_not_null())
                .select(webhook_endpoints::name)
                .load(conn)?)
        })
        .await
        .map_err(Into::into)
    }

    /// Each claim is a conditional update of one due delivery, so two nodes never lease the same.
    async fn claim_deliveries(
        &self,
        endpoint: &str,
        now: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>, StorageError> {
        let endpoint = endpoint.to_owned();
        self.run(move |conn| {
            let ids: Vec<String> = event_deliveries::table
                .filter(event_deliveries::endpoint.eq(&endpoint))
                .filter(event_deliveries::delivered_at.is_null())
                .filter(event_deliveries::next_attempt_at.le(now))
                .order(event_deliveries::event_id.asc())
                .select(event_deliveries::event_id)
                .limit(limit)
                .load(conn)?;
            let mut claimed = Vec::new();
            for id in ids {
                if let Some(delivery) = conn.transaction(|conn| claim_one(conn, &endpoint, &id, now, lease))? {
                    claimed.push(delivery);
                }
            }
            Ok(claimed)
        })
        .await
        .map_err(Into::into)
    }

    async fn delivered(&self, delivery: &Delivery, now: i64) -> Result<(), StorageError> {
        let d = delivery.clone();
        self.run(move |conn| {
            conn.transaction(|conn| {
                // Only while the lease is this attempt's: a replay asked for while it was in flight
                // stays to be sent.
                let mine = crate::cached::update(
                    leased(&d),
                    (
                        event_deliveries::delivered_at.eq(Some(now)),
                        event_deliveries::last_error.eq(None::<String>),
                        event_deliveries::retries.eq(0),
                    ),
                )
                .execute(conn)?;
                if mine != 1 {
                    return Ok(());
                }
                crate::cached::update(
                    webhook_endpoints::table.find(&d.endpoint),
                    (
                        webhook_endpoints::failing_since.eq(None::<i64>),
                        webhook_endpoints::last_success_at.eq(Some(now)),
                    ),
                )
                .execute(conn)?;
                Ok(())
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn delivery_failed(
        &self,
        delivery: &Delivery,
        error: &str,
        retry_at: i64,
        now: i64,
        disable_after: i64,
    ) -> Result<bool, StorageError> {
        let d = delivery.clone();
        let error: String = error.chars().take(500).collect();
        self.run(move |conn| {
            conn.transaction(|conn| {
                // Only while the lease is this attempt's: a later attempt's outcome is its own, and
                // a stale one says nothing of the endpoint's health either.
                let mine = crate::cached::update(
                    leased(&d),
                    (
                        event_deliveries::next_attempt_at.eq(retry_at),
                        event_deliveries::last_error.eq(Some(&error)),
                        event_deliveries::retries.eq(event_deliveries::retries + 1),
                    ),
                )
                .execute(conn)?;
                if mine != 1 {
                    return Ok(false);
                }
                crate::cached::update(
                    webhook_endpoints::table.find(&d.endpoint).filter(webhook_endpoints::failing_since.is_null()),
                    webhook_endpoints::failing_since.eq(Some(now)),
                )
                .execute(conn)?;
                crate::cached::update(
                    webhook_endpoints::table.find(&d.endpoint),
                    webhook_endpoints::last_error.eq(Some(&error)),
                )
                .execute(conn)?;
                let disabled = crate::cached::update(
                    webhook_endpoints::table
                        .find(&d.endpoint)
                        .filter(webhook_endpoints::disabled_at.is_null())
                        .filter(webhook_endpoints::failing_since.le(now - disable_after)),
                    webhook_endpoints::disabled_at.eq(Some(now)),
                )
                .execute(conn)?;
                Ok(disabled == 1)
            })
        })
        .await
        .map_err(Into::into)
    }
}

type OneDelivery<'a> = dsl::Find<event_deliveries::table, (&'a str, &'a str)>;
type Leased<'a> = dsl::Filter<
    dsl::Filter<
        dsl::Filter<OneDelivery<'a>, dsl::IsNull<event_deliveries::delivered_at>>,
        dsl::Eq<event_deliveries::attempts, i32>,
    >,
    dsl::Eq<event_deliveries::next_attempt_at, i64>,
>;

/// The delivery's row while `d`'s lease is still its own: not delivered, no later attempt
/// claimed it, and no replay or enabling moved its next attempt.
fn leased(d: &Delivery) -> Leased<'_> {
    event_deliveries::table
        .find((d.event_id.as_str(), d.endpoint.as_str()))
        .filter(event_deliveries::delivered_at.is_null())
        .filter(event_deliveries::attempts.eq(d.attempts))
        .filter(event_deliveries::next_attempt_at.eq(d.leased_until))
}

/// Leases one due delivery (in the caller's transaction: the row stays locked until it commits, so
/// the attempt read back is this lease's). A delivery whose event the purge removed is dropped.
fn claim_one(
    conn: &mut crate::DbConnection,
    endpoint: &str,
    id: &str,
    now: i64,
    lease: i64,
) -> Result<Option<Delivery>, StoreError> {
    let row = event_deliveries::table
        .filter(event_deliveries::endpoint.eq(endpoint))
        .filter(event_deliveries::event_id.eq(id))
        .filter(event_deliveries::delivered_at.is_null())
        .filter(event_deliveries::next_attempt_at.le(now));
    let won = crate::cached::update(
        row,
        (
            event_deliveries::next_attempt_at.eq(now + lease),
            event_deliveries::attempts.eq(event_deliveries::attempts + 1),
        ),
    )
    .execute(conn)?;
    if won != 1 {
        return Ok(None);
    }
    let Some(payload) = events::table.find(id).select(events::payload).first::<String>(conn).optional()? else {
        diesel::delete(event_deliveries::table.find((id, endpoint))).execute(conn)?;
        return Ok(None);
    };
    let (attempts, retries): (i32, i32) = event_deliveries::table
        .find((id, endpoint))
        .select((event_deliveries::attempts, event_deliveries::retries))
        .first(conn)?;
    let (event_id, endpoint) = (id.to_owned(), endpoint.to_owned());
    Ok(Some(Delivery { event_id, endpoint, payload, attempts, retries, leased_until: now + lease }))
}

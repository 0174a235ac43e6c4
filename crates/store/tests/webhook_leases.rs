//! A webhook delivery's outcome settles it only while its lease is its own: an admin's replay (or
//! enabling) asked for while the attempt is in flight still sends the event again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use admin::storage::{Actor, AdminAudit, Oversight};
use domain::events::{EventType, Route};
use hooks::webhooks::EventStore;
use store::Store;

#[path = "support/postgres.rs"]
mod postgres;

const LEASE: i64 = 15;

fn audit(event: &str) -> AdminAudit {
    AdminAudit::Webhooks {
        actor: Actor::Owner,
        ip: std::net::Ipv4Addr::LOCALHOST.into(),
        action: "replayed",
        endpoint: None,
        event: Some(event.to_owned()),
    }
}

async fn replay_in_flight_is_kept(store: Store) {
    store.migrate().unwrap();
    store.route_events(vec![Route { endpoint: "crm".into(), types: vec![EventType::UserDeleted] }]).await.unwrap();
    store.emit(EventType::UserDeleted, None, serde_json::json!({"n": 1}), 100).await.unwrap();

    // An attempt that succeeds with no replay meanwhile settles the delivery.
    let first = store.claim_deliveries("crm", 100, LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    store.delivered(&first[0], 101).await.unwrap();
    assert!(store.claim_deliveries("crm", 1_000, LEASE, 10).await.unwrap().is_empty());

    // Replayed, claimed, then replayed again while that attempt is in flight.
    let id = first[0].event_id.clone();
    assert_eq!(store.replay_event(&id, None, 200, audit(&id)).await.unwrap(), Some(vec!["crm".to_owned()]));
    let second = store.claim_deliveries("crm", 200, LEASE, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    store.replay_event(&id, None, 201, audit(&id)).await.unwrap();
    // The attempt in flight answers: it does not settle the replay asked for after it began...
    store.delivered(&second[0], 202).await.unwrap();
    let third = store.claim_deliveries("crm", 202, LEASE, 10).await.unwrap();
    assert_eq!(third.len(), 1, "the replay asked for during an attempt is sent");
    assert_eq!(third[0].event_id, id);
    // ...nor does a failure of that old attempt push the new one back.
    store.delivery_failed(&second[0], "answered HTTP 500", 10_000, 203, 3_600).await.unwrap();
    store.delivered(&third[0], 204).await.unwrap();
    assert!(store.claim_deliveries("crm", 20_000, LEASE, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_keeps_a_replay_asked_for_during_an_attempt() {
    let dir = std::env::temp_dir().join(format!("ostiary-leases-{}", domain::secret::random_token(9)));
    std::fs::create_dir_all(&dir).unwrap();
    let url = dir.join("o.db").display().to_string();
    replay_in_flight_is_kept(Store::connect(&url, 1).unwrap()).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn postgres_keeps_a_replay_asked_for_during_an_attempt() {
    let (url, admin, name) = postgres::fresh("ostiary_leases");
    replay_in_flight_is_kept(Store::connect(&url, 2).unwrap()).await;
    postgres::drop_database(&admin, &name);
}

//! Every node runs the delivery worker on the one database: of several workers claiming at once,
//! each message goes to exactly one, so no message is sent twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use domain::message::OutgoingMessage;
use passwordless_connection::storage::MessageStore;
use store::Store;

#[path = "support/postgres.rs"]
mod postgres;

const MESSAGES: usize = 300;
const WORKERS: usize = 4;

/// A new database on the server of `OSTIARY_TEST_DATABASE_URL`: (its URL, the admin URL, its name).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_several_nodes_never_claim_one_message_twice() {
    let (url, admin, name) = postgres::fresh("ostiary_queue");
    let first = Store::connect(&url, 4).unwrap();
    first.migrate().unwrap();
    for n in 0..MESSAGES {
        let message = OutgoingMessage {
            id: domain::MessageId::sortable(),
            channel: domain::Channel::Email,
            recipient: format!("user-{n}@example.com"),
            subject: "Your code".into(),
            text_body: "sealed".into(),
            html_body: None,
            leased_until: None,
        };
        MessageStore::enqueue_message(&first, message, 0).await.unwrap();
    }
    // One store per node (its own pool), all claiming and sending at once.
    let claims: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (store, claims) = (Store::connect(&url, 4).unwrap(), Arc::clone(&claims));
            tokio::spawn(async move {
                loop {
                    let batch = store.claim_due_messages(1, 120, 7).await.unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    for m in batch {
                        claims.lock().unwrap().push(m.id.to_string());
                        store.mark_message_sent(&m.id, "test", 1, false).await.unwrap();
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let claims = claims.lock().unwrap().clone();
    let distinct: HashSet<&String> = claims.iter().collect();
    assert_eq!(distinct.len(), MESSAGES, "every message was claimed");
    assert_eq!(claims.len(), MESSAGES, "none was claimed twice");
    // Within the lease, a sent message is never claimed again.
    assert!(first.claim_due_messages(2, 120, 50).await.unwrap().is_empty());
    drop(first);
    postgres::drop_database(&admin, &name);
}

/// A message queued leased (handed to its node's worker) is no other worker's until its lease runs
/// out, renewed or not; then (its node died before sending it) the next claim takes it, as its
/// second attempt.
#[tokio::test]
async fn a_message_queued_leased_is_claimed_only_once_its_lease_runs_out() {
    let (url, admin, name) = postgres::fresh("ostiary_queue");
    let store = Store::connect(&url, 4).unwrap();
    store.migrate().unwrap();
    let id = domain::MessageId::sortable();
    let message = OutgoingMessage {
        id: id.clone(),
        channel: domain::Channel::Email,
        recipient: "user@example.com".into(),
        subject: "Your code".into(),
        text_body: "sealed".into(),
        html_body: None,
        leased_until: Some(130),
    };
    MessageStore::enqueue_message(&store, message, 100).await.unwrap();
    assert!(store.claim_due_messages(100, 120, 10).await.unwrap().is_empty(), "taken at once");
    assert!(store.claim_due_messages(129, 120, 10).await.unwrap().is_empty(), "taken inside its lease");
    // Its worker, late, renews the lease it was queued with; only once: then the lease is another.
    assert!(store.renew_message_lease(&id, 130, 160).await.unwrap(), "the worker's own lease");
    assert!(!store.renew_message_lease(&id, 130, 170).await.unwrap(), "a lease no longer its own");
    assert!(store.claim_due_messages(159, 120, 10).await.unwrap().is_empty(), "taken inside the renewed lease");
    let claimed = store.claim_due_messages(160, 120, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|m| &m.id).collect::<Vec<_>>(), [&id]);
    assert_eq!(claimed[0].attempts, 2, "the handed send counted as the first attempt");
    drop(store);
    postgres::drop_database(&admin, &name);
}

//! First sign-ins of one address at once end with one account, on both backends: the loser of a
//! race finds the winner's row (`users::sign_in_in`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use domain::EmailAddress;
use passwordless_connection::storage::{AccountStore, SignIn};
use store::Store;

#[path = "support/postgres.rs"]
mod postgres;

fn address(text: &str) -> EmailAddress {
    EmailAddress::parse(text).unwrap()
}

/// Signs `email` in from several tasks at once; every one must get the same account, made once.
async fn all_at_once(stores: &[Store], email: &str) -> Vec<SignIn> {
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let (store, email) = (stores[n % stores.len()].clone(), address(email));
            tokio::spawn(async move { AccountStore::sign_in_by_email(&store, &email, true, 1_000).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

fn one_account(outcomes: &[SignIn]) {
    let ids: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            SignIn::Existing(u) | SignIn::Created(u) => u.id.to_string(),
            SignIn::NoAccount => panic!("sign-ups are on"),
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one account for one address: {ids:?}");
    let created = outcomes.iter().filter(|o| matches!(o, SignIn::Created(_))).count();
    assert_eq!(created, 1, "made once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_sign_ins_at_once_make_one_account_on_sqlite() {
    let path = std::env::temp_dir().join(format!("ostiary-sign-ups-{}.db", domain::secret::numeric_code(12)));
    let store = Store::connect(&format!("sqlite://{}", path.display()), 1).unwrap();
    store.migrate().unwrap();
    one_account(&all_at_once(&[store], "ada@example.com").await);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_sign_ins_at_once_make_one_account_on_postgres() {
    let (url, admin, name) = postgres::fresh("ostiary_sign_ups");
    // Two nodes, each with its own pool.
    let stores = [Store::connect(&url, 4).unwrap(), Store::connect(&url, 4).unwrap()];
    stores[0].migrate().unwrap();
    one_account(&all_at_once(&stores, "grace@example.com").await);

    // The race made certain: another connection's insert of the address is not yet committed when
    // the sign-in reads (and finds nothing) and inserts (and waits for it). Once it commits, the
    // sign-in's insert does nothing and it signs in to that account, without an error.
    let mut other = PgConnection::establish(&url).unwrap();
    other
        .batch_execute(
            "BEGIN; INSERT INTO users (id, email, email_verified, created_at) \
             VALUES ('raceWinner1', 'race@example.com', TRUE, 5)",
        )
        .unwrap();
    let store = stores[1].clone();
    let signing_in = tokio::spawn(async move {
        AccountStore::sign_in_by_email(&store, &address("race@example.com"), true, 1_000).await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!signing_in.is_finished(), "the sign-in waits for the other insert");
    other.batch_execute("COMMIT").unwrap();
    match signing_in.await.unwrap() {
        SignIn::Existing(user) => assert_eq!(user.id.as_str(), "raceWinner1"),
        SignIn::Created(user) => panic!("a second account for one address: {}", user.id),
        SignIn::NoAccount => panic!("sign-ups are on"),
    }
    drop(stores);
    postgres::drop_database(&admin, &name);
}

//! Devices a user signed in on (the keyed hash of the device cookie's id, or of the passwordless
//! API's stand-in): known after a successful sign-in, blocked by "This wasn't me".

use diesel::prelude::*;
use domain::{StorageError, UserId};
use step_up::storage::{Device, DeviceStore};

use crate::schema::devices;
use crate::{Store, StoreError};

#[async_trait::async_trait]
impl DeviceStore for Store {
    async fn device(&self, user: &UserId, id_hash: Vec<u8>) -> Result<Option<Device>, StorageError> {
        let user = user.to_string();
        self.read(move |conn| {
            let row: Option<(String, i64, i64, Option<i64>)> = crate::db::on_backend!(conn, |c| {
                devices::table
                    .find((&user, &id_hash))
                    .select((devices::description, devices::created_at, devices::last_seen_at, devices::blocked_at))
                    .first(c)
                    .optional()
            })?;
            Ok(row.map(|(description, created_at, last_seen_at, blocked_at)| Device {
                description,
                created_at,
                last_seen_at,
                blocked_at,
            }))
        })
        .await
        .map_err(Into::into)
    }
}

/// Marks a device known to the user after a successful sign-in on it (or refreshes its last use),
/// inside the caller's transaction.
pub(crate) fn remember_in(
    conn: &mut crate::DbConnection,
    user: &str,
    id_hash: &[u8],
    description: &str,
    now: i64,
) -> Result<(), StoreError> {
    let n = crate::cached::update(
        devices::table.find((user, id_hash)),
        (devices::last_seen_at.eq(now), devices::description.eq(description)),
    )
    .execute(conn)?;
    if n == 0 {
        // A concurrent first sign-in on the same device may insert it first (after the update
        // above found nothing): its record is as fresh as ours would be.
        insert_in(conn, user, id_hash, description, now, None)?;
    }
    Ok(())
}

/// Blocks a device for a user (creating its record if it never signed in), inside the caller's
/// transaction.
pub(crate) fn block_in(
    conn: &mut crate::DbConnection,
    user: &str,
    id_hash: &[u8],
    description: &str,
    now: i64,
) -> Result<(), crate::StoreError> {
    let block = |conn: &mut crate::DbConnection| {
        crate::cached::update(devices::table.find((user, id_hash)), devices::blocked_at.eq(Some(now))).execute(conn)
    };
    if block(conn)? == 0 && insert_in(conn, user, id_hash, description, now, Some(now))? == 0 {
        // Inserted meanwhile by a sign-in on it: block that record.
        block(conn)?;
    }
    Ok(())
}

/// A device's first record, seen `now` (and blocked since `blocked_at`, when given); 0 when a
/// record of it is there already. `ON CONFLICT DO NOTHING`, not a unique violation caught: on
/// PostgreSQL an error aborts the caller's whole transaction, so the statements after it would fail.
fn insert_in(
    conn: &mut crate::DbConnection,
    user: &str,
    id_hash: &[u8],
    description: &str,
    now: i64,
    blocked_at: Option<i64>,
) -> diesel::QueryResult<usize> {
    crate::db::execute(
        conn,
        diesel::insert_into(devices::table)
            .values((
                devices::user_id.eq(user),
                devices::id_hash.eq(id_hash),
                devices::description.eq(description),
                devices::created_at.eq(now),
                devices::last_seen_at.eq(now),
                devices::blocked_at.eq(blocked_at),
            ))
            .on_conflict_do_nothing(),
    )
}

/// The store's tests' helper for a database of their own (shared with the tests in `tests/`).
#[cfg(test)]
#[path = "../tests/support/postgres.rs"]
mod test_postgres;

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl};

    use super::test_postgres as postgres;
    use super::*;
    use crate::db::Backend;

    /// The race made certain on PostgreSQL: another transaction's insert of the device is not yet
    /// committed when a sign-in's `remember_in` updates (nothing) and inserts (and waits for it).
    /// Once it commits, the insert does nothing and the sign-in's transaction goes on: a unique
    /// violation caught instead would have aborted it, and its next statement would fail.
    #[test]
    fn a_device_first_seen_by_two_sign_ins_at_once_keeps_both_transactions_going() {
        let (url, admin, name) = postgres::fresh("ostiary_devices");
        Store::connect(&url, 1).unwrap().migrate().unwrap();

        let backend = Backend::Postgres(url);
        let mut other = backend.connect().unwrap();
        other
            .batch_execute(
                "BEGIN; INSERT INTO devices (user_id, id_hash, description, created_at, last_seen_at) \
                 VALUES ('u1', '\\x0102', 'Firefox', 1, 1)",
            )
            .unwrap();
        let racing = std::thread::spawn(move || {
            let mut conn = backend.connect().unwrap();
            conn.transaction(|conn| {
                remember_in(conn, "u1", &[1, 2], "Firefox", 2)?;
                // The same transaction goes on: here, "This wasn't me" on that device.
                block_in(conn, "u1", &[1, 2], "Firefox", 3)?;
                let blocked: Option<i64> =
                    devices::table.find(("u1", &[1u8, 2][..])).select(devices::blocked_at).first(conn)?;
                Ok::<_, StoreError>(blocked)
            })
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(!racing.is_finished(), "the insert waits for the other transaction's");
        other.batch_execute("COMMIT").unwrap();
        assert_eq!(racing.join().unwrap().unwrap(), Some(3));
        drop(other);
        postgres::drop_database(&admin, &name);
    }
}

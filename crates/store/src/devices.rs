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
        match insert_in(conn, user, id_hash, description, now, None) {
            Ok(_)
            | Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {}
            Err(e) => return Err(e.into()),
        }
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
    let blocked =
        crate::cached::update(devices::table.find((user, id_hash)), devices::blocked_at.eq(Some(now))).execute(conn)?;
    if blocked == 0 {
        insert_in(conn, user, id_hash, description, now, Some(now))?;
    }
    Ok(())
}

/// A device's first record, seen `now` (and blocked since `blocked_at`, when given).
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
        diesel::insert_into(devices::table).values((
            devices::user_id.eq(user),
            devices::id_hash.eq(id_hash),
            devices::description.eq(description),
            devices::created_at.eq(now),
            devices::last_seen_at.eq(now),
            devices::blocked_at.eq(blocked_at),
        )),
    )
}

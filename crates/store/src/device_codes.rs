//! The Device Authorization Grant's requests (RFC 8628, [`DeviceStore`]): kept under the keyed
//! hashes of their two codes, decided once by the user, polled by the device.

use authorization_server::storage::{DeviceCode, DeviceStore};
use diesel::dsl;
use diesel::prelude::*;
use domain::{ClientId, Scope, StorageError};

use crate::schema::device_codes as d;
use crate::{Store, StoreError, parse_id};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = d, treat_none_as_default_value = false)]
struct DeviceRow {
    device_code_hash: Vec<u8>,
    user_code_hash: Vec<u8>,
    client_id: String,
    scope: String,
    created_at: i64,
    expires_at: i64,
    poll_interval: i64,
    polled_at: Option<i64>,
    approved_at: Option<i64>,
    denied_at: Option<i64>,
    code_hash: Option<Vec<u8>>,
}

impl DeviceRow {
    fn into_device(self) -> Result<DeviceCode, StoreError> {
        Ok(DeviceCode {
            client_id: parse_id(ClientId::parse, &self.client_id, "device client")?,
            device_code_hash: self.device_code_hash,
            user_code_hash: self.user_code_hash,
            scope: Scope::parse(&self.scope),
            created_at: self.created_at,
            expires_at: self.expires_at,
            poll_interval: self.poll_interval,
            polled_at: self.polled_at,
            approved_at: self.approved_at,
            denied_at: self.denied_at,
            code_hash: self.code_hash,
        })
    }
}

type Waiting = dsl::Filter<
    dsl::Filter<dsl::Filter<d::table, dsl::Gt<d::expires_at, i64>>, dsl::IsNull<d::approved_at>>,
    dsl::IsNull<d::denied_at>,
>;

/// The requests still waiting for the user: live and undecided.
fn waiting(now: i64) -> Waiting {
    d::table.filter(d::expires_at.gt(now)).filter(d::approved_at.is_null()).filter(d::denied_at.is_null())
}

/// The waiting request named by one of its two codes' hashes.
enum By {
    UserCode(Vec<u8>),
    DeviceCode(Vec<u8>),
}

fn first_waiting(conn: &mut crate::DbConnection, by: By, now: i64) -> Result<Option<DeviceCode>, StoreError> {
    let row = match by {
        By::UserCode(h) => waiting(now).filter(d::user_code_hash.eq(h)).select(DeviceRow::as_select()).first(conn),
        By::DeviceCode(h) => waiting(now).filter(d::device_code_hash.eq(h)).select(DeviceRow::as_select()).first(conn),
    };
    row.optional()?.map(DeviceRow::into_device).transpose()
}

#[async_trait::async_trait]
impl DeviceStore for Store {
    async fn insert_device_code(&self, code: &DeviceCode) -> Result<(), StorageError> {
        let row = DeviceRow {
            device_code_hash: code.device_code_hash.clone(),
            user_code_hash: code.user_code_hash.clone(),
            client_id: code.client_id.to_string(),
            scope: code.scope.to_string(),
            created_at: code.created_at,
            expires_at: code.expires_at,
            poll_interval: code.poll_interval,
            polled_at: None,
            approved_at: None,
            denied_at: None,
            code_hash: None,
        };
        self.run(move |conn| Ok(diesel::insert_into(d::table).values(&row).execute(conn).map(|_| ())?))
            .await
            .map_err(Into::into)
    }

    async fn device_by_user_code(&self, user_code_hash: &[u8], now: i64) -> Result<Option<DeviceCode>, StorageError> {
        let hash = user_code_hash.to_vec();
        self.read(move |conn| first_waiting(conn, By::UserCode(hash), now)).await.map_err(Into::into)
    }

    async fn waiting_device_code(&self, device_code_hash: &[u8], now: i64) -> Result<Option<DeviceCode>, StorageError> {
        let hash = device_code_hash.to_vec();
        self.read(move |conn| first_waiting(conn, By::DeviceCode(hash), now)).await.map_err(Into::into)
    }

    async fn poll_device_code(&self, device_code_hash: &[u8], now: i64) -> Result<Option<DeviceCode>, StorageError> {
        let hash = device_code_hash.to_vec();
        self.run(move |conn| {
            conn.transaction(|conn| {
                let row = d::table.find(&hash).select(DeviceRow::as_select()).first(conn).optional()?;
                if row.is_some() {
                    crate::cached::update(d::table.find(&hash), d::polled_at.eq(Some(now))).execute(conn)?;
                }
                row.map(DeviceRow::into_device).transpose()
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn decide_device_code(
        &self,
        device_code_hash: &[u8],
        code_hash: Option<Vec<u8>>,
        now: i64,
    ) -> Result<bool, StorageError> {
        let hash = device_code_hash.to_vec();
        self.run(move |conn| {
            // Decided by the update that finds it live and undecided: once, under any race.
            let undecided = waiting(now).filter(d::device_code_hash.eq(hash));
            let n = match code_hash {
                Some(code) => {
                    crate::cached::update(undecided, (d::approved_at.eq(Some(now)), d::code_hash.eq(Some(code))))
                        .execute(conn)?
                }
                None => crate::cached::update(undecided, d::denied_at.eq(Some(now))).execute(conn)?,
            };
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }
}

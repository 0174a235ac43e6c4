//! Signing keys ([`KeyStore`]).

use authorization_server::storage::{KeyStore, StoredKey};
use diesel::prelude::*;
use domain::{SigningAlg, StorageError};

use crate::schema::signing_keys;
use crate::{Store, StoreError};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, treat_none_as_default_value = false)]
struct KeyRow {
    kid: String,
    alg: String,
    sealed_private: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl KeyRow {
    fn into_key(self) -> Result<StoredKey, StoreError> {
        Ok(StoredKey {
            alg: SigningAlg::parse(&self.alg)
                .ok_or_else(|| StoreError::Corrupt(format!("signing key {}: unknown alg {:?}", self.kid, self.alg)))?,
            kid: self.kid,
            sealed_private: self.sealed_private,
            public_jwk: self.public_jwk,
            created_at: self.created_at,
            retired_at: self.retired_at,
        })
    }

    fn of(k: StoredKey) -> Self {
        KeyRow {
            kid: k.kid,
            alg: k.alg.as_str().to_owned(),
            sealed_private: k.sealed_private,
            public_jwk: k.public_jwk,
            created_at: k.created_at,
            retired_at: k.retired_at,
        }
    }
}

#[async_trait::async_trait]
impl KeyStore for Store {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StorageError> {
        self.run(|conn| {
            signing_keys::table
                .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
                .select(KeyRow::as_select())
                .load(conn)?
                .into_iter()
                .map(KeyRow::into_key)
                .collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn rotate_signing_keys(&self, new_keys: Vec<StoredKey>, retire_at: i64) -> Result<(), StorageError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                crate::cached::update(
                    signing_keys::table.filter(signing_keys::retired_at.is_null()),
                    signing_keys::retired_at.eq(Some(retire_at)),
                )
                .execute(conn)?;
                for k in new_keys {
                    let row = KeyRow { retired_at: None, ..KeyRow::of(k) };
                    crate::db::execute(conn, diesel::insert_into(signing_keys::table).values(&row))?;
                }
                Ok(())
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn insert_signing_keys(&self, keys: Vec<StoredKey>) -> Result<(), StorageError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                for k in keys {
                    crate::db::execute(conn, diesel::insert_into(signing_keys::table).values(&KeyRow::of(k)))?;
                }
                Ok(())
            })
        })
        .await
        .map_err(Into::into)
    }
}

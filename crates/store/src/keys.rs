use diesel::prelude::*;

use crate::schema::signing_keys;
use crate::{Store, StoreError};

/// A signing key as stored: the private half sealed under the master key, the public half as a JWK.
#[derive(Clone, Debug)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub sealed_private: Vec<u8>,
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    alg: String,
    sealed_private: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl From<KeyRow> for StoredKey {
    fn from(r: KeyRow) -> Self {
        StoredKey {
            kid: r.kid,
            alg: r.alg,
            sealed_private: r.sealed_private,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            retired_at: r.retired_at,
        }
    }
}

impl Store {
    /// Every key, newest first.
    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.run(|conn| {
            Ok(signing_keys::table
                .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
                .select(KeyRow::as_select())
                .load(conn)?
                .into_iter()
                .map(StoredKey::from)
                .collect())
        })
        .await
    }

    /// Publishes `new_keys` and sets every unretired key to retire at `retire_at`, in one
    /// transaction, so there is never a moment with no signing key.
    pub async fn rotate_signing_keys(&self, new_keys: Vec<StoredKey>, retire_at: i64) -> Result<(), StoreError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                diesel::update(signing_keys::table.filter(signing_keys::retired_at.is_null()))
                    .set(signing_keys::retired_at.eq(Some(retire_at)))
                    .execute(conn)?;
                for k in new_keys {
                    let row = KeyRow {
                        kid: k.kid,
                        alg: k.alg,
                        sealed_private: k.sealed_private,
                        public_jwk: k.public_jwk,
                        created_at: k.created_at,
                        retired_at: None,
                    };
                    diesel::insert_into(signing_keys::table).values(&row).execute(conn)?;
                }
                Ok(())
            })
        })
        .await
    }
}

impl Store {
    pub async fn insert_signing_keys(&self, keys: Vec<StoredKey>) -> Result<(), StoreError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                for k in keys {
                    let row = KeyRow {
                        kid: k.kid,
                        alg: k.alg,
                        sealed_private: k.sealed_private,
                        public_jwk: k.public_jwk,
                        created_at: k.created_at,
                        retired_at: k.retired_at,
                    };
                    diesel::insert_into(signing_keys::table).values(&row).execute(conn)?;
                }
                Ok(())
            })
        })
        .await
    }
}

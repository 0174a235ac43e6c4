//! IP addresses blocked after too many wrong codes: for one account, or for every account. Kept in
//! SQL so every node sees them and an operator can list and lift them.

use diesel::prelude::*;
use domain::StorageError;
use passwordless_connection::storage::{BlockScope, BlockStore, IpBlock, NewBlock};

use crate::schema::ip_blocks;
use crate::{Store, StoreError};

/// The `account` column: the keyed hash of the account's address, or empty for every account.
fn account_column(scope: &BlockScope) -> &str {
    match scope {
        BlockScope::Account(hash) => hash,
        BlockScope::AllAccounts => "",
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = ip_blocks, treat_none_as_default_value = false)]
struct BlockRow {
    id: String,
    ip: String,
    account: String,
    reason: String,
    unblock_hash: Option<Vec<u8>>,
    created_at: i64,
    expires_at: i64,
    lifted_at: Option<i64>,
}

impl BlockRow {
    fn into_block(self) -> IpBlock {
        IpBlock {
            id: self.id,
            ip: self.ip,
            scope: if self.account.is_empty() { BlockScope::AllAccounts } else { BlockScope::Account(self.account) },
            reason: self.reason,
            created_at: self.created_at,
            expires_at: self.expires_at,
            lifted_at: self.lifted_at,
        }
    }
}

impl Store {
    /// Active blocks, newest first.
    pub async fn active_blocks(&self, now: i64) -> Result<Vec<IpBlock>, StoreError> {
        self.run(move |conn| {
            Ok(ip_blocks::table
                .filter(ip_blocks::lifted_at.is_null())
                .filter(ip_blocks::expires_at.gt(now))
                .order((ip_blocks::created_at.desc(), ip_blocks::id.desc()))
                .select(BlockRow::as_select())
                .load(conn)?
                .into_iter()
                .map(BlockRow::into_block)
                .collect())
        })
        .await
    }

    /// Lifts the active blocks of `ip` (every account's); returns how many.
    pub async fn lift_blocks_of_ip(&self, ip: &str, now: i64) -> Result<usize, StoreError> {
        let ip = ip.to_owned();
        self.run(move |conn| {
            Ok(crate::cached::update(
                ip_blocks::table
                    .filter(ip_blocks::ip.eq(ip))
                    .filter(ip_blocks::lifted_at.is_null())
                    .filter(ip_blocks::expires_at.gt(now)),
                ip_blocks::lifted_at.eq(Some(now)),
            )
            .execute(conn)?)
        })
        .await
    }
}

#[async_trait::async_trait]
impl BlockStore for Store {
    async fn insert_block(&self, new: NewBlock) -> Result<Option<String>, StorageError> {
        self.run(move |conn| conn.transaction(|conn| insert_block_in(conn, new))).await.map_err(Into::into)
    }

    async fn insert_block_audited(
        &self,
        new: NewBlock,
        audit: domain::audit::AuditEntry<passwordless_connection::storage::ConnectionAudit>,
    ) -> Result<Option<String>, StorageError> {
        self.run(move |conn| {
            conn.transaction(|conn| {
                let id = insert_block_in(conn, new)?;
                if id.is_some() {
                    crate::audit::insert(conn, &audit)?;
                }
                Ok(id)
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn is_blocked(&self, ip: &str, account: &str, now: i64) -> Result<bool, StorageError> {
        let (ip, account) = (ip.to_owned(), account.to_owned());
        self.read(move |conn| {
            let n: i64 = crate::db::on_backend!(conn, |c| {
                ip_blocks::table
                    .filter(ip_blocks::ip.eq(&ip))
                    .filter(ip_blocks::account.eq(&account).or(ip_blocks::account.eq("")))
                    .filter(ip_blocks::lifted_at.is_null())
                    .filter(ip_blocks::expires_at.gt(now))
                    .count()
                    .get_result(c)
            })?;
            Ok(n > 0)
        })
        .await
        .map_err(Into::into)
    }

    async fn block_by_unblock_hash(&self, hash: Vec<u8>, now: i64) -> Result<Option<IpBlock>, StorageError> {
        self.run(move |conn| {
            Ok(ip_blocks::table
                .filter(ip_blocks::unblock_hash.eq(hash))
                .filter(ip_blocks::lifted_at.is_null())
                .filter(ip_blocks::expires_at.gt(now))
                .select(BlockRow::as_select())
                .first(conn)
                .optional()?
                .map(BlockRow::into_block))
        })
        .await
        .map_err(Into::into)
    }

    async fn lift_block_by_unblock_hash(&self, hash: Vec<u8>, now: i64) -> Result<bool, StorageError> {
        self.run(move |conn| {
            let n = crate::cached::update(
                ip_blocks::table
                    .filter(ip_blocks::unblock_hash.eq(hash))
                    .filter(ip_blocks::lifted_at.is_null())
                    .filter(ip_blocks::expires_at.gt(now)),
                ip_blocks::lifted_at.eq(Some(now)),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
        .map_err(Into::into)
    }
}

/// Lifts the active block `id`, inside the caller's transaction; false when none is active.
pub(crate) fn lift_in(conn: &mut crate::DbConnection, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = crate::cached::update(
        ip_blocks::table.find(id).filter(ip_blocks::lifted_at.is_null()).filter(ip_blocks::expires_at.gt(now)),
        ip_blocks::lifted_at.eq(Some(now)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Blocks an IP unless an active block for the same IP and scope exists, on `conn` (in the
/// caller's transaction): the new block's id, or `None`.
fn insert_block_in(conn: &mut crate::DbConnection, new: NewBlock) -> Result<Option<String>, StoreError> {
    let account = account_column(&new.scope).to_owned();
    // A write first (it matches the active blocks and changes nothing): SQLite then
    // holds the write lock for the whole transaction instead of failing to upgrade a
    // read when another writer got in between.
    let existing = crate::cached::update(
        ip_blocks::table
            .filter(ip_blocks::ip.eq(&new.ip))
            .filter(ip_blocks::account.eq(&account))
            .filter(ip_blocks::lifted_at.is_null())
            .filter(ip_blocks::expires_at.gt(new.created_at)),
        ip_blocks::reason.eq(ip_blocks::reason),
    )
    .execute(conn)?;
    if existing > 0 {
        return Ok(None);
    }
    let id = domain::ids::sortable_id();
    let row = BlockRow {
        id: id.clone(),
        ip: new.ip,
        account,
        reason: new.reason,
        unblock_hash: new.unblock_hash,
        created_at: new.created_at,
        expires_at: new.expires_at,
        lifted_at: None,
    };
    crate::db::execute(conn, diesel::insert_into(ip_blocks::table).values(&row))?;
    Ok(Some(id))
}

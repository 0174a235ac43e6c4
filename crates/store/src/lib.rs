//! Ostiary's state. Durable data goes through diesel to SQLite (the embedded default) or PostgreSQL,
//! one code path for both; short-lived counters live in-process or in Redis ([`counters`]).
//!
//! Row types never leave this crate: callers get the plain records defined in each module. Every
//! blocking query runs on tokio's blocking pool through [`Store::run`].
#![forbid(unsafe_code)]

mod account;
mod admin;
mod audit;
pub mod blocks;
mod cached;
pub mod challenges;
pub mod clients;
pub mod counters;
mod db;
mod device_codes;
mod devices;
mod erase;
mod event_views;
pub mod events;
mod factors;
pub mod grants;
mod group_commit;
mod history;
pub mod interactions;
pub mod keys;
mod links;
mod logout_notices;
pub mod messages;
mod oversight;
mod passkeys;
pub mod purge;
mod readers;
pub mod refresh;
mod schema;
pub mod sessions;
pub mod users;

use std::time::Duration;

use diesel::Connection;

pub use db::Backend;
pub(crate) use db::DbConnection;
use events::Routes;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("a database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

/// A query that failed is the database being away (a broken connection, a server shutting down,
/// a lock or serialisation conflict: trying again may work, and callers answer 503), except a row
/// that could not be read back as its type, which is corrupt data (500).
impl From<StoreError> for domain::StorageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(s) => domain::StorageError::Unavailable(s),
            StoreError::Query(e @ diesel::result::Error::DeserializationError(_)) => {
                domain::StorageError::Corrupt(e.to_string())
            }
            StoreError::Query(e) => domain::StorageError::Unavailable(e.to_string()),
            StoreError::Corrupt(s) => domain::StorageError::Corrupt(s),
        }
    }
}

/// The pool of database connections. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<db::Manager>,
    backend: Backend,
    /// SQLite's one connection and its thread, through which every write goes (group commit).
    group: Option<std::sync::Arc<group_commit::GroupCommit>>,
    /// SQLite's read-only connections, for lookups on the caller's thread.
    readers: Option<std::sync::Arc<readers::Readers>>,
    /// Which webhook endpoint wants which events ([`Store::route_events`]).
    routes: std::sync::Arc<std::sync::RwLock<events::Routes>>,
}

impl Store {
    /// Opens the pool and checks that the database answers, so a wrong URL is reported at start-up
    /// in words, not at the first login.
    pub fn connect(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        let backend = Backend::from_url(url).map_err(|e| StoreError::Unavailable(format!("the database URL {e}")))?;
        // SQLite's queries all go through the group-commit thread; its pool only serves migrations.
        let pool_size = if matches!(backend, Backend::Sqlite(_)) { 1 } else { pool_size.max(1) };
        let unreachable =
            |e: r2d2::Error| StoreError::Unavailable(format!("cannot connect to {}: {e}", backend.describe()));
        let pool = r2d2::Pool::builder()
            .max_size(pool_size)
            // No connection is opened in the background to keep a spare: libpq opens PostgreSQL's
            // TLS sessions with OpenSSL, whose exit handler frees what such a connection is still
            // using if the process ends meanwhile (a crash at the end of a CLI command). A new
            // connection is opened only for a caller waiting for it; idle ones close after 10 min.
            .min_idle(Some(0))
            // While the database is away a request waits this long for a connection, then answers 503.
            .connection_timeout(Duration::from_secs(3))
            .build(db::Manager(backend.clone()))
            .map_err(unreachable)?;
        // The first connection, opened now, stays for the first queries.
        drop(pool.get().map_err(unreachable)?);
        let (group, readers) = match backend {
            Backend::Sqlite(_) => (
                Some(std::sync::Arc::new(group_commit::GroupCommit::start(&backend)?)),
                Some(std::sync::Arc::new(readers::Readers::new(&backend))),
            ),
            Backend::Postgres(_) => (None, None),
        };
        Ok(Self { pool, backend, group, readers, routes: Default::default() })
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Applies the pending migrations of this backend; returns how many ran.
    pub fn migrate(&self) -> Result<usize, StoreError> {
        let mut pooled = self.pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        db::run_migrations(&mut pooled.conn).map_err(StoreError::Unavailable)
    }

    /// Whether the database answers a trivial query now (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        use diesel::RunQueryDsl;
        self.run(|conn| diesel::sql_query("SELECT 1").execute(conn).map(|_| ()).map_err(Into::into)).await
    }

    /// Runs a lookup that writes nothing: on SQLite at once on this thread, on a read-only
    /// connection (`readers`); on PostgreSQL on a pooled connection, as `run` does.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.run(f),
            None => self.pooled(f).await,
        }
    }

    /// Runs blocking diesel work off the async executor: on SQLite as a piece of the next
    /// group-commit batch, applied whole or not at all (in a savepoint when it shares its batch);
    /// on PostgreSQL on a pooled connection, outside any transaction unless it opens one.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue(false, group_commit::once(f)).await
    }

    /// Runs `f` as [`Store::run`] does, but `f` may run twice on SQLite, so that its batch needs
    /// no savepoints: a first run that is rolled back with its batch must leave nothing behind
    /// ([`group_commit`]). For the writes every sign-in makes.
    pub(crate) async fn run_repeatable<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        self.queue(true, f).await
    }

    /// [`Store::run`] and [`Store::run_repeatable`]: `f` with the store's event routes, to the
    /// group-commit thread or the pool.
    async fn queue<T, F>(&self, repeatable: bool, mut f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let routes = self.routes();
        let f = move |conn: &mut DbConnection| events::with_routes(Routes::clone(&routes), || f(conn));
        match &self.group {
            Some(group) => group.run(repeatable, f).await,
            None => self.pooled(f).await,
        }
    }

    /// Runs `f` whole or not at all, and perhaps twice, as [`Store::run_repeatable`] does: on
    /// PostgreSQL in a transaction of its own; on SQLite as a piece of a group-commit batch, which
    /// already is applied whole (a transaction of its own there would be a savepoint, and cost its
    /// statements and its journal for nothing).
    pub(crate) async fn atomic<T, F>(&self, mut f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.group {
            Some(_) => self.run_repeatable(f).await,
            None => self.run_repeatable(move |conn| conn.transaction(|conn| f(conn))).await,
        }
    }

    /// Runs `f` once on a pooled connection, on tokio's blocking pool.
    async fn pooled<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut pooled = pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let result = f(&mut pooled.conn);
            pooled.note(&result);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("database task failed: {e}")))?
    }
}

/// A record kept as JSON text. Serialising the records this crate stores cannot fail (they hold no
/// map with non-string keys and no failing `Serialize`), so the fallback is never written.
pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A `claims` column: the user claims a `claims` parameter asked for (OIDC Core §5.5), as JSON;
/// NULL when it asked for none, as almost every request does.
pub(crate) fn claims_column(claims: &authorization_server::ClaimsRequest) -> Option<String> {
    (!claims.is_empty()).then(|| to_json(claims))
}

pub(crate) fn parse_claims(text: Option<&str>, what: &str) -> Result<authorization_server::ClaimsRequest, StoreError> {
    text.map_or(Ok(Default::default()), |t| from_json(t, what))
}

/// An `acr` column.
pub(crate) fn parse_acr(text: &str, what: &str) -> Result<domain::Acr, StoreError> {
    domain::Acr::parse(text).ok_or_else(|| StoreError::Corrupt(format!("{what}: unknown acr {text:?}")))
}

/// An id column: what the id type's own `parse` accepts, or the row is corrupt.
pub(crate) fn parse_id<T>(parse: fn(&str) -> Option<T>, text: &str, what: &str) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::Corrupt(format!("{what}: malformed id")))
}

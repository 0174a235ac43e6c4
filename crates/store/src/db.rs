//! One connection type for both backends, and an r2d2 manager that picks the backend from the URL
//! scheme itself: diesel's `MultiConnection::establish` tries every backend in turn and reports an
//! unreachable PostgreSQL as "invalid connection url".

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// `on_backend!(conn, |c| body)`: `body` run on the backend's own connection (`c` is a
/// `PgConnection` or a `SqliteConnection`), written once and compiled for each. Through the
/// `MultiConnection` wrapper every run of a statement writes its whole SQL text again two or three
/// times, even when the statement is prepared already (docs/performance.md); on the backend's own
/// connection a statement of fixed shape is found in the cache by its type, and only its binds are
/// collected. For reads, whose rows' types name their backend; writes go through [`execute`].
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Pg($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// A write run on the backend's own connection, as [`on_backend!`] runs a read: an insert or an
/// update names no backend in its type, so one function serves both (`cached::Update::execute`
/// calls it too).
pub(crate) fn execute<Q>(conn: &mut DbConnection, query: Q) -> QueryResult<usize>
where
    Q: ExecuteDsl<diesel::PgConnection> + ExecuteDsl<diesel::SqliteConnection>,
{
    match conn {
        DbConnection::Pg(c) => ExecuteDsl::execute(query, c),
        DbConnection::Sqlite(c) => ExecuteDsl::execute(query, c),
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Where the data lives, decided once from the configured URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres(String),
    /// A file path. Its parent directory is created on first use.
    Sqlite(String),
}

impl Backend {
    /// `postgres://…` / `postgresql://…` is PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a bare path is SQLite.
    pub fn from_url(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("is empty; give a SQLite file path or a postgres:// URL".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(url.to_owned()));
        }
        if let Some((scheme, _)) = url.split_once("://")
            && scheme != "sqlite"
        {
            return Err(format!("uses the unsupported scheme `{scheme}`; use a SQLite file path or postgres://"));
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        if path.is_empty() || path == ":memory:" {
            return Err("must name a SQLite file (an in-memory database would lose every write)".into());
        }
        Ok(Backend::Sqlite(path.to_owned()))
    }

    pub fn describe(&self) -> String {
        match self {
            Backend::Postgres(url) => {
                let redacted = url::redact(url);
                format!("PostgreSQL at {redacted}")
            }
            Backend::Sqlite(path) => format!("SQLite file {path}"),
        }
    }

    pub(crate) fn connect(&self) -> Result<DbConnection, ConnectionError> {
        match self {
            Backend::Postgres(url) => Ok(DbConnection::Pg(diesel::PgConnection::establish(url)?)),
            Backend::Sqlite(path) => {
                if let Some(parent) = std::path::Path::new(path).parent()
                    && !parent.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        ConnectionError::BadConnection(format!("cannot create directory {}: {e}", parent.display()))
                    })?;
                }
                let mut conn = diesel::SqliteConnection::establish(path)?;
                // WAL lets readers run beside the writer; synchronous=FULL makes an acknowledged write durable
                // (https://sqlite.org/pragma.html#pragma_synchronous); busy_timeout queues writers instead of failing.
                // temp_store=MEMORY keeps a savepoint's sub-journal (each group-commit job runs in one) in
                // memory: past 64 KiB SQLite spilled it to a temporary file, opened, written, unlinked and
                // closed within the commit. It only undoes a savepoint; durability is the WAL's.
                // wal_autocheckpoint = 10000 pages (40 MiB of WAL at 4 KiB pages, SQLite's default is
                // 1000): a checkpoint copies each page changed since the last one back into the database
                // once, however often it changed, so rarer checkpoints copy fewer pages per write (11 %
                // fewer bytes written per sign-in, docs/performance.md).
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                     PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 10000;",
                )
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

mod url {
    /// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
    pub fn redact(url: &str) -> String {
        match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => {
                let creds = &url[s + 3..at];
                match creds.split_once(':') {
                    Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                    None => url.to_owned(),
                }
            }
            _ => url.to_owned(),
        }
    }
}

pub struct Manager(pub Backend);

/// A pooled connection, with when the database last answered on it and whether it was lost.
pub struct Pooled {
    pub(crate) conn: DbConnection,
    answered_at: Instant,
    lost: bool,
}

/// A connection that answered this recently is handed out without a liveness query first: under
/// load that query would double the round trips to the database (HikariCP's `aliveBypassWindowMs`
/// is the same rule, 500 ms). One that did not is checked, so after an outage an idle pool does not
/// hand out dead connections.
const ALIVE_WITHOUT_CHECK: Duration = Duration::from_millis(500);

impl Pooled {
    /// Notes what a piece of work found: any answer from the database (a row, a constraint refused)
    /// shows the connection alive; any other failure marks it lost, and the pool drops it.
    pub(crate) fn note<T>(&mut self, result: &Result<T, crate::StoreError>) {
        use diesel::result::{DatabaseErrorKind as Kind, Error};
        let answered = match result {
            Ok(_) | Err(crate::StoreError::Corrupt(_)) => true,
            Err(crate::StoreError::Query(e)) => match e {
                Error::NotFound | Error::DeserializationError(_) | Error::RollbackTransaction => true,
                Error::DatabaseError(kind, _) => {
                    !matches!(kind, Kind::ClosedConnection | Kind::UnableToSendCommand | Kind::Unknown)
                }
                _ => false,
            },
            Err(crate::StoreError::Unavailable(_)) => false,
        };
        match answered {
            true => self.answered_at = Instant::now(),
            false => self.lost = true,
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = ConnectionError;

    fn connect(&self) -> Result<Pooled, ConnectionError> {
        Ok(Pooled { conn: self.0.connect()?, answered_at: Instant::now(), lost: false })
    }

    fn is_valid(&self, pooled: &mut Pooled) -> Result<(), ConnectionError> {
        if pooled.answered_at.elapsed() < ALIVE_WITHOUT_CHECK {
            return Ok(());
        }
        pooled.conn.batch_execute("SELECT 1").map_err(ConnectionError::CouldntSetupConfiguration)?;
        pooled.answered_at = Instant::now();
        Ok(())
    }

    fn has_broken(&self, pooled: &mut Pooled) -> bool {
        pooled.lost
    }
}

pub(crate) fn run_migrations(conn: &mut DbConnection) -> Result<usize, String> {
    let applied = match conn {
        DbConnection::Pg(c) => {
            // Several nodes may start at once: a session-level advisory lock lets one migrate while
            // the others wait, then find nothing left to do.
            c.batch_execute("SELECT pg_advisory_lock(7242011)").map_err(|e| e.to_string())?;
            let result = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()).map_err(|e| e.to_string());
            c.batch_execute("SELECT pg_advisory_unlock(7242011)").map_err(|e| e.to_string())?;
            result?
        }
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| e.to_string())?.len(),
    };
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_from_the_scheme() {
        assert!(matches!(Backend::from_url("postgres://localhost/x"), Ok(Backend::Postgres(_))));
        assert!(matches!(Backend::from_url("postgresql://localhost/x"), Ok(Backend::Postgres(_))));
        assert_eq!(Backend::from_url("./data/o.db"), Ok(Backend::Sqlite("./data/o.db".into())));
        assert_eq!(Backend::from_url("sqlite://data/o.db"), Ok(Backend::Sqlite("data/o.db".into())));
        assert!(Backend::from_url("mysql://x").is_err());
        assert!(Backend::from_url("").is_err());
        assert!(Backend::from_url(":memory:").is_err());
    }

    /// `.cargo/config.toml` builds SQLite with its query planner stability guarantee: without it,
    /// SQLite compiles every statement with a `LIMIT ?` again each time it runs (docs/performance.md).
    #[test]
    fn sqlite_is_built_with_the_query_planner_stability_guarantee() {
        use diesel::RunQueryDsl;
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        let used: i32 =
            diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("sqlite_compileoption_used('ENABLE_QPSG')"))
                .get_result(&mut conn)
                .unwrap();
        assert_eq!(used, 1, "SQLite was built without SQLITE_ENABLE_QPSG (LIBSQLITE3_FLAGS)");
    }

    /// A pooled connection is dropped after a failure that is not the database's answer, and kept
    /// after one that is (nothing found, a constraint refused).
    #[test]
    fn a_connection_is_dropped_only_when_it_was_lost() {
        use diesel::result::{DatabaseErrorKind, Error};
        use r2d2::ManageConnection;
        let path = std::env::temp_dir().join(format!("ostiary-pooled-{}.db", domain::secret::random_token(8)));
        let manager = Manager(Backend::Sqlite(path.display().to_string()));
        let mut pooled = manager.connect().unwrap();
        let refused = || Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new("taken".to_owned()));
        pooled.note::<()>(&Err(crate::StoreError::Query(Error::NotFound)));
        pooled.note::<()>(&Err(crate::StoreError::Query(refused())));
        assert!(!manager.has_broken(&mut pooled));
        assert!(manager.is_valid(&mut pooled).is_ok());
        let closed = Error::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new("gone".to_owned()));
        pooled.note::<()>(&Err(crate::StoreError::Query(closed)));
        assert!(manager.has_broken(&mut pooled));
        let mut other = manager.connect().unwrap();
        other.note::<()>(&Err(crate::StoreError::Unavailable("timeout".into())));
        assert!(manager.has_broken(&mut other));
        drop((pooled, other));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn passwords_are_redacted_from_descriptions() {
        let b = Backend::from_url("postgres://ann:hunter2@db/ostiary").unwrap();
        assert!(!b.describe().contains("hunter2"));
    }
}

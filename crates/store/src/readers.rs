//! SQLite reads on the caller's thread. In WAL mode a reader never waits for the writer, so a
//! lookup (an interaction, a client, a session) needs neither the hand-off to the group-commit
//! thread and back nor a commit: it runs at once on one of a few read-only connections. Every
//! write still goes through the group-commit thread; a reader that tried one would fail
//! (`PRAGMA query_only`).
//!
//! Each statement of a lookup is a read transaction of its own (SQLite's autocommit), as each is
//! on PostgreSQL under READ COMMITTED, where the same lookups run outside any transaction: the
//! store's code already holds on both backends without one snapshot across its statements. An
//! explicit `BEGIN` and `COMMIT` around each lookup cost two statements parsed by `sqlite3_exec`,
//! about 4 % of a sign-in's instructions (docs/performance.md). A statement's read transaction
//! ends when diesel resets it, before the lookup returns, so no snapshot outlives its lookup.
//!
//! A read after a write that was acknowledged sees it: nothing is acknowledged before its commit.

use std::sync::Mutex;

use diesel::connection::SimpleConnection;

use crate::StoreError;
use crate::db::{Backend, DbConnection};

/// Idle connections kept at most: as many as requests read at once on a busy server; more are
/// opened when needed and closed after.
const KEEP: usize = 8;

pub(crate) struct Readers {
    backend: Backend,
    idle: Mutex<Vec<DbConnection>>,
}

impl Readers {
    pub(crate) fn new(backend: &Backend) -> Self {
        Self { backend: backend.clone(), idle: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on this thread, on an idle connection (or a new one).
    pub(crate) fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError>,
    {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = f(&mut conn);
        // A connection whose read failed is not kept: it may be what failed.
        if result.is_ok()
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEEP
        {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> Result<DbConnection, StoreError> {
        let mut conn = self.backend.connect().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        // Not memory-mapped (`mmap_size` stays 0): a read transaction that begins after any commit
        // unmaps the whole file (SQLite's pager drops its map with its page cache whenever the
        // database changed), so each read paid an munmap and page faults: 5 % of a sign-in's CPU.
        // Reading the pages it needs with read(2) makes 12 % more sign-ins per CPU-second
        // (docs/performance.md).
        conn.batch_execute("PRAGMA query_only = ON").map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;
    use diesel::connection::SimpleConnection;

    use super::*;

    #[derive(diesel::QueryableByName)]
    struct X {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        x: i32,
    }

    /// What `PRAGMA wal_checkpoint` answers.
    #[derive(diesel::QueryableByName)]
    struct Checkpoint {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        busy: i32,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        log: i32,
    }

    fn count(conn: &mut DbConnection) -> Result<i64, StoreError> {
        let query = diesel::dsl::sql::<diesel::sql_types::BigInt>("(SELECT count(*) FROM t)");
        Ok(diesel::select(query).get_result(conn)?)
    }

    #[test]
    fn a_reader_sees_every_commit_and_writes_nothing() {
        let path = std::env::temp_dir().join(format!("ostiary-readers-{}.db", domain::secret::random_token(8)));
        let backend = Backend::Sqlite(path.display().to_string());
        let mut writer = backend.connect().unwrap();
        writer.batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);").unwrap();
        let readers = Readers::new(&backend);
        assert_eq!(readers.run(count).unwrap(), 1);
        // The same (pooled) reader sees a commit made after its first read.
        writer.batch_execute("INSERT INTO t VALUES (2)").unwrap();
        assert_eq!(readers.run(count).unwrap(), 2);
        let write = readers.run(|conn| Ok(conn.batch_execute("INSERT INTO t VALUES (3)")?));
        assert!(write.is_err(), "a reader wrote");
        assert_eq!(readers.run(count).unwrap(), 2);
        // No lookup keeps a read transaction open once it returned, a lookup of several rows
        // neither: a checkpoint that waits for no reader moves the whole log into the database.
        let rows = readers.run(|conn| Ok(diesel::sql_query("SELECT x FROM t").load::<X>(conn)?)).unwrap();
        assert_eq!(rows.len(), 2);
        writer.batch_execute("INSERT INTO t VALUES (4)").unwrap();
        let done = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").get_result::<Checkpoint>(&mut writer).unwrap();
        assert_eq!((done.busy, done.log), (0, 0), "a reader still held a snapshot");
        assert_eq!(readers.run(count).unwrap(), 3);
        drop((writer, readers));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

//! Group commit for SQLite: one connection on one thread runs every query of the process. The
//! work that queues up while a commit is being made to disk runs in the next transaction, each
//! piece in its own savepoint, and that transaction's one commit (one fsync of the WAL, with
//! `synchronous = FULL`) makes them all durable at once. No caller hears of its result before that
//! commit: an acknowledged write is on disk, and a failed commit fails every piece of its batch.
//!
//! Besides sharing fsyncs, the one long-lived connection keeps diesel's prepared-statement cache
//! warm, and no pool checkout (with its liveness query) happens per query. PostgreSQL does not go
//! through here: its server already groups concurrent commits, and its connections run in parallel.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use diesel::Connection;

use crate::StoreError;
use crate::db::{Backend, DbConnection};

/// Pieces of work one transaction takes at most: enough to share an fsync among every request a
/// busy server has in flight, small enough that one batch never holds the writer long.
const MAX_BATCH: usize = 128;

/// What a piece of work hands back once its transaction has been committed (or not).
type Deliver = Box<dyn FnOnce(Result<(), String>) + Send>;
/// Runs a piece of work (in a savepoint of its own when asked) and says whether it panicked and
/// whether it failed.
type Job = Box<dyn FnOnce(&mut DbConnection, bool) -> (Deliver, Ran) + Send>;

#[derive(Clone, Copy)]
struct Ran {
    panicked: bool,
    failed: bool,
}

/// The queue to the SQLite thread. Cheap to share; the thread stops when the last handle is dropped.
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Opens the connection and starts its thread.
    pub(crate) fn start(backend: &Backend) -> Result<Self, StoreError> {
        let conn = backend.connect().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let backend = backend.clone();
        std::thread::Builder::new()
            .name("ostiary-sqlite".into())
            .spawn(move || serve(conn, &backend, &queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next batch, in a savepoint of its own (rolled back if `f` fails), and
    /// answers once the batch is committed.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn, savepoint| {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match savepoint {
                true => conn.transaction(f),
                false => f(conn),
            }));
            let panicked = outcome.is_err();
            let result = outcome.unwrap_or_else(|_| Err(StoreError::Unavailable("a database task failed".into())));
            let failed = result.is_err();
            let deliver: Deliver = Box::new(move |committed| {
                let _ = tx.send(committed.map_err(StoreError::Unavailable).and(result));
            });
            (deliver, Ran { panicked, failed })
        });
        let stopped = || StoreError::Unavailable("the database thread has stopped".into());
        self.jobs.send(job).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The thread: takes what is queued, runs it in one transaction, commits, answers, and again.
fn serve(mut conn: DbConnection, backend: &Backend, queue: &mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        // The first piece woke this thread at once, often before its sender (or anyone else) could
        // queue more. Giving the core back once lets the request threads run on and queue theirs,
        // so they share this commit: under 64 sign-ins on one core, a batch of 4.7 pieces became 7.2,
        // and a sign-in 4 to 6 % cheaper in CPU (docs/performance.md). When nothing else is
        // runnable, this returns at once.
        std::thread::yield_now();
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut delivers = Vec::with_capacity(batch.len());
        let (mut broken, mut alone_failed) = (false, false);
        // A piece alone in its batch needs no savepoint: the transaction is its own, and is rolled
        // back if it fails.
        let alone = batch.len() == 1;
        let outcome = conn.transaction::<(), diesel::result::Error, _>(|conn| {
            for job in batch {
                let (deliver, ran) = job(conn, !alone);
                delivers.push(deliver);
                broken |= ran.panicked;
                alone_failed = alone && ran.failed;
            }
            // A piece that panicked may have left its savepoint open: nothing of this batch is kept.
            if broken || alone_failed { Err(diesel::result::Error::RollbackTransaction) } else { Ok(()) }
        });
        // A lone piece that failed hears of its own error, as it would from its savepoint.
        let committed = match alone_failed && !broken {
            true => Ok(()),
            false => outcome.map_err(|e| format!("the transaction could not be committed: {e}")),
        };
        // Their ratio is the mean batch: how many pieces of work share a commit (and its fsync).
        metrics::counter!("ostiary_sqlite_transactions_total").increment(1);
        metrics::counter!("ostiary_sqlite_jobs_total").increment(delivers.len() as u64);
        if let Err(e) = &committed {
            tracing::error!(error = %e, pieces = delivers.len(), "a database batch failed; each request in it was refused");
        }
        for deliver in delivers {
            deliver(committed.clone());
        }
        if broken || committed.is_err() {
            // Start again from a fresh connection rather than trust one left in an unknown state.
            match backend.connect() {
                Ok(fresh) => conn = fresh,
                Err(e) => tracing::error!(error = %e, "the database connection could not be reopened"),
            }
        }
    }
}

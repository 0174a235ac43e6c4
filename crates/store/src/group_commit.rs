//! Group commit for SQLite: one connection on one thread runs every query of the process. The
//! work that queues up while a commit is being made to disk runs in the next transaction, and that
//! transaction's one commit (one fsync of the WAL, with `synchronous = FULL`) makes them all
//! durable at once. No caller hears of its result before that commit: an acknowledged write is on
//! disk, and a failed commit fails every piece of its batch.
//!
//! Each piece is applied whole or not at all. A batch first runs its pieces one after the other
//! with nothing between them; if one fails, the transaction is rolled back and the batch runs
//! again, each piece in a savepoint of its own, so that the failed piece's writes are undone and
//! the others' kept. Pieces rarely fail, and a savepoint costs its `SAVEPOINT` and `RELEASE`
//! statements and a copy of each page the piece changes (the statement journal): about 3 % of a
//! sign-in's instructions when every piece paid them (docs/performance.md). Such a piece must be
//! able to run twice, its first run, when rolled back, leaving nothing behind. A piece that can
//! run only once ([`once`]) makes its batch run in savepoints from the start.
//!
//! Besides sharing fsyncs, the one long-lived connection keeps diesel's prepared-statement cache
//! warm, and no pool checkout (with its liveness query) happens per query. PostgreSQL does not go
//! through here: its server already groups concurrent commits, and its connections run in parallel.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use diesel::Connection;
use diesel::connection::TransactionManager;

use crate::StoreError;
use crate::db::{Backend, DbConnection};

/// Pieces of work one transaction takes at most: enough to share an fsync among every request a
/// busy server has in flight, small enough that one batch never holds the writer long.
const MAX_BATCH: usize = 128;

/// A piece of work waiting for its batch.
trait Job: Send {
    /// Runs the piece (in a savepoint of its own when asked), keeping its result until the batch
    /// is committed; a later run replaces an earlier one's.
    fn run(&mut self, conn: &mut DbConnection, savepoint: bool) -> Ran;
    /// Whether the piece may run again after a run that was rolled back.
    fn repeatable(&self) -> bool;
    /// Hands the piece's result to its caller once its transaction was committed (or not).
    fn deliver(self: Box<Self>, committed: Result<(), String>);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ran {
    Ok,
    Failed,
    Panicked,
}

struct Piece<T, F> {
    work: F,
    /// Whether the piece may run again after a run that was rolled back ([`once`] pieces not).
    repeatable: bool,
    result: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Piece<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConnection, savepoint: bool) -> Ran {
        let (ran, result) = run_piece(conn, savepoint, &mut self.work);
        self.result = Some(result);
        ran
    }

    fn repeatable(&self) -> bool {
        self.repeatable
    }

    fn deliver(self: Box<Self>, committed: Result<(), String>) {
        let result = self.result.unwrap_or_else(|| Err(StoreError::Unavailable("the batch stopped before it".into())));
        let _ = self.reply.send(committed.map_err(StoreError::Unavailable).and(result));
    }
}

/// Work that can run only once, as a piece: given to [`GroupCommit::run`] as not repeatable, its
/// batch runs in savepoints from the start, so it is never asked to run a second time.
pub(crate) fn once<T>(
    work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> impl FnMut(&mut DbConnection) -> Result<T, StoreError> {
    let mut work = Some(work);
    move |conn| match work.take() {
        Some(work) => work(conn),
        None => Err(StoreError::Unavailable("a database task was asked to run twice".into())),
    }
}

/// Runs a piece's work, in a savepoint of its own when asked, catching a panic.
fn run_piece<T>(
    conn: &mut DbConnection,
    savepoint: bool,
    work: impl FnOnce(&mut DbConnection) -> Result<T, StoreError>,
) -> (Ran, Result<T, StoreError>) {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| match savepoint {
        true => conn.transaction(work),
        false => work(conn),
    }));
    match outcome {
        Ok(Ok(value)) => (Ran::Ok, Ok(value)),
        Ok(Err(e)) => (Ran::Failed, Err(e)),
        Err(_) => (Ran::Panicked, Err(StoreError::Unavailable("a database task failed".into()))),
    }
}

/// The queue to the SQLite thread. Cheap to share; the thread stops when the last handle is dropped.
pub(crate) struct GroupCommit {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl GroupCommit {
    /// Opens the connection and starts its thread.
    pub(crate) fn start(backend: &Backend) -> Result<Self, StoreError> {
        let conn = backend.connect().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let backend = backend.clone();
        std::thread::Builder::new()
            .name("ostiary-sqlite".into())
            .spawn(move || serve(conn, &backend, &queue))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the database thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next batch, whole or not at all, and answers once the batch is committed.
    /// A `repeatable` `f` may run twice (see the module's comment): a failed first run is rolled
    /// back. One that is not ([`once`]) puts its batch in savepoints from the start.
    pub(crate) async fn run<T, F>(&self, repeatable: bool, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::Unavailable("the database thread has stopped".into());
        self.jobs.send(Box::new(Piece { work: f, repeatable, result: None, reply })).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The thread: takes what is queued, runs it in one transaction, commits, answers, and again.
fn serve(mut conn: DbConnection, backend: &Backend, queue: &mpsc::Receiver<Box<dyn Job>>) {
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
        // A piece alone in its batch is its own transaction, rolled back if it fails: no savepoint
        // and no second run. A batch of several runs again in savepoints when a piece failed, or
        // in savepoints from the start when a piece of it cannot run twice.
        let shared = batch.len() > 1;
        let savepoints = shared && !batch.iter().all(|job| job.repeatable());
        let mut ran = run_batch(&mut conn, &mut batch, savepoints);
        if shared && matches!(ran, Batch::Failed) {
            metrics::counter!("ostiary_sqlite_batches_run_again_total").increment(1);
            ran = run_batch(&mut conn, &mut batch, true);
        }
        let committed = match ran {
            Batch::Committed(Ok(())) => Ok(()),
            Batch::Committed(Err(e)) => Err(format!("the transaction could not be committed: {e}")),
            // A lone piece that failed hears of its own error, as it would from a savepoint.
            Batch::Failed => Ok(()),
            Batch::Broken => Err("a piece of its work panicked, or its rollback failed".into()),
        };
        // Their ratio is the mean batch: how many pieces of work share a commit (and its fsync).
        metrics::counter!("ostiary_sqlite_transactions_total").increment(1);
        metrics::counter!("ostiary_sqlite_jobs_total").increment(batch.len() as u64);
        if let Err(e) = &committed {
            tracing::error!(error = %e, pieces = batch.len(), "a database batch failed; each request in it was refused");
        }
        let broken = committed.is_err();
        for job in batch {
            job.deliver(committed.clone());
        }
        if broken {
            // Start again from a fresh connection rather than trust one left in an unknown state.
            match backend.connect() {
                Ok(fresh) => conn = fresh,
                Err(e) => tracing::error!(error = %e, "the database connection could not be reopened"),
            }
        }
    }
}

/// How a run of a batch ended.
enum Batch {
    /// Every piece ran (or failed in its own savepoint), and this is what the commit said.
    Committed(Result<(), diesel::result::Error>),
    /// A piece failed outside any savepoint, and the transaction was rolled back.
    Failed,
    /// A piece panicked (it may have left its savepoint open), or the rollback after a failed piece
    /// failed too (SQLite may have ended the transaction itself, after a full disk or an I/O
    /// error): nothing of this batch is kept, and the connection is opened again.
    Broken,
}

/// Runs `batch` in one transaction, each piece in a savepoint when `savepoints`; without them the
/// first piece that fails rolls the whole transaction back.
fn run_batch(conn: &mut DbConnection, batch: &mut [Box<dyn Job>], savepoints: bool) -> Batch {
    let mut stop = None;
    let outcome = conn.transaction::<(), diesel::result::Error, _>(|conn| {
        for job in batch.iter_mut() {
            match job.run(conn, savepoints) {
                Ran::Ok => {}
                Ran::Failed if savepoints => {}
                Ran::Failed => {
                    stop = Some(Batch::Failed);
                    break;
                }
                Ran::Panicked => {
                    stop = Some(Batch::Broken);
                    break;
                }
            }
        }
        if stop.is_some() { Err(diesel::result::Error::RollbackTransaction) } else { Ok(()) }
    });
    match stop {
        None => Batch::Committed(outcome),
        // diesel answers the piece's own error even when the rollback found its state broken.
        Some(_) if !matches!(outcome, Err(diesel::result::Error::RollbackTransaction)) || depth(conn) != Some(0) => {
            Batch::Broken
        }
        Some(stop) => stop,
    }
}

/// How many transactions and savepoints are open on `conn`; `None` when diesel lost track of them.
fn depth(conn: &mut DbConnection) -> Option<u32> {
    let status = <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn);
    status.transaction_depth().ok().map(|open| open.map_or(0, |n| n.get()))
}

#[cfg(test)]
mod tests;

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
//! able to run twice, its first run, when rolled back, leaving nothing behind ([`GroupCommit::run`]).
//! A piece that can run only once ([`GroupCommit::run_once`]) makes its batch run in savepoints
//! from the start.
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
        true
    }

    fn deliver(self: Box<Self>, committed: Result<(), String>) {
        reply(self.reply, committed, self.result);
    }
}

/// A piece that runs once: its batch runs in savepoints from the start.
struct Once<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Job for Once<T, F>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConnection, savepoint: bool) -> Ran {
        let (ran, result) = match self.work.take() {
            Some(work) => run_piece(conn, savepoint, work),
            // Not reached: a batch with this piece in it never runs twice.
            None => (Ran::Failed, Err(StoreError::Unavailable("a database task was asked to run twice".into()))),
        };
        self.result = Some(result);
        ran
    }

    fn repeatable(&self) -> bool {
        false
    }

    fn deliver(self: Box<Self>, committed: Result<(), String>) {
        reply(self.reply, committed, self.result);
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

/// Tells a piece's caller how it went: its own result once its batch was committed, or why the
/// batch was not.
fn reply<T>(
    to: tokio::sync::oneshot::Sender<Result<T, StoreError>>,
    committed: Result<(), String>,
    result: Option<Result<T, StoreError>>,
) {
    let result = result.unwrap_or_else(|| Err(StoreError::Unavailable("the batch stopped before it".into())));
    let _ = to.send(committed.map_err(StoreError::Unavailable).and(result));
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
    /// `f` may run twice (see the module's comment): a failed first run is rolled back.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::Unavailable("the database thread has stopped".into());
        self.jobs.send(Box::new(Piece { work: f, result: None, reply })).map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs `f` in the next batch, as [`GroupCommit::run`] does, when `f` can run only once: its
    /// batch runs in savepoints from the start.
    pub(crate) async fn run_once<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let stopped = || StoreError::Unavailable("the database thread has stopped".into());
        self.jobs.send(Box::new(Once { work: Some(f), result: None, reply })).map_err(|_| stopped())?;
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
            // A piece that panicked may have left its savepoint open: nothing of this batch is kept.
            Batch::Panicked => Err("a piece of its work panicked".into()),
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
    /// A piece panicked, and the transaction was rolled back.
    Panicked,
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
                    stop = Some(Batch::Panicked);
                    break;
                }
            }
        }
        if stop.is_some() { Err(diesel::result::Error::RollbackTransaction) } else { Ok(()) }
    });
    stop.unwrap_or(Batch::Committed(outcome))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::RunQueryDsl;
    use diesel::connection::{SimpleConnection, TransactionManager};

    use super::*;

    /// How deep in transactions a piece was, each time it ran: 1 in its batch's transaction, 2 in
    /// a savepoint of its own.
    type Depths = Arc<Mutex<Vec<u32>>>;

    /// A piece for a test: the value it inserts, whether it then fails, whether it may run twice.
    struct Test {
        x: i32,
        fails: bool,
        repeatable: bool,
        depths: Depths,
    }

    fn piece(x: i32, fails: bool, repeatable: bool) -> Test {
        Test { x, fails, repeatable, depths: Depths::default() }
    }

    fn depth(conn: &mut DbConnection) -> u32 {
        let status = <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn);
        status.transaction_depth().ok().flatten().map_or(0, |d| d.get())
    }

    fn rows(conn: &mut DbConnection) -> Vec<i32> {
        let query = diesel::dsl::sql::<diesel::sql_types::Integer>("x FROM t ORDER BY x");
        diesel::select(query).load(conn).unwrap()
    }

    /// Runs `pieces` as one batch: the writer is held in a piece of its own while they are
    /// queued, so that they all go into its next transaction. Says which succeeded.
    async fn batch(writer: &Arc<GroupCommit>, pieces: &[Test]) -> Vec<bool> {
        let (hold, held) = mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let w = Arc::clone(writer);
        let holder = tokio::spawn(async move {
            w.run_once(move |_| {
                let _ = started.send(());
                let _ = held.recv();
                Ok(())
            })
            .await
        });
        running.await.unwrap();
        let mut tasks = Vec::new();
        for p in pieces {
            let (x, fails, depths, w) = (p.x, p.fails, Arc::clone(&p.depths), Arc::clone(writer));
            let work = move |conn: &mut DbConnection| {
                depths.lock().unwrap().push(depth(conn));
                conn.batch_execute(&format!("INSERT INTO t VALUES ({x})"))?;
                if fails { Err(StoreError::Corrupt(format!("{x} fails"))) } else { Ok(()) }
            };
            tasks.push(match p.repeatable {
                true => tokio::spawn(async move { w.run(work).await }),
                false => tokio::spawn(async move { w.run_once(work).await }),
            });
        }
        // Every piece is queued before the writer is let go.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        drop(hold);
        holder.await.unwrap().unwrap();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap().is_ok());
        }
        results
    }

    fn depths(pieces: &[Test]) -> Vec<Vec<u32>> {
        pieces.iter().map(|p| p.depths.lock().unwrap().clone()).collect()
    }

    #[tokio::test]
    async fn a_batch_runs_without_savepoints_and_again_in_them_when_a_piece_fails() {
        let path = std::env::temp_dir().join(format!("ostiary-batch-{}.db", domain::secret::random_token(8)));
        let backend = Backend::Sqlite(path.display().to_string());
        let writer = Arc::new(GroupCommit::start(&backend).unwrap());
        writer.run_once(|conn| Ok(conn.batch_execute("CREATE TABLE t (x INTEGER)")?)).await.unwrap();
        let mut conn = backend.connect().unwrap();

        // Pieces that all succeed run once each, in the batch's transaction, with no savepoint.
        let pieces = [piece(1, false, true), piece(2, false, true)];
        assert_eq!(batch(&writer, &pieces).await, [true, true]);
        assert_eq!(depths(&pieces), [vec![1], vec![1]]);
        assert_eq!(rows(&mut conn), [1, 2]);

        // One fails: the first run stops there and is rolled back; the second runs each piece in a
        // savepoint of its own. Each piece hears of its own result, and only the failed one's
        // write is undone.
        let pieces = [piece(3, false, true), piece(4, true, true), piece(5, false, true)];
        assert_eq!(batch(&writer, &pieces).await, [true, false, true]);
        assert_eq!(depths(&pieces), [vec![1, 2], vec![1, 2], vec![2]]);
        assert_eq!(rows(&mut conn), [1, 2, 3, 5]);

        // A piece that can run only once puts its batch in savepoints from the start: it runs once.
        let pieces = [piece(6, false, false), piece(7, true, true), piece(8, false, true)];
        assert_eq!(batch(&writer, &pieces).await, [true, false, true]);
        assert_eq!(depths(&pieces), [vec![2], vec![2], vec![2]]);
        assert_eq!(rows(&mut conn), [1, 2, 3, 5, 6, 8]);

        // A piece alone is its own transaction: rolled back when it fails, and run once.
        let pieces = [piece(9, true, true)];
        assert_eq!(batch(&writer, &pieces).await, [false]);
        assert_eq!(depths(&pieces), [vec![1]]);
        assert_eq!(rows(&mut conn), [1, 2, 3, 5, 6, 8]);

        drop((writer, conn));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

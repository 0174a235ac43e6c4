//! The batches of the group-commit thread: how deep each piece runs, how often, and what is kept.

use std::sync::{Arc, Mutex};

use diesel::RunQueryDsl;
use diesel::connection::SimpleConnection;

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
        w.run(
            false,
            once(move |_| {
                let _ = started.send(());
                let _ = held.recv();
                Ok(())
            }),
        )
        .await
    });
    running.await.unwrap();
    let mut tasks = Vec::new();
    for p in pieces {
        let (x, fails, depths, w) = (p.x, p.fails, Arc::clone(&p.depths), Arc::clone(writer));
        let work = move |conn: &mut DbConnection| {
            depths.lock().unwrap().push(depth(conn).unwrap_or(u32::MAX));
            conn.batch_execute(&format!("INSERT INTO t VALUES ({x})"))?;
            assert!(x >= 0, "a piece that panics");
            if fails { Err(StoreError::Corrupt(format!("{x} fails"))) } else { Ok(()) }
        };
        tasks.push(match p.repeatable {
            true => tokio::spawn(async move { w.run(true, work).await }),
            false => tokio::spawn(async move { w.run(false, work).await }),
        });
    }
    // Every piece is queued before the writer is let go: on the test's one-thread runtime the
    // spawned tasks run, and send their pieces, as soon as this task first waits.
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
    writer.run(false, once(|conn| Ok(conn.batch_execute("CREATE TABLE t (x INTEGER)")?))).await.unwrap();
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

    // A piece that panics: nothing of its batch is kept, and the writer goes on.
    let pieces = [piece(10, false, true), piece(-11, false, true)];
    assert_eq!(batch(&writer, &pieces).await, [false, false]);
    assert_eq!(batch(&writer, &[piece(12, false, true)]).await, [true]);
    assert_eq!(rows(&mut conn), [1, 2, 3, 5, 6, 8, 12]);

    drop((writer, conn));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

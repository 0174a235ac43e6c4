//! Upgrades from every earlier schema version, on both backends: for each migration V, a fresh
//! database is migrated up to V only, seeded with raw SQL in the tables that exist at V (the
//! columns they had then), then upgraded by `Store::migrate` to the newest schema. Every seeded row
//! must still be there, read back through the store as its type, with the columns added since at
//! their defaults (or what a data migration made of them). The newest migration also reverts
//! (`down.sql`) and applies again.
// A failed unwrap is a failed test with its message: that is what tests are for.
#![allow(clippy::unwrap_used)]

#[path = "migrations/seed.rs"]
mod seed;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use store::Store;

const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Migrations, in order, on both backends (the same names).
fn versions() -> Vec<String> {
    let names = |dir: &str| {
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/../../migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    };
    let (sqlite, postgres) = (names("sqlite"), names("postgres"));
    assert_eq!(sqlite, postgres, "both backends have the same migrations");
    assert!(sqlite.len() >= 11, "{sqlite:?}");
    sqlite
}

/// Whether diesel's `version` is the one of the migration directory `name` (`2026-11-25-000001_…`).
fn same_version(name: &str, version: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (prefix, _) = name.split_once('_').unwrap_or((name, ""));
    !version.is_empty() && digits(prefix) == digits(version)
}

/// A connection of either backend, to the database a test made for itself.
enum Conn {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Conn {
    /// Applies the next pending migration; returns its version.
    fn step(&mut self) -> String {
        match self {
            Conn::Sqlite(c) => c.run_next_migration(SQLITE).unwrap().to_string(),
            Conn::Pg(c) => c.run_next_migration(POSTGRES).unwrap().to_string(),
        }
    }

    fn revert_last(&mut self) -> String {
        match self {
            Conn::Sqlite(c) => c.revert_last_migration(SQLITE).unwrap().to_string(),
            Conn::Pg(c) => c.revert_last_migration(POSTGRES).unwrap().to_string(),
        }
    }

    fn execute(&mut self, sql: &str) {
        let result = match self {
            Conn::Sqlite(c) => c.batch_execute(sql),
            Conn::Pg(c) => c.batch_execute(sql),
        };
        result.unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    /// How many rows `table` has.
    fn count(&mut self, table: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let query = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"));
        let count: Count = match self {
            Conn::Sqlite(c) => query.get_result(c),
            Conn::Pg(c) => query.get_result(c),
        }
        .unwrap_or_else(|e| panic!("count {table}: {e}"));
        count.n
    }

    fn is_pg(&self) -> bool {
        matches!(self, Conn::Pg(_))
    }
}

/// A fresh database: a SQLite file in a temporary directory, or a new database on the server of
/// `OSTIARY_TEST_DATABASE_URL`. Removed when dropped.
struct Fresh {
    url: String,
    pg: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl Fresh {
    fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("ostiary-migrations-{}", domain::secret::random_token(9)));
        std::fs::create_dir_all(&dir).unwrap();
        Fresh { url: dir.join("ostiary.db").display().to_string(), pg: None, dir: Some(dir) }
    }

    fn postgres() -> Self {
        let admin = std::env::var("OSTIARY_TEST_DATABASE_URL").expect(
            "OSTIARY_TEST_DATABASE_URL is not set. Run `make test`, which starts a throwaway PostgreSQL, or point it at a server you may create databases on.",
        );
        let name = format!("ostiary_migrations_{}", domain::secret::numeric_code(12));
        let mut conn = PgConnection::establish(&admin).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
        let (base, _) = admin.rsplit_once('/').expect("OSTIARY_TEST_DATABASE_URL names a database");
        Fresh { url: format!("{base}/{name}"), pg: Some((admin, name)), dir: None }
    }

    fn connect(&self) -> Conn {
        match self.pg {
            Some(_) => Conn::Pg(PgConnection::establish(&self.url).unwrap()),
            None => Conn::Sqlite(SqliteConnection::establish(&self.url).unwrap()),
        }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// For every version V: migrate a fresh database to V, seed it, upgrade it with the store, check.
async fn every_earlier_version_upgrades_without_loss(fresh: fn() -> Fresh) {
    let versions = versions();
    for upto in 1..=versions.len() {
        let db = fresh();
        let mut conn = db.connect();
        for expected in &versions[..upto] {
            let applied = conn.step();
            assert!(same_version(expected, &applied), "applied {applied}, expected {expected}");
        }
        let seeded = seed::seed(&mut conn, upto);
        drop(conn);
        let url = db.url.clone();
        let store = tokio::task::spawn_blocking(move || Store::connect(&url, 2).unwrap()).await.unwrap();
        let migrate = store.clone();
        let ran = tokio::task::spawn_blocking(move || migrate.migrate().unwrap()).await.unwrap();
        assert_eq!(ran, versions.len() - upto, "from {}", versions[upto - 1]);
        let mut conn = db.connect();
        for (table, rows) in &seeded {
            assert_eq!(conn.count(table), *rows, "{table} after upgrading from {}", versions[upto - 1]);
        }
        seed::read_back(&store, upto).await;
    }
}

/// The newest migration's `down.sql` runs, and its `up.sql` again after it, on a seeded database.
async fn the_newest_migration_reverts_and_applies_again(fresh: fn() -> Fresh) {
    let versions = versions();
    let db = fresh();
    let mut conn = db.connect();
    for _ in &versions {
        conn.step();
    }
    let seeded = seed::seed(&mut conn, versions.len());
    let reverted = conn.revert_last();
    assert!(same_version(versions.last().unwrap(), &reverted), "reverted {reverted}");
    for (table, rows) in &seeded {
        assert_eq!(conn.count(table), *rows, "{table} after reverting {reverted}");
    }
    drop(conn);
    let url = db.url.clone();
    let store = tokio::task::spawn_blocking(move || Store::connect(&url, 2).unwrap()).await.unwrap();
    let migrate = store.clone();
    assert_eq!(tokio::task::spawn_blocking(move || migrate.migrate().unwrap()).await.unwrap(), 1);
    seed::read_back(&store, versions.len()).await;
}

#[tokio::test]
async fn migrations_from_every_earlier_version_keep_the_data_on_sqlite() {
    every_earlier_version_upgrades_without_loss(Fresh::sqlite).await;
}

#[tokio::test]
async fn migrations_from_every_earlier_version_keep_the_data_on_postgres() {
    every_earlier_version_upgrades_without_loss(Fresh::postgres).await;
}

#[tokio::test]
async fn migrations_revert_the_newest_and_apply_it_again_on_sqlite() {
    the_newest_migration_reverts_and_applies_again(Fresh::sqlite).await;
}

#[tokio::test]
async fn migrations_revert_the_newest_and_apply_it_again_on_postgres() {
    the_newest_migration_reverts_and_applies_again(Fresh::postgres).await;
}

/// The lookups on columns that are NULL in most rows (a phone number, a link, a "not me" report,
/// an admin actor) still use their indexes, which since migration 22 hold only the rows with a
/// value: a partial index the planner could not prove usable would turn each into a full scan.
fn sparse_columns_keep_their_indexes(fresh: fn() -> Fresh) {
    #[derive(diesel::QueryableByName)]
    struct SqlitePlan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    #[derive(diesel::QueryableByName)]
    struct PgPlan {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let db = fresh();
    let mut conn = db.connect();
    for _ in versions() {
        conn.step();
    }
    let lookups = [
        ("users_phone", "SELECT id FROM users WHERE phone = '+14155550123'"),
        ("users_linked_to", "SELECT COUNT(*) FROM users WHERE linked_to = 'u1'"),
        ("login_events_not_me", "SELECT id FROM login_events WHERE not_me_hash = x'0102'"),
        ("audit_log_actor", "SELECT id FROM audit_log WHERE actor = 'admin-1'"),
    ];
    for (index, query) in lookups {
        let plan: Vec<String> = match &mut conn {
            Conn::Sqlite(c) => diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}"))
                .load::<SqlitePlan>(c)
                .unwrap()
                .into_iter()
                .map(|p| p.detail)
                .collect(),
            Conn::Pg(c) => {
                // An empty table is scanned whatever its indexes: ask which index it would use.
                c.batch_execute("SET enable_seqscan = off").unwrap();
                let query = query.replace("x'0102'", "'\\x0102'::bytea");
                diesel::sql_query(format!("EXPLAIN {query}"))
                    .load::<PgPlan>(c)
                    .unwrap()
                    .into_iter()
                    .map(|p| p.line)
                    .collect()
            }
        };
        assert!(plan.iter().any(|line| line.contains(index)), "{query} does not use {index}: {plan:?}");
    }
}

#[test]
fn sparse_columns_keep_their_indexes_on_sqlite() {
    sparse_columns_keep_their_indexes(Fresh::sqlite);
}

#[test]
fn sparse_columns_keep_their_indexes_on_postgres() {
    sparse_columns_keep_their_indexes(Fresh::postgres);
}

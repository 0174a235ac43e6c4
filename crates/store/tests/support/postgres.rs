//! A PostgreSQL database of a test's own, on the server `OSTIARY_TEST_DATABASE_URL` names.

use diesel::{Connection, PgConnection, RunQueryDsl};

/// A new database there: its URL, the server's URL and its name (to drop it with [`drop_database`]).
pub fn fresh(prefix: &str) -> (String, String, String) {
    let admin = std::env::var("OSTIARY_TEST_DATABASE_URL")
        .expect("OSTIARY_TEST_DATABASE_URL is not set: run `make test`, which starts a throwaway PostgreSQL");
    let name = format!("{prefix}_{}", domain::secret::numeric_code(12));
    let mut conn = PgConnection::establish(&admin).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
    let (base, _) = admin.rsplit_once('/').expect("OSTIARY_TEST_DATABASE_URL names a database");
    (format!("{base}/{name}"), admin, name)
}

/// Drops a database made by [`fresh`], closing whatever connections are still open to it.
pub fn drop_database(admin: &str, name: &str) {
    let mut conn = PgConnection::establish(admin).unwrap();
    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).unwrap();
}

//! The PostgreSQL and Redis servers tests use, and a throwaway database per test.

/// The PostgreSQL server tests may create databases on. `make test` sets it (the machine's server,
/// or a throwaway cluster it starts); nothing else is touched.
pub fn postgres_admin_url() -> String {
    std::env::var("OSTIARY_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!("OSTIARY_TEST_DATABASE_URL is not set. Run `make test`, which starts a throwaway PostgreSQL and Redis, or point it at a server you may create databases on.")
    })
}

pub fn redis_url() -> Option<String> {
    std::env::var("OSTIARY_TEST_REDIS_URL").ok().filter(|s| !s.is_empty())
}

fn create_postgres_database(admin: &str) -> (String, String) {
    use diesel::{Connection, RunQueryDsl};
    let name = format!("ostiary_test_{}", domain::secret::random_token(9).to_lowercase().replace(['-', '_'], "x"));
    let mut conn = diesel::PgConnection::establish(admin).expect("connect to OSTIARY_TEST_DATABASE_URL");
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).expect("create test database");
    let mut url = url::Url::parse(admin).expect("OSTIARY_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    (url.to_string(), name)
}

/// A fresh PostgreSQL database on the server of `OSTIARY_TEST_DATABASE_URL`, dropped with the guard.
pub struct PostgresDatabase {
    pub url: String,
    name: String,
}

impl PostgresDatabase {
    pub async fn create() -> Self {
        let admin = postgres_admin_url();
        let (url, name) =
            tokio::task::spawn_blocking(move || create_postgres_database(&admin)).await.expect("create db");
        Self { url, name }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin, name) = (postgres_admin_url(), self.name.clone());
        let _ = std::thread::spawn(move || {
            use diesel::{Connection, RunQueryDsl};
            if let Ok(mut conn) = diesel::PgConnection::establish(&admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
            }
        })
        .join();
    }
}

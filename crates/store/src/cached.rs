//! `UPDATE` statements whose prepared form the connection keeps.
//!
//! diesel keeps a prepared statement per SQL text, but never one for an `UPDATE`: its
//! `UpdateStatement` marks itself unsafe to cache, because a changeset may leave out its `None`
//! fields, so one Rust type can stand for several statements. SQLite parsed and planned each of a
//! sign-in's twelve updates again on every call (`docs/performance.md`). The statement cache is keyed
//! by the SQL text itself (no static query id), so a statement whose text varies is still never
//! confused with another; [`update`] writes the same SQL as `diesel::update(target).set(values)`
//! without that mark. Its parts keep theirs: a `WHERE … IN (…)` over a list (whose length changes
//! the text) is still not kept.
//!
//! [`Update::returning`] adds a `RETURNING` clause, kept prepared as well: the row a conditional
//! update changed comes back with it, where reading it again would be a second statement (on
//! PostgreSQL a second round trip). PostgreSQL has `RETURNING`, SQLite since 3.35
//! (https://sqlite.org/lang_returning.html), where the change is made at the first step.
//!
//! Inserts are kept prepared by diesel itself, provided their SQL text never varies: every row type
//! the store inserts says `treat_none_as_default_value = false`, so a `None` is written as `NULL`.
//! With `DEFAULT` in its place (diesel's default for an `Option` field), diesel marks the `INSERT`
//! unsafe to keep, and PostgreSQL parsed and planned each of a sign-in's seven inserts, sent unnamed,
//! on every call (on SQLite a `None` left its column out, one SQL text per combination). The two are
//! the same rows: no nullable column of any table has a default other than `NULL`, and an `Option`
//! field for a `NOT NULL` column does not compile with the attribute.

use diesel::backend::Backend;
use diesel::query_builder::{AsChangeset, AstPass, IntoUpdateTarget, Query, QueryFragment, QueryId, UpdateTarget};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_source::QuerySource;
use diesel::{QueryResult, RunQueryDsl};

/// `diesel::update(target).set(values)`, kept prepared (see the module's notes).
pub(crate) fn update<Target, Values>(
    target: Target,
    values: Values,
) -> Update<<Target::Table as QuerySource>::FromClause, Target::WhereClause, Values::Changeset>
where
    Target: IntoUpdateTarget,
    Values: AsChangeset<Target = Target::Table>,
{
    let UpdateTarget { table, where_clause } = target.into_update_target();
    Update { from: table.from_clause(), where_clause, values: values.as_changeset() }
}

/// An `UPDATE … SET … WHERE …` made by [`update`].
#[derive(Debug)]
pub(crate) struct Update<From, Where, Values> {
    from: From,
    where_clause: Where,
    values: Values,
}

impl<From, Where, Values, DB> QueryFragment<DB> for Update<From, Where, Values>
where
    DB: Backend,
    From: QueryFragment<DB>,
    Where: QueryFragment<DB>,
    Values: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // As diesel's own: a changeset with nothing in it is an error, never `UPDATE t SET WHERE`.
        if self.values.is_noop(out.backend())? {
            return Err(diesel::result::Error::QueryBuilderError("an update with nothing to set".into()));
        }
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.values.walk_ast(out.reborrow())?;
        self.where_clause.walk_ast(out.reborrow())
    }
}

/// No static query id: the cache is keyed by the SQL text, never by the Rust type.
impl<From, Where, Values> QueryId for Update<From, Where, Values> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<From, Where, Values> Update<From, Where, Values> {
    /// Runs the update on the backend's own connection (`db::execute`), not through the
    /// `MultiConnection` wrapper, which writes its SQL text again on every run.
    pub(crate) fn execute(self, conn: &mut crate::DbConnection) -> QueryResult<usize>
    where
        Self: ExecuteDsl<diesel::PgConnection> + ExecuteDsl<diesel::SqliteConnection>,
    {
        crate::db::execute(conn, self)
    }

    /// `UPDATE … RETURNING selection`: the rows the update changed, as they are after it.
    pub(crate) fn returning<Selection>(self, selection: Selection) -> Returning<Self, Selection> {
        Returning { update: self, selection }
    }
}

/// An [`Update`] with its `RETURNING` clause, made by [`Update::returning`].
#[derive(Debug)]
pub(crate) struct Returning<U, Selection> {
    update: U,
    selection: Selection,
}

impl<U, Selection, DB> QueryFragment<DB> for Returning<U, Selection>
where
    DB: Backend,
    U: QueryFragment<DB>,
    Selection: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.update.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING ");
        self.selection.walk_ast(out)
    }
}

impl<U, Selection: diesel::Expression> Query for Returning<U, Selection> {
    type SqlType = Selection::SqlType;
}

/// As [`Update`]'s: keyed by the SQL text.
impl<U, Selection> QueryId for Returning<U, Selection> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<U, Selection, Conn> RunQueryDsl<Conn> for Returning<U, Selection> {}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;

    use crate::DbConnection;
    use crate::schema::challenges;

    macro_rules! target {
        () => {
            challenges::table.find("c1").filter(challenges::consumed_at.is_null())
        };
    }

    macro_rules! values {
        () => {
            (challenges::consumed_at.eq(Some(7_i64)), challenges::attempts.eq(challenges::attempts + 1))
        };
    }

    /// The same SQL as diesel's own update, on both backends.
    #[test]
    fn writes_the_sql_diesel_writes() {
        let ours = super::update(target!(), values!());
        let theirs = diesel::update(target!()).set(values!());
        assert_eq!(
            diesel::debug_query::<diesel::sqlite::Sqlite, _>(&ours).to_string(),
            diesel::debug_query::<diesel::sqlite::Sqlite, _>(&theirs).to_string()
        );
        assert_eq!(
            diesel::debug_query::<diesel::pg::Pg, _>(&ours).to_string(),
            diesel::debug_query::<diesel::pg::Pg, _>(&theirs).to_string()
        );
    }

    /// Each update statement the connection prepared and kept.
    fn kept(conn: &mut DbConnection) -> Arc<Mutex<Vec<String>>> {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&kept);
        let instrumentation = move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::CacheQuery { sql, .. } = event
                && sql.starts_with("UPDATE")
            {
                record.lock().unwrap().push(sql.to_owned());
            }
        };
        conn.set_instrumentation(instrumentation);
        kept
    }

    fn memory() -> DbConnection {
        let mut conn = DbConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap());
        conn.batch_execute(
            "CREATE TABLE challenges (id TEXT PRIMARY KEY, consumed_at BIGINT, attempts INTEGER NOT NULL);",
        )
        .unwrap();
        conn.batch_execute("INSERT INTO challenges VALUES ('c1', NULL, 0);").unwrap();
        conn
    }

    /// Prepared once and kept for the next calls, where diesel's own update is prepared every time.
    #[test]
    fn the_statement_is_kept() {
        let mut conn = memory();
        let kept = kept(&mut conn);
        for _ in 0..3 {
            diesel::update(target!()).set(values!()).execute(&mut conn).unwrap();
        }
        assert!(kept.lock().unwrap().is_empty(), "diesel's own update is never kept");
        assert_eq!(super::update(target!(), values!()).execute(&mut conn).unwrap(), 0, "consumed by diesel's");
        diesel::update(challenges::table).set(challenges::consumed_at.eq(None::<i64>)).execute(&mut conn).unwrap();
        for _ in 0..3 {
            assert_eq!(super::update(target!(), values!()).execute(&mut conn).unwrap(), 1);
            diesel::update(challenges::table).set(challenges::consumed_at.eq(None::<i64>)).execute(&mut conn).unwrap();
        }
        assert_eq!(kept.lock().unwrap().len(), 1, "prepared once: {:?}", kept.lock().unwrap());
        let attempts: i32 = challenges::table.select(challenges::attempts).first(&mut conn).unwrap();
        assert_eq!(attempts, 4, "each run bound its own values");
    }

    /// `RETURNING` brings the changed row as it is after the update, and nothing when no row
    /// matched; kept prepared like the update itself.
    #[test]
    fn returning_brings_the_changed_row_and_is_kept() {
        let mut conn = memory();
        let kept = kept(&mut conn);
        let returned = || super::update(target!(), values!()).returning((challenges::id, challenges::attempts));
        let first: Option<(String, i32)> = returned().get_result(&mut conn).optional().unwrap();
        assert_eq!(first, Some(("c1".to_owned(), 1)), "the row after the update");
        let second: Option<(String, i32)> = returned().get_result(&mut conn).optional().unwrap();
        assert_eq!(second, None, "consumed: the conditional update matched nothing");
        diesel::update(challenges::table).set(challenges::consumed_at.eq(None::<i64>)).execute(&mut conn).unwrap();
        let third: Option<(String, i32)> = returned().get_result(&mut conn).optional().unwrap();
        assert_eq!(third, Some(("c1".to_owned(), 2)));
        assert_eq!(kept.lock().unwrap().len(), 1, "prepared once: {:?}", kept.lock().unwrap());
        assert!(kept.lock().unwrap()[0].ends_with(r#"RETURNING `challenges`.`id`, `challenges`.`attempts`"#));
    }

    /// A changeset of nothing is refused, as diesel refuses it.
    #[test]
    fn refuses_an_empty_changeset() {
        let mut conn = memory();
        let nothing: Option<diesel::dsl::Eq<challenges::consumed_at, Option<i64>>> = None;
        assert!(super::update(challenges::table.find("c1"), nothing).execute(&mut conn).is_err());
    }
}

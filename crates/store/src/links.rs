//! Linked accounts: one level deep, a secondary account pointing at its primary.

use admin::storage::Linked;
use diesel::prelude::*;
use domain::UserId;
use domain::audit::{AuditEntry, Audited};

use crate::StoreError;
use crate::schema::users;

/// Links `secondary` to `primary`, with `audit`, in one transaction.
pub(crate) fn link<D: Audited>(
    conn: &mut crate::DbConnection,
    primary: &UserId,
    secondary: &UserId,
    now: i64,
    audit: D,
) -> Result<Linked, StoreError> {
    if primary == secondary {
        return Ok(Linked::Same);
    }
    conn.transaction(|conn| {
        let (p, s) = (primary.as_str(), secondary.as_str());
        // A write first, so SQLite takes the write lock for the whole transaction.
        diesel::update(users::table.filter(users::id.eq_any([p, s])))
            .set(users::version.eq(users::version))
            .execute(conn)?;
        let found: Vec<(String, Option<String>)> =
            users::table.filter(users::id.eq_any([p, s])).select((users::id, users::linked_to)).load(conn)?;
        if found.len() != 2 {
            return Ok(Linked::NotFound);
        }
        let has_links: i64 = users::table.filter(users::linked_to.eq(s)).count().get_result(conn)?;
        let chained = found
            .iter()
            .any(|(id, to)| (id == p && to.is_some()) || (id == s && to.as_deref().is_some_and(|t| t != p)));
        if chained || has_links > 0 {
            return Ok(Linked::Chained);
        }
        crate::cached::update(
            users::table.find(s),
            (users::linked_to.eq(Some(p)), users::version.eq(users::version + 1), users::updated_at.eq(now)),
        )
        .execute(conn)?;
        crate::sessions::end_all_in(conn, s, now)?;
        crate::grants::revoke_all_of_user_in(conn, s, now)?;
        crate::audit::insert(conn, &AuditEntry { what: audit, user: Some(primary.clone()), client: None, at: now })?;
        Ok(Linked::Linked)
    })
}

/// Unlinks `secondary` from `primary`, with `audit`; false when it was not linked to it.
pub(crate) fn unlink<D: Audited>(
    conn: &mut crate::DbConnection,
    primary: &UserId,
    secondary: &UserId,
    now: i64,
    audit: D,
) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        let n = crate::cached::update(
            users::table.find(secondary.as_str()).filter(users::linked_to.eq(primary.as_str())),
            (users::linked_to.eq(None::<String>), users::version.eq(users::version + 1), users::updated_at.eq(now)),
        )
        .execute(conn)?;
        if n == 0 {
            return Ok(false);
        }
        crate::audit::insert(conn, &AuditEntry { what: audit, user: Some(primary.clone()), client: None, at: now })?;
        Ok(true)
    })
}

/// The accounts linked to `primary`, in id order.
pub(crate) fn linked_to(conn: &mut crate::DbConnection, primary: &UserId) -> Result<Vec<domain::User>, StoreError> {
    users::table
        .filter(users::linked_to.eq(primary.as_str()))
        .order(users::id.asc())
        .select(crate::users::UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(crate::users::UserRow::into_user)
        .collect()
}

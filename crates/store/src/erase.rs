//! Erasing an account (GDPR Art. 17): its personal data goes, its audit trail stays, anonymised.

use diesel::prelude::*;
use domain::UserId;
use domain::audit::AuditEntry;

use crate::StoreError;
use crate::schema::{
    account_codes, audit_log, challenges, contact_undos, devices, events, interactions, login_events, messages,
    passkey_ceremonies, passkey_users, passkeys, recovery_codes, totp_factors, users,
};

/// What an audit entry may keep once its account is erased: who acted and what was decided, never
/// an address, a number, an IP, a place, a device or a profile.
const KEPT_IN_AUDIT: [&str; 11] = [
    "actor",
    "decision",
    "reasons",
    "path",
    "acr",
    "amr",
    "factor",
    "sessions_ended",
    "grants_revoked",
    "unblocked",
    "sid",
];

/// Erases `id` in one transaction: its sessions end and grants are revoked (so no token outlives
/// it), its devices, sign-in history, second factors, pending codes and queued messages are
/// deleted, its audit entries keep only [`KEPT_IN_AUDIT`], and the account row goes. Then `audit`
/// records the erasure. False when there is no such account.
pub(crate) fn erase<D: domain::audit::Audited>(
    conn: &mut crate::DbConnection,
    id: &UserId,
    now: i64,
    audit: impl FnOnce() -> D,
) -> Result<bool, StoreError> {
    conn.transaction(|conn| {
        let user = id.as_str();
        // A write first, so SQLite takes the write lock for the whole transaction.
        crate::cached::update(users::table.find(user), users::version.eq(users::version)).execute(conn)?;
        let contacts: Option<(Option<String>, Option<String>)> =
            users::table.find(user).select((users::email, users::phone)).first(conn).optional()?;
        let Some((email, phone)) = contacts else {
            return Ok(false);
        };
        crate::sessions::end_all_in(conn, user, now)?;
        crate::grants::revoke_all_of_user_in(conn, user, now)?;
        diesel::delete(devices::table.filter(devices::user_id.eq(user))).execute(conn)?;
        diesel::delete(login_events::table.filter(login_events::user_id.eq(user))).execute(conn)?;
        diesel::delete(totp_factors::table.filter(totp_factors::user_id.eq(user))).execute(conn)?;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user))).execute(conn)?;
        diesel::delete(account_codes::table.filter(account_codes::user_id.eq(user))).execute(conn)?;
        diesel::delete(contact_undos::table.filter(contact_undos::user_id.eq(user))).execute(conn)?;
        diesel::delete(passkeys::table.filter(passkeys::user_id.eq(user))).execute(conn)?;
        diesel::delete(passkey_users::table.filter(passkey_users::user_id.eq(user))).execute(conn)?;
        diesel::delete(passkey_ceremonies::table.filter(passkey_ceremonies::user_id.eq(user))).execute(conn)?;
        for contact in [email, phone].into_iter().flatten() {
            diesel::delete(challenges::table.filter(challenges::destination.eq(&contact))).execute(conn)?;
            diesel::delete(messages::table.filter(messages::recipient.eq(&contact))).execute(conn)?;
            crate::cached::update(
                interactions::table.filter(interactions::login_hint.eq(&contact)),
                interactions::login_hint.eq(None::<String>),
            )
            .execute(conn)?;
        }
        let entries: Vec<(String, String)> = audit_log::table
            .filter(audit_log::user_id.eq(user))
            .select((audit_log::id, audit_log::detail))
            .load(conn)?;
        for (entry, detail) in entries {
            let kept = anonymise(&detail);
            crate::cached::update(audit_log::table.find(entry), audit_log::detail.eq(kept)).execute(conn)?;
        }
        // Its events keep their ids and types, not what they said of it.
        let said: Vec<(String, String)> =
            events::table.filter(events::user_id.eq(user)).select((events::id, events::payload)).load(conn)?;
        for (event, payload) in said {
            let mut payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or_default();
            if let Some(data) = payload.get_mut("data").and_then(|d| d.as_object_mut()) {
                data.insert("detail".into(), serde_json::json!({ "erased": true }));
            }
            crate::cached::update(events::table.find(event), events::payload.eq(payload.to_string())).execute(conn)?;
        }
        // Accounts linked to it become accounts of their own again.
        crate::cached::update(users::table.filter(users::linked_to.eq(user)), users::linked_to.eq(None::<String>))
            .execute(conn)?;
        diesel::delete(users::table.find(user)).execute(conn)?;
        let entry = AuditEntry { what: audit(), user: Some(id.clone()), client: None, at: now };
        crate::audit::insert(conn, &entry)?;
        Ok(true)
    })
}

/// The entry's detail with only the members [`KEPT_IN_AUDIT`] (an unreadable one keeps nothing).
fn anonymise(detail: &str) -> String {
    let mut kept = serde_json::Map::new();
    if let Ok(serde_json::Value::Object(members)) = serde_json::from_str::<serde_json::Value>(detail) {
        for (k, v) in members {
            if !KEPT_IN_AUDIT.contains(&k.as_str()) {
                continue;
            }
            // Step-up's reasons keep only their names: some carry places (`new_country`'s countries,
            // `impossible_travel`'s cities).
            let v = match (k.as_str(), v) {
                ("reasons", serde_json::Value::Array(reasons)) => serde_json::Value::Array(
                    reasons
                        .into_iter()
                        .map(|r| r.get("reason").cloned().unwrap_or(r))
                        .filter(|r| r.is_string())
                        .collect(),
                ),
                (_, v) => v,
            };
            kept.insert(k, v);
        }
    }
    kept.insert("erased".into(), serde_json::Value::Bool(true));
    serde_json::Value::Object(kept).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn anonymised_entries_keep_decisions_and_drop_personal_data() {
        let detail = r#"{"actor":{"type":"client","client_id":"c"},"ip":"192.0.2.1","before":{"email":"a@b.c"},"decision":"proceed","country":"FR","reasons":[{"reason":"new_country","from":"FR","to":"DE"},{"reason":"new_device"}]}"#;
        let kept: serde_json::Value = serde_json::from_str(&super::anonymise(detail)).unwrap();
        assert_eq!(
            kept,
            serde_json::json!({ "actor": { "type": "client", "client_id": "c" }, "decision": "proceed",
                "reasons": ["new_country", "new_device"], "erased": true })
        );
        assert_eq!(super::anonymise("not json"), r#"{"erased":true}"#);
    }
}

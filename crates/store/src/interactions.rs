use authorization_server::storage::{AuthorizationRequest, NewInteraction};
use diesel::prelude::*;
use domain::{ClientId, DenyReason, Interaction, InteractionId, InteractionKind, LoginResult, StorageError};

use crate::schema::{clients, interactions};
use crate::{DbConnection, Store, StoreError};

// `Store::interaction` reads an interaction with its client's name and settings (a join).
diesel::joinable!(interactions -> clients (client_id));
diesel::allow_tables_to_appear_in_same_query!(interactions, clients);

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = interactions, treat_none_as_default_value = false)]
struct InteractionRow {
    id: String,
    client_id: String,
    redirect_uri: String,
    login_hint: Option<String>,
    request: String,
    browser_hash: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    result: Option<String>,
    completed_at: Option<i64>,
    resumed_at: Option<i64>,
    ui_locales: Option<String>,
    requested_acr: String,
    first_factor: Option<String>,
    denied: Option<String>,
    kind: String,
}

impl Store {
    async fn insert_interaction(&self, new: NewInteraction) -> Result<(), StoreError> {
        let row = InteractionRow {
            id: new.id.to_string(),
            client_id: new.client_id.to_string(),
            redirect_uri: new.redirect_uri.unwrap_or_default(),
            login_hint: new.login_hint,
            // `null`: no authorization request (a code sent through the API).
            request: crate::to_json(&new.request),
            // Empty: no browser owns it yet.
            browser_hash: new.browser_hash.unwrap_or_default(),
            created_at: new.created_at,
            expires_at: new.expires_at,
            result: None,
            completed_at: None,
            resumed_at: None,
            ui_locales: new.ui_locales,
            requested_acr: crate::to_json(&new.requested_acr),
            first_factor: new.first_factor.as_ref().map(crate::to_json),
            denied: None,
            kind: new.kind.as_str().to_owned(),
        };
        self.run_repeatable(move |conn| {
            crate::db::execute(conn, diesel::insert_into(interactions::table).values(&row))?;
            Ok(())
        })
        .await
    }

    /// The interaction and the authorization request it was opened for.
    pub async fn interaction(
        &self,
        id: &InteractionId,
    ) -> Result<Option<(Interaction, Option<AuthorizationRequest>)>, StoreError> {
        self.read_interaction(id, true).await
    }

    /// The interaction, and its authorization request only when `with_request`: the login pages
    /// and step-up never look at the request, so they are spared parsing it.
    async fn read_interaction(
        &self,
        id: &InteractionId,
        with_request: bool,
    ) -> Result<Option<(Interaction, Option<AuthorizationRequest>)>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            // One query for the interaction and its client's name and settings: every step of a
            // sign-in reads both (on PostgreSQL, a round trip saved each time).
            let found: Option<(InteractionRow, Option<String>, Option<String>)> = crate::db::on_backend!(conn, |c| {
                interactions::table
                    .left_join(clients::table)
                    .filter(interactions::id.eq(&id))
                    .select((InteractionRow::as_select(), clients::name.nullable(), clients::settings.nullable()))
                    .first(c)
                    .optional()
            })?;
            let Some((row, client_name, settings)) = found else {
                return Ok(None);
            };
            // Clients are never deleted: an interaction without its client is corrupt.
            let (Some(client_name), Some(settings)) = (client_name, settings) else {
                return Err(StoreError::Corrupt(format!("interaction of unknown client {:?}", row.client_id)));
            };
            let result: Option<LoginResult> =
                row.result.as_deref().map(|r| crate::from_json(r, "interaction result")).transpose()?;
            let first_factor: Option<LoginResult> =
                row.first_factor.as_deref().map(|r| crate::from_json(r, "interaction first factor")).transpose()?;
            let interaction = Interaction {
                id: InteractionId::parse(&row.id).ok_or_else(|| StoreError::Corrupt("interaction id".into()))?,
                kind: InteractionKind::parse(&row.kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("interaction kind {:?}", row.kind)))?,
                client_id: ClientId::parse(&row.client_id).ok_or_else(|| StoreError::Corrupt("client id".into()))?,
                client_name,
                client_settings: crate::from_json(&settings, "client settings")?,
                redirect_uri: Some(row.redirect_uri).filter(|u| !u.is_empty()),
                login_hint: row.login_hint,
                ui_locales: row.ui_locales,
                // The values this provider knows: an older row may hold an unknown essential value,
                // which can never be met.
                requested_acr: crate::from_json::<Vec<String>>(&row.requested_acr, "interaction requested acr")?
                    .iter()
                    .filter_map(|a| domain::Acr::parse(a))
                    .collect(),
                first_factor,
                denied: row.denied.as_deref().map(parse_denied).transpose()?,
                created_at: row.created_at,
                expires_at: row.expires_at,
                browser_hash: Some(row.browser_hash).filter(|h| !h.is_empty()),
                result: if row.resumed_at.is_some() { None } else { result },
            };
            let request = if with_request { crate::from_json(&row.request, "interaction request")? } else { None };
            Ok(Some((interaction, request)))
        })
        .await
    }

    /// Marks a completed interaction as used by the authorization server. True exactly once.
    async fn resume_interaction(&self, id: &InteractionId, now: i64) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.run_repeatable(move |conn| resume_in(conn, &id, now)).await
    }

    /// Gives an interaction no browser owned yet (one opened by the passwordless API for a magic
    /// link) to the browser that used the link first. True only for that first browser.
    async fn bind_interaction(&self, id: &InteractionId, browser_hash: Vec<u8>, now: i64) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.run(move |conn| {
            let n = crate::cached::update(
                interactions::table
                    .find(id)
                    .filter(interactions::kind.eq(InteractionKind::ApiLink.as_str()))
                    .filter(interactions::browser_hash.eq(Vec::<u8>::new()))
                    .filter(interactions::result.is_null())
                    .filter(interactions::expires_at.gt(now)),
                interactions::browser_hash.eq(browser_hash),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
    }

    /// Records what the first factor proved; step-up takes it from there. Only the first such
    /// record of a live, unfinished interaction counts.
    async fn record_first_factor(
        &self,
        id: &InteractionId,
        result: &LoginResult,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (id, result) = (id.clone(), result.clone());
        self.run_repeatable(move |conn| record_first_factor_in(conn, &id, &result, now)).await
    }

    /// Ends an interaction without a login: the client will get `access_denied`. The reason stays
    /// in our records only.
    async fn deny_interaction(&self, id: &InteractionId, reason: DenyReason, now: i64) -> Result<bool, StoreError> {
        let (id, reason) = (id.to_string(), crate::to_json(&reason));
        self.run(move |conn| {
            let n = crate::cached::update(
                interactions::table
                    .find(id)
                    .filter(interactions::result.is_null())
                    .filter(interactions::denied.is_null())
                    .filter(interactions::expires_at.gt(now)),
                (interactions::denied.eq(Some(reason)), interactions::completed_at.eq(Some(now))),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
        .await
    }
}

/// A stored refusal: its reason, or (rows written before reasons were typed) the JSON list of
/// reasons step-up gave then.
fn parse_denied(text: &str) -> Result<DenyReason, StoreError> {
    if let Ok(reason) = serde_json::from_str::<DenyReason>(text) {
        return Ok(reason);
    }
    let legacy: Vec<serde_json::Value> = crate::from_json(text, "interaction refusal")?;
    Ok(match legacy.first().and_then(|v| v.as_str()) {
        Some("cancelled") => DenyReason::Cancelled,
        Some("too_many_wrong_codes") => DenyReason::TooManyWrongCodes,
        Some("blocked_ip") => DenyReason::BlockedNetwork,
        _ => DenyReason::Policy,
    })
}

#[async_trait::async_trait]
impl authorization_server::storage::InteractionStore for Store {
    async fn insert_interaction(&self, new: NewInteraction) -> Result<(), StorageError> {
        Ok(Store::insert_interaction(self, new).await?)
    }

    async fn interaction_with_request(
        &self,
        id: &InteractionId,
    ) -> Result<Option<(Interaction, Option<AuthorizationRequest>)>, StorageError> {
        Ok(Store::interaction(self, id).await?)
    }

    async fn resume_interaction(&self, id: &InteractionId, now: i64) -> Result<bool, StorageError> {
        Ok(Store::resume_interaction(self, id, now).await?)
    }
}

#[async_trait::async_trait]
impl step_up::storage::InteractionStore for Store {
    async fn interaction(&self, id: &InteractionId) -> Result<Option<Interaction>, StorageError> {
        Ok(self.read_interaction(id, false).await?.map(|(i, _)| i))
    }

    async fn deny_interaction(&self, id: &InteractionId, reason: DenyReason, now: i64) -> Result<bool, StorageError> {
        Ok(Store::deny_interaction(self, id, reason, now).await?)
    }
}

#[async_trait::async_trait]
impl passwordless_connection::storage::InteractionStore for Store {
    async fn interaction(&self, id: &InteractionId) -> Result<Option<Interaction>, StorageError> {
        Ok(self.read_interaction(id, false).await?.map(|(i, _)| i))
    }

    async fn record_first_factor(
        &self,
        id: &InteractionId,
        result: &LoginResult,
        now: i64,
    ) -> Result<bool, StorageError> {
        Ok(Store::record_first_factor(self, id, result, now).await?)
    }

    async fn bind_interaction(
        &self,
        id: &InteractionId,
        browser_hash: Vec<u8>,
        now: i64,
    ) -> Result<bool, StorageError> {
        Ok(Store::bind_interaction(self, id, browser_hash, now).await?)
    }
}

/// Records a sign-in's outcome (`result`, as JSON) for the authorization server, inside the
/// caller's transaction. True only for the first completion of a live interaction not denied.
pub(crate) fn complete_in(conn: &mut DbConnection, id: &str, result: &str, now: i64) -> Result<bool, StoreError> {
    let n = crate::cached::update(
        interactions::table
            .find(id)
            .filter(interactions::result.is_null())
            .filter(interactions::denied.is_null())
            .filter(interactions::expires_at.gt(now)),
        (interactions::result.eq(Some(result)), interactions::completed_at.eq(Some(now))),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Marks a completed interaction as used, inside the caller's transaction. True exactly once.
pub(crate) fn resume_in(conn: &mut crate::DbConnection, id: &str, now: i64) -> Result<bool, StoreError> {
    let n = crate::cached::update(
        interactions::table
            .find(id)
            .filter(interactions::result.is_not_null())
            .filter(interactions::resumed_at.is_null())
            .filter(interactions::expires_at.gt(now)),
        interactions::resumed_at.eq(Some(now)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Records what the first factor proved on `conn` (inside the caller's transaction when it has
/// one): true only for the first such record of a live, unfinished interaction.
pub(crate) fn record_first_factor_in(
    conn: &mut crate::DbConnection,
    id: &InteractionId,
    result: &LoginResult,
    now: i64,
) -> Result<bool, StoreError> {
    let n = crate::cached::update(
        interactions::table
            .find(id.as_str())
            .filter(interactions::result.is_null())
            .filter(interactions::first_factor.is_null())
            .filter(interactions::denied.is_null())
            .filter(interactions::expires_at.gt(now)),
        interactions::first_factor.eq(Some(crate::to_json(result))),
    )
    .execute(conn)?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_written_before_reasons_were_typed_still_read() {
        assert_eq!(parse_denied("\"cancelled\"").unwrap(), DenyReason::Cancelled);
        assert_eq!(parse_denied("[\"cancelled\"]").unwrap(), DenyReason::Cancelled);
        assert_eq!(parse_denied("[{\"reason\":\"new_device\"}]").unwrap(), DenyReason::Policy);
        assert!(parse_denied("nonsense").is_err());
    }

    /// The interaction and its client come from one query (a join): the client's name with it, an
    /// unknown id as nothing, and an interaction whose client is missing as corrupt data.
    #[tokio::test]
    async fn an_interaction_is_read_with_its_client_and_never_without_one() {
        use diesel::connection::SimpleConnection;
        let dir = std::env::temp_dir().join(format!("ostiary-interactions-{}", domain::secret::random_token(8)));
        let store = Store::connect(&dir.join("ostiary.db").display().to_string(), 1).unwrap();
        store.migrate().unwrap();
        store
            .run(|conn| {
                conn.batch_execute(
                    "INSERT INTO clients (id, name, secret_hash, is_public, redirect_uris, post_logout_redirect_uris, id_token_alg, created_at) \
                     VALUES ('client1', 'Seeded app', x'aa', FALSE, '[\"https://rp.example/cb\"]', '[]', 'ES256', 1); \
                     INSERT INTO interactions (id, client_id, redirect_uri, request, browser_hash, created_at, expires_at) \
                     VALUES ('interaction1', 'client1', 'https://rp.example/cb', 'null', x'aa', 1, 2), \
                            ('orphan1', 'gone1', 'https://rp.example/cb', 'null', x'aa', 1, 2), \
                            ('unparsed1', 'client1', 'https://rp.example/cb', '{broken', x'aa', 1, 2);",
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let id = |s: &str| InteractionId::parse(s).unwrap();
        let (found, request) = store.interaction(&id("interaction1")).await.unwrap().unwrap();
        assert_eq!((found.client_id.as_str(), found.client_name.as_str()), ("client1", "Seeded app"));
        assert!(request.is_none());
        assert!(store.interaction(&id("nothere1")).await.unwrap().is_none());
        let orphan = store.interaction(&id("orphan1")).await;
        assert!(matches!(&orphan, Err(StoreError::Corrupt(e)) if e.contains("unknown client")), "{:?}", orphan.err());
        // The login pages and step-up never parse the request; the authorization server does.
        let unparsed = store.read_interaction(&id("unparsed1"), false).await.unwrap().unwrap();
        assert!(unparsed.1.is_none());
        let parsed = store.interaction(&id("unparsed1")).await;
        assert!(
            matches!(&parsed, Err(StoreError::Corrupt(e)) if e.contains("interaction request")),
            "{:?}",
            parsed.err()
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}

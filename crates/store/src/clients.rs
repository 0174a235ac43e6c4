use diesel::prelude::*;
use domain::{ApplicationType, ClientId, SigningAlg};

use crate::schema::clients;
use crate::{Store, StoreError, from_json, to_json};

pub use domain::Client;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = clients, treat_none_as_default_value = false)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    is_public: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    id_token_alg: String,
    created_at: i64,
    application_type: String,
    settings: String,
    previous_secret_hash: Option<Vec<u8>>,
    previous_secret_until: Option<i64>,
    disabled_at: Option<i64>,
    version: i64,
    secret_sealed: Option<Vec<u8>>,
    previous_secret_sealed: Option<Vec<u8>>,
}

impl ClientRow {
    fn from_client(client: &Client) -> Self {
        ClientRow {
            id: client.id.to_string(),
            name: client.name.clone(),
            secret_hash: client.secret_hash.clone(),
            is_public: client.is_public,
            redirect_uris: to_json(&client.redirect_uris),
            post_logout_redirect_uris: to_json(&client.post_logout_redirect_uris),
            id_token_alg: client.id_token_alg.as_str().to_owned(),
            created_at: client.created_at,
            application_type: client.application_type.as_str().to_owned(),
            settings: to_json(&client.settings),
            previous_secret_hash: client.previous_secret.as_ref().map(|p| p.hash.clone()),
            previous_secret_until: client.previous_secret.as_ref().map(|p| p.until),
            disabled_at: client.disabled_at,
            version: client.version,
            secret_sealed: client.secret_sealed.clone(),
            previous_secret_sealed: client.previous_secret.as_ref().and_then(|p| p.sealed.clone()),
        }
    }

    fn into_client(self) -> Result<Client, StoreError> {
        Ok(Client {
            id: ClientId::parse(&self.id).ok_or_else(|| StoreError::Corrupt("client id".into()))?,
            name: self.name,
            secret_hash: self.secret_hash,
            secret_sealed: self.secret_sealed,
            is_public: self.is_public,
            redirect_uris: from_json(&self.redirect_uris, "client redirect_uris")?,
            post_logout_redirect_uris: from_json(&self.post_logout_redirect_uris, "client post_logout_redirect_uris")?,
            id_token_alg: SigningAlg::parse(&self.id_token_alg)
                .ok_or_else(|| StoreError::Corrupt(format!("client id_token_alg {:?}", self.id_token_alg)))?,
            created_at: self.created_at,
            application_type: ApplicationType::parse(&self.application_type)
                .ok_or_else(|| StoreError::Corrupt(format!("client application_type {:?}", self.application_type)))?,
            settings: from_json(&self.settings, "client settings")?,
            previous_secret: match (self.previous_secret_hash, self.previous_secret_until) {
                (Some(hash), Some(until)) => {
                    Some(domain::PreviousSecret { hash, until, sealed: self.previous_secret_sealed })
                }
                _ => None,
            },
            disabled_at: self.disabled_at,
            version: self.version,
        })
    }
}

impl Store {
    pub async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        let row = ClientRow::from_client(client);
        self.run(move |conn| {
            crate::db::execute(conn, diesel::insert_into(clients::table).values(&row))?;
            Ok(())
        })
        .await
    }

    /// Replaces everything but the id and creation time of an existing client, or inserts it (the
    /// demo app is re-registered this way at every start; `client update` writes through it).
    pub async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        let row = ClientRow::from_client(client);
        self.run(move |conn| {
            let n = crate::cached::update(
                clients::table.find(&row.id),
                (
                    clients::name.eq(&row.name),
                    clients::secret_hash.eq(&row.secret_hash),
                    clients::is_public.eq(row.is_public),
                    clients::redirect_uris.eq(&row.redirect_uris),
                    clients::post_logout_redirect_uris.eq(&row.post_logout_redirect_uris),
                    clients::id_token_alg.eq(&row.id_token_alg),
                    clients::application_type.eq(&row.application_type),
                    clients::settings.eq(&row.settings),
                    clients::previous_secret_hash.eq(&row.previous_secret_hash),
                    clients::previous_secret_until.eq(row.previous_secret_until),
                    clients::secret_sealed.eq(&row.secret_sealed),
                    clients::previous_secret_sealed.eq(&row.previous_secret_sealed),
                    clients::disabled_at.eq(row.disabled_at),
                    clients::version.eq(clients::version + 1),
                ),
            )
            .execute(conn)?;
            if n == 0 {
                crate::db::execute(conn, diesel::insert_into(clients::table).values(&row))?;
            }
            Ok(())
        })
        .await
    }

    pub async fn client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| {
            let row: Option<ClientRow> = crate::db::on_backend!(conn, |c| {
                clients::table.find(&id).select(ClientRow::as_select()).first(c).optional()
            })?;
            row.map(ClientRow::into_client).transpose()
        })
        .await
    }

    pub async fn clients(&self) -> Result<Vec<Client>, StoreError> {
        self.run(move |conn| {
            clients::table
                .order(clients::created_at.asc())
                .select(ClientRow::as_select())
                .load(conn)?
                .into_iter()
                .map(ClientRow::into_client)
                .collect()
        })
        .await
    }
}

#[async_trait::async_trait]
impl authorization_server::storage::ClientStore for Store {
    async fn client(&self, id: &ClientId) -> Result<Option<Client>, domain::StorageError> {
        Ok(Store::client(self, id).await?)
    }

    async fn insert_client(&self, client: &Client) -> Result<(), domain::StorageError> {
        Ok(Store::insert_client(self, client).await?)
    }

    async fn push_request(
        &self,
        reference_hash: &[u8],
        client: &ClientId,
        params: &str,
        expires_at: i64,
    ) -> Result<(), domain::StorageError> {
        use crate::schema::pushed_requests as p;
        let row = (
            p::reference_hash.eq(reference_hash.to_vec()),
            p::client_id.eq(client.to_string()),
            p::params.eq(params.to_owned()),
            p::expires_at.eq(expires_at),
        );
        self.run(move |conn| Ok(diesel::insert_into(p::table).values(row).execute(conn).map(|_| ())?)).await?;
        Ok(())
    }

    async fn take_pushed_request(
        &self,
        reference_hash: &[u8],
        client: &ClientId,
        now: i64,
    ) -> Result<Option<String>, domain::StorageError> {
        use crate::schema::pushed_requests as p;
        let (hash, client) = (reference_hash.to_vec(), client.to_string());
        let taken = self
            .run(move |conn| {
                // Spent by the update that finds it unused and unexpired: once, under any race.
                let live = p::table
                    .filter(p::reference_hash.eq(&hash))
                    .filter(p::client_id.eq(&client))
                    .filter(p::used_at.is_null())
                    .filter(p::expires_at.gt(now));
                if crate::cached::update(live, p::used_at.eq(Some(now))).execute(conn)? == 0 {
                    return Ok(None);
                }
                Ok(Some(p::table.find(&hash).select(p::params).first::<String>(conn)?))
            })
            .await?;
        Ok(taken)
    }

    async fn spend_assertion(
        &self,
        client: &ClientId,
        jti_hash: &[u8],
        expires_at: i64,
    ) -> Result<bool, domain::StorageError> {
        use crate::schema::client_assertions as a;
        let (client, jti_hash) = (client.to_string(), jti_hash.to_vec());
        let spent = self
            .run(move |conn| {
                let row = (a::client_id.eq(&client), a::jti_hash.eq(&jti_hash), a::expires_at.eq(expires_at));
                match diesel::insert_into(a::table).values(row).execute(conn) {
                    Ok(_) => Ok(true),
                    // The primary key: this client presented this jti before.
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => Ok(false),
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        Ok(spent)
    }
}

fn read(conn: &mut crate::DbConnection, id: &str) -> Result<Option<Client>, StoreError> {
    clients::table
        .find(id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(ClientRow::into_client)
        .transpose()
}

fn audit_in(
    conn: &mut crate::DbConnection,
    id: &ClientId,
    what: admin::storage::AdminAudit,
    now: i64,
) -> Result<(), StoreError> {
    let entry = domain::audit::AuditEntry { what, user: None, client: Some(id.clone()), at: now };
    crate::audit::insert(conn, &entry)
}

#[async_trait::async_trait]
impl admin::storage::ClientDirectory for Store {
    async fn client(&self, id: &ClientId) -> Result<Option<Client>, domain::StorageError> {
        Ok(Store::client(self, id).await?)
    }

    async fn clients(&self) -> Result<Vec<Client>, domain::StorageError> {
        Ok(Store::clients(self).await?)
    }

    async fn create_client(
        &self,
        client: &Client,
        now: i64,
        audit: admin::storage::AuditClient,
    ) -> Result<(), domain::StorageError> {
        let (row, id, what) = (ClientRow::from_client(client), client.id.clone(), audit(None, Some(client)));
        self.run(move |conn| {
            conn.transaction(|conn| {
                crate::db::execute(conn, diesel::insert_into(clients::table).values(&row))?;
                audit_in(conn, &id, what, now)
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn save_client(
        &self,
        client: &Client,
        version: i64,
        now: i64,
        audit: admin::storage::AuditClient,
    ) -> Result<admin::storage::ClientSaved, domain::StorageError> {
        use admin::storage::ClientSaved;
        let row = ClientRow::from_client(client);
        let saved = self.run(move |conn| {
            conn.transaction(|conn| {
                // A write first, so SQLite takes the write lock for the whole transaction.
                crate::cached::update(clients::table.find(&row.id), clients::version.eq(clients::version))
                    .execute(conn)?;
                let Some(before) = read(conn, &row.id)? else {
                    return Ok(ClientSaved::NotFound);
                };
                let n = crate::cached::update(
                    clients::table.find(&row.id).filter(clients::version.eq(version)),
                    (
                        clients::name.eq(&row.name),
                        clients::secret_hash.eq(&row.secret_hash),
                        clients::redirect_uris.eq(&row.redirect_uris),
                        clients::post_logout_redirect_uris.eq(&row.post_logout_redirect_uris),
                        clients::id_token_alg.eq(&row.id_token_alg),
                        clients::application_type.eq(&row.application_type),
                        clients::settings.eq(&row.settings),
                        clients::previous_secret_hash.eq(&row.previous_secret_hash),
                        clients::previous_secret_until.eq(row.previous_secret_until),
                        clients::secret_sealed.eq(&row.secret_sealed),
                        clients::previous_secret_sealed.eq(&row.previous_secret_sealed),
                        clients::disabled_at.eq(row.disabled_at),
                        clients::version.eq(version + 1),
                    ),
                )
                .execute(conn)?;
                if n == 0 {
                    return Ok(ClientSaved::Stale(Box::new(before)));
                }
                let after = read(conn, &row.id)?.ok_or_else(|| StoreError::Corrupt("client vanished".into()))?;
                if after.is_disabled() && !before.is_disabled() {
                    crate::grants::revoke_all_of_client_in(conn, &row.id, now)?;
                }
                audit_in(conn, &after.id, audit(Some(&before), Some(&after)), now)?;
                Ok(ClientSaved::Saved(Box::new(after)))
            })
        });
        Ok(saved.await?)
    }

    async fn delete_client(
        &self,
        id: &ClientId,
        now: i64,
        audit: admin::storage::AuditClient,
    ) -> Result<bool, domain::StorageError> {
        let id = id.clone();
        let deleted = self.run(move |conn| {
            conn.transaction(|conn| {
                // A write first, so SQLite takes the write lock for the whole transaction.
                crate::cached::update(clients::table.find(id.as_str()), clients::version.eq(clients::version))
                    .execute(conn)?;
                let Some(before) = read(conn, id.as_str())? else {
                    return Ok(false);
                };
                crate::grants::revoke_all_of_client_in(conn, id.as_str(), now)?;
                diesel::delete(clients::table.find(id.as_str())).execute(conn)?;
                audit_in(conn, &id, audit(Some(&before), None), now)?;
                Ok(true)
            })
        });
        Ok(deleted.await?)
    }
}

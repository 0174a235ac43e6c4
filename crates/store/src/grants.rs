//! Authorization codes and the tokens issued from them. A code's `grant_id` ties every token issued
//! from it together, so a replayed code can revoke them all (RFC 6749 §4.1.2: "SHOULD revoke … all tokens previously issued based on that authorization code").

use authorization_server::storage::{AuthorizationCode, GrantStore, IssuedToken, Redemption, RefreshToken, TokenKind};
use diesel::prelude::*;
use domain::{AuthTime, ClientId, GrantId, Scope, StorageError, UserId};

use crate::schema::{authorization_codes, refresh_tokens, tokens};
use crate::{Store, StoreError, claims_column, from_json, parse_acr, parse_claims, parse_id, to_json};

/// The `kind` column of an access token.
fn token_kind_name(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Access => "access",
        TokenKind::Client => "client",
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes, treat_none_as_default_value = false)]
struct CodeRow {
    code_hash: Vec<u8>,
    grant_id: String,
    client_id: String,
    redirect_uri: String,
    user_id: String,
    sid: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    amr: String,
    acr: String,
    auth_time: i64,
    created_at: i64,
    expires_at: i64,
    redeemed_at: Option<i64>,
    revoked_at: Option<i64>,
    auth_after: Option<i64>,
    ends_with_session: bool,
    claims: Option<String>,
    dpop_jkt: Option<String>,
}

impl CodeRow {
    fn into_code(self) -> Result<AuthorizationCode, StoreError> {
        Ok(AuthorizationCode {
            client_id: parse_id(ClientId::parse, &self.client_id, "code client")?,
            user_id: parse_id(UserId::parse, &self.user_id, "code user")?,
            grant_id: parse_id(GrantId::parse, &self.grant_id, "code grant")?,
            amr: from_json(&self.amr, "code amr")?,
            acr: parse_acr(&self.acr, "code acr")?,
            code_hash: self.code_hash,
            redirect_uri: self.redirect_uri,
            sid: self.sid,
            scope: Scope::parse(&self.scope),
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            auth_time: AuthTime(self.auth_time),
            auth_after: self.auth_after,
            ends_with_session: self.ends_with_session,
            claims: parse_claims(self.claims.as_deref(), "code claims")?,
            dpop_jkt: self.dpop_jkt,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = tokens, treat_none_as_default_value = false)]
struct TokenRow {
    jti: String,
    grant_id: String,
    client_id: String,
    user_id: String,
    kind: String,
    expires_at: i64,
    revoked_at: Option<i64>,
}

#[async_trait::async_trait]
impl GrantStore for Store {
    async fn insert_code(&self, code: &AuthorizationCode) -> Result<(), StorageError> {
        let code = code.clone();
        self.run_repeatable(move |conn| insert_code_in(conn, &code)).await.map_err(Into::into)
    }

    /// A code as issued, without spending it, so the token endpoint can check who presents it (the
    /// client, its redirect URI and PKCE verifier) before anything is spent: a stranger holding a
    /// code cannot burn it.
    async fn authorization_code(&self, code_hash: Vec<u8>) -> Result<Option<AuthorizationCode>, StorageError> {
        self.read(move |conn| {
            let row: Option<CodeRow> = crate::db::on_backend!(conn, |c| {
                authorization_codes::table.find(&code_hash).select(CodeRow::as_select()).first(c).optional()
            })?;
            row.map(CodeRow::into_code).transpose()
        })
        .await
        .map_err(Into::into)
    }

    /// Spends a code. The conditional update makes it single-use under any concurrency: of N
    /// simultaneous presentations exactly one is `Redeemed`; the others are replays and revoke the
    /// grant. A code whose grant was revoked is never redeemed (the same conditional update).
    /// Expiry and client binding are the caller's checks (they need the record to decide).
    async fn redeem_code(
        &self,
        code_hash: Vec<u8>,
        now: i64,
        first_refresh: Option<RefreshToken>,
    ) -> Result<Redemption, StorageError> {
        self.atomic(move |conn| {
            // The winner's row comes back with its update (`RETURNING`), not from a second read.
            let won: Option<CodeRow> = crate::db::on_backend!(conn, |c| {
                crate::cached::update(
                    authorization_codes::table
                        .find(&code_hash)
                        .filter(authorization_codes::redeemed_at.is_null())
                        .filter(authorization_codes::revoked_at.is_null()),
                    authorization_codes::redeemed_at.eq(Some(now)),
                )
                .returning(CodeRow::as_select())
                .get_result(c)
                .optional()
            })?;
            if let Some(row) = won {
                // The grant is live: its code row was just updated under `revoked_at IS NULL`.
                if let Some(refresh) = &first_refresh {
                    crate::refresh::insert_in(conn, refresh)?;
                }
                return Ok(Redemption::Redeemed(Box::new(row.into_code()?)));
            }
            let Some(row) =
                authorization_codes::table.find(&code_hash).select(CodeRow::as_select()).first(conn).optional()?
            else {
                return Ok(Redemption::Unknown);
            };
            if row.redeemed_at.is_none() || row.revoked_at.is_some() {
                return Ok(Redemption::Revoked);
            }
            let client_id = parse_id(ClientId::parse, &row.client_id, "code client")?;
            revoke_grant_in(conn, &row.grant_id, now)?;
            Ok(Redemption::Replayed { client_id })
        })
        .await
        .map_err(Into::into)
    }

    async fn grant_user(&self, grant_id: &GrantId) -> Result<Option<UserId>, StorageError> {
        let grant_id = grant_id.to_string();
        self.read(move |conn| {
            let user: Option<String> = authorization_codes::table
                .filter(authorization_codes::grant_id.eq(grant_id))
                .select(authorization_codes::user_id)
                .first(conn)
                .optional()?;
            Ok(user.and_then(|u| UserId::parse(&u)))
        })
        .await
        .map_err(Into::into)
    }

    async fn revoke_grant(&self, grant_id: &GrantId, now: i64) -> Result<(), StorageError> {
        let grant_id = grant_id.to_string();
        self.run(move |conn| revoke_grant_in(conn, &grant_id, now)).await.map_err(Into::into)
    }

    /// Nothing is written when an access token is issued, so a token has a row only when it was
    /// revoked alone, or when it was issued before `jti` named the grant (its row then names it).
    async fn token_is_active(&self, t: &IssuedToken, now: i64) -> Result<bool, StorageError> {
        let t = t.clone();
        self.read(move |conn| {
            if t.expires_at <= now {
                return Ok(false);
            }
            let row: Option<(String, String, Option<i64>)> = tokens::table
                .find(&t.jti)
                .select((tokens::grant_id, tokens::kind, tokens::revoked_at))
                .first(conn)
                .optional()?;
            let (grant, kind) = match row {
                Some((_, _, Some(_))) => return Ok(false),
                Some((grant, kind, None)) => (Some(grant), kind),
                None => (t.grant_id.as_ref().map(ToString::to_string), token_kind_name(t.kind).to_owned()),
            };
            match (kind.as_str(), grant) {
                ("access", Some(grant)) => grant_is_live(conn, &grant),
                ("client", _) => {
                    let revoked_since: Option<Option<i64>> = tokens::table
                        .find(client_marker(t.client_id.as_str()))
                        .select(tokens::revoked_at)
                        .first(conn)
                        .optional()?;
                    // Revoked at `since` (a second): a token issued within that second may have been
                    // issued before it, and is taken as revoked too.
                    Ok(!matches!(revoked_since, Some(Some(since)) if t.issued_at <= since))
                }
                _ => Err(StoreError::Corrupt(format!("token kind {kind:?}"))),
            }
        })
        .await
        .map_err(Into::into)
    }

    async fn revoke_token(&self, t: &IssuedToken, now: i64) -> Result<bool, StorageError> {
        let row = TokenRow {
            jti: t.jti.clone(),
            // A client-credentials token has no grant; its row names the client instead.
            grant_id: match &t.grant_id {
                Some(grant) => grant.to_string(),
                None => format!("client:{}", t.client_id),
            },
            client_id: t.client_id.to_string(),
            user_id: t.subject.clone(),
            kind: token_kind_name(t.kind).to_owned(),
            expires_at: t.expires_at,
            revoked_at: Some(now),
        };
        self.run(move |conn| {
            // A row already there is a token issued before `jti` named its grant, or one revoked
            // already.
            let updated = crate::cached::update(
                tokens::table.find(&row.jti).filter(tokens::revoked_at.is_null()),
                tokens::revoked_at.eq(Some(now)),
            )
            .execute(conn)?;
            if updated == 1 {
                return Ok(true);
            }
            let known = tokens::table.find(&row.jti).select(tokens::jti).first::<String>(conn).optional()?;
            if known.is_some() {
                return Ok(false);
            }
            // On PostgreSQL a concurrent revocation of the same token may insert first.
            match diesel::insert_into(tokens::table).values(&row).execute(conn) {
                Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                    Ok(false)
                }
                inserted => inserted.map(|_| true).map_err(Into::into),
            }
        })
        .await
        .map_err(Into::into)
    }
}

/// Whether a grant (its code row) is not revoked.
fn grant_is_live(conn: &mut crate::DbConnection, grant_id: &str) -> Result<bool, StoreError> {
    let revoked: Option<Option<i64>> = authorization_codes::table
        .filter(authorization_codes::grant_id.eq(grant_id))
        .select(authorization_codes::revoked_at)
        .first(conn)
        .optional()?;
    Ok(matches!(revoked, Some(None)))
}

/// The `tokens` row that says when every access token a client holds for itself was last revoked
/// (its `revoked_at`); no access token's `jti` has this form.
fn client_marker(client_id: &str) -> String {
    format!("client:{client_id}")
}

/// Stores a new authorization code, inside the caller's transaction.
pub(crate) fn insert_code_in(conn: &mut crate::DbConnection, code: &AuthorizationCode) -> Result<(), StoreError> {
    let row = CodeRow {
        code_hash: code.code_hash.clone(),
        grant_id: code.grant_id.to_string(),
        client_id: code.client_id.to_string(),
        redirect_uri: code.redirect_uri.clone(),
        user_id: code.user_id.to_string(),
        sid: code.sid.clone(),
        scope: code.scope.to_string(),
        nonce: code.nonce.clone(),
        code_challenge: code.code_challenge.clone(),
        amr: to_json(&code.amr),
        acr: code.acr.as_str().to_owned(),
        auth_time: code.auth_time.0,
        created_at: code.created_at,
        expires_at: code.expires_at,
        redeemed_at: None,
        revoked_at: None,
        auth_after: code.auth_after,
        ends_with_session: code.ends_with_session,
        claims: claims_column(&code.claims),
        dpop_jkt: code.dpop_jkt.clone(),
    };
    crate::db::execute(conn, diesel::insert_into(authorization_codes::table).values(&row))?;
    Ok(())
}

/// Takes the row lock of a grant that is not revoked (its code row), inside the caller's
/// transaction, so a revocation cannot interleave with what follows: on PostgreSQL a concurrent
/// `revoke_grant_in` waits for the commit (or this waits for its commit, then finds the grant
/// revoked); on SQLite the write takes the database's write lock at once. The code row is always
/// locked before refresh and token rows, here and in `revoke_grant_in`, so the two never deadlock.
/// False when the grant is revoked (or unknown).
pub(crate) fn lock_live_grant(conn: &mut crate::DbConnection, grant_id: &str) -> Result<bool, StoreError> {
    let n = crate::cached::update(
        authorization_codes::table
            .filter(authorization_codes::grant_id.eq(grant_id))
            .filter(authorization_codes::revoked_at.is_null()),
        authorization_codes::revoked_at.eq(authorization_codes::revoked_at),
    )
    .execute(conn)?;
    Ok(n > 0)
}

/// Revokes a grant: its code, its access tokens and its refresh tokens.
pub(crate) fn revoke_grant_in(conn: &mut crate::DbConnection, grant_id: &str, now: i64) -> Result<(), StoreError> {
    crate::cached::update(
        authorization_codes::table.filter(authorization_codes::grant_id.eq(grant_id)),
        authorization_codes::revoked_at.eq(Some(now)),
    )
    .execute(conn)?;
    crate::cached::update(
        tokens::table.filter(tokens::grant_id.eq(grant_id)).filter(tokens::revoked_at.is_null()),
        tokens::revoked_at.eq(Some(now)),
    )
    .execute(conn)?;
    crate::cached::update(
        refresh_tokens::table
            .filter(refresh_tokens::grant_id.eq(grant_id))
            .filter(refresh_tokens::revoked_at.is_null()),
        refresh_tokens::revoked_at.eq(Some(now)),
    )
    .execute(conn)?;
    Ok(())
}

/// Revokes every live grant of a user (codes, access and refresh tokens), inside the caller's
/// transaction. Returns how many.
pub(crate) fn revoke_all_of_user_in(
    conn: &mut crate::DbConnection,
    user_id: &str,
    now: i64,
) -> Result<usize, StoreError> {
    let grants: Vec<String> = authorization_codes::table
        .filter(authorization_codes::user_id.eq(user_id))
        .filter(authorization_codes::revoked_at.is_null())
        .select(authorization_codes::grant_id)
        .load(conn)?;
    for grant in &grants {
        revoke_grant_in(conn, grant, now)?;
    }
    Ok(grants.len())
}

/// Revokes every grant of a client and every access token it holds (its own `client_credentials`
/// tokens too), inside the caller's transaction. Returns how many grants.
pub(crate) fn revoke_all_of_client_in(
    conn: &mut crate::DbConnection,
    client_id: &str,
    now: i64,
) -> Result<usize, StoreError> {
    use crate::schema::tokens;
    let grants: Vec<String> = authorization_codes::table
        .filter(authorization_codes::client_id.eq(client_id))
        .filter(authorization_codes::revoked_at.is_null())
        .select(authorization_codes::grant_id)
        .load(conn)?;
    for grant in &grants {
        revoke_grant_in(conn, grant, now)?;
    }
    // Rows of tokens issued before `jti` named the grant; then the client's own tokens, which have
    // no row: every one issued up to now is revoked by the marker.
    crate::cached::update(
        tokens::table.filter(tokens::client_id.eq(client_id)).filter(tokens::revoked_at.is_null()),
        tokens::revoked_at.eq(Some(now)),
    )
    .execute(conn)?;
    let marker = client_marker(client_id);
    let moved = crate::cached::update(tokens::table.find(&marker), tokens::revoked_at.eq(Some(now))).execute(conn)?;
    if moved == 0 {
        let row = TokenRow {
            jti: marker.clone(),
            grant_id: marker,
            client_id: client_id.to_owned(),
            user_id: client_id.to_owned(),
            kind: token_kind_name(TokenKind::Client).to_owned(),
            // Never purged: it must outlive every token issued before it, whatever their lifetime.
            expires_at: i64::MAX,
            revoked_at: Some(now),
        };
        crate::db::execute(conn, diesel::insert_into(tokens::table).values(&row))?;
    }
    Ok(grants.len())
}

//! What a bearer access token stands for: one rule for `/userinfo`, introspection and the
//! [`domain::ports::AccessTokens`] port the admin API uses. A token is live when its signature and
//! issuer are ours (RFC 9068 §4), it has not expired, and neither it nor its grant has been revoked (`GrantStore::token_is_active`).

use domain::ports::{AccessTokens, BoxFuture, InspectError, TokenInfo};
use domain::{ClientId, Scope, StorageError};

use crate::AuthorizationServer;
use crate::mint::{AccessClaims, read_access_token};

/// The claims of `token` when it is live at `now`; `Ok(None)` for anything else.
pub(crate) async fn live_claims(
    srv: &AuthorizationServer,
    token: &str,
    now: i64,
) -> Result<Option<AccessClaims>, StorageError> {
    let Some(claims) = read_access_token(srv, token, now) else {
        return Ok(None);
    };
    let Some(issued) = crate::mint::issued_token(&claims) else {
        return Ok(None);
    };
    if claims.exp <= now || !srv.store.token_is_active(&issued, now).await? {
        return Ok(None);
    }
    Ok(Some(claims))
}

impl AccessTokens for AuthorizationServer {
    fn inspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<TokenInfo>, InspectError>> {
        Box::pin(async move {
            let claims = live_claims(self, token, self.clock.now()).await.map_err(|e| {
                tracing::error!(error = %e, "access token lookup");
                InspectError
            })?;
            // A DPoP-bound token is never taken as a bearer token (RFC 9449 §7.2): the APIs this
            // port serves take bearer tokens only.
            Ok(claims.filter(|c| c.jkt().is_none()).and_then(|c| {
                Some(TokenInfo {
                    client_id: ClientId::parse(&c.client_id)?,
                    scope: Scope::parse(&c.scope),
                    subject: c.sub,
                    expires_at: c.exp,
                })
            }))
        })
    }
}

//! The `before_token` hook (docs/hooks.md): asked by every grant that mints tokens for a user
//! (`mint::Issuance`), before anything is spent.

use domain::{Acr, Client};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::mint::Issuance;

/// The `before_token` hook, when one is configured: told who is getting tokens, for which client
/// and how they signed in, it allows (with claims to add to both tokens), or denies
/// (`access_denied`; its message is logged).
/// `require_mfa` denies a login that is not multi-factor. Claims that are reserved, already set
/// or too large make the answer a failure; a failure refuses the tokens under `fail_closed` and
/// mints them without claims under `fail_open`.
pub(crate) async fn before_token(
    srv: &AuthorizationServer,
    client: &Client,
    grant: &Issuance<'_>,
    now: i64,
) -> Result<serde_json::Map<String, serde_json::Value>, OAuthError> {
    let denied = |why: &'static str| OAuthError::new(ErrorCode::AccessDenied, why);
    let Some(hooks) = srv.hooks.get() else { return Ok(serde_json::Map::new()) };
    let hook = match hooks.for_client(hooks::Step::BeforeToken, &client.settings.hooks) {
        Ok(Some(hook)) => hook,
        Ok(None) => return Ok(serde_json::Map::new()),
        Err(_) => return Err(denied("the sign-in could not be checked")),
    };
    let user = srv.store.user(grant.user_id).await.map_err(|e| internal("user lookup", &e))?;
    let released = |u| crate::claims::released(u, grant.scope, &grant.claims.id_token);
    let taken = user.as_ref().map(released).unwrap_or_default();
    let payload = serde_json::json!({
        "grant_type": grant.grant_type,
        "client": { "id": client.id.as_str(), "name": client.name },
        "user": {
            "sub": grant.user_id.as_str(),
            "email": user.as_ref().and_then(|u| u.email.as_ref()).map(|e| e.as_str()),
            "phone_number": user.as_ref().and_then(|u| u.phone.as_ref()).map(|p| p.as_str()),
        },
        "scope": grant.scope.to_string(),
        "amr": grant.amr.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "acr": grant.acr.as_str(),
        "auth_time": grant.auth_time.0,
    });
    let answer = hook.decide(payload, now).await.map_err(|_| denied("the sign-in could not be checked"))?;
    // The hook's message is logged, not sent: `error_description` is for the client's developer.
    let refused = match answer.decision {
        hooks::Decision::Deny => Some("the sign-in was refused"),
        hooks::Decision::RequireMfa if grant.acr != Acr::MultiFactor => Some("a second factor is required"),
        _ => None,
    };
    if let Some(why) = refused {
        tracing::info!(client = %client.id, message = ?answer.shown_message(), "before_token: {why}");
        return Err(denied(why));
    }
    match (hooks::check_claims(&answer.claims, &taken), hook.on_failure()) {
        (Ok(()), _) => Ok(answer.claims),
        (Err(e), hooks::OnFailure::FailOpen) => {
            tracing::warn!(error = %e, "before_token: claims refused; the tokens go without them (fail_open)");
            Ok(serde_json::Map::new())
        }
        (Err(e), hooks::OnFailure::FailClosed) => {
            tracing::error!(error = %e, "before_token: claims refused; no tokens (fail_closed)");
            Err(denied("the sign-in could not be checked"))
        }
    }
}

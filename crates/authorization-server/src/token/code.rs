//! The authorization code: issued at the end of `/authorize` (single use, bound to its client,
//! redirect URI and PKCE challenge) and exchanged at the token endpoint (RFC 6749 §4.1.3, RFC 7636
//! §4.6).

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::secret::{constant_time_eq, random_token};
use domain::{Client, GrantId};

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::mint::{Issuance, Refresh, TokenResponse, mint_tokens, new_refresh_token};
use crate::params::Params;
use crate::storage::{AuthorizationCode, AuthorizationRequest, Redemption, Session};

pub(crate) const CODE_PURPOSE: &str = "authorization-code";

/// Stores a single-use code ([`new_code`]) for a session that already exists.
pub(crate) async fn issue_code(
    srv: &AuthorizationServer,
    request: &AuthorizationRequest,
    session: &Session,
    requested_at: i64,
    now: i64,
) -> Result<String, OAuthError> {
    let (code, record) = new_code(srv, request, session, requested_at, now);
    srv.store.insert_code(&record).await.map_err(|e| internal("code insert", &e))?;
    Ok(code)
}

/// A single-use code bound to client, redirect URI and PKCE challenge, carrying how and when the
/// session's user authenticated, and how recent the request needed that to be (`requested_at`:
/// when the authorization request was made): the code, and the record to store.
pub(crate) fn new_code(
    srv: &AuthorizationServer,
    request: &AuthorizationRequest,
    session: &Session,
    requested_at: i64,
    now: i64,
) -> (String, AuthorizationCode) {
    let code = random_token(32);
    let record = AuthorizationCode {
        code_hash: srv.hasher.hash(CODE_PURPOSE, &code).0,
        grant_id: GrantId::generate(),
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        user_id: session.user_id.clone(),
        sid: session.sid.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        amr: session.amr.clone(),
        acr: session.acr,
        auth_time: session.auth_time,
        auth_after: auth_after(request, requested_at),
        // Tokens without `offline_access` live no longer than the sign-in they came from, while
        // `offline_access` is the client's request to act when the user is away (OIDC Core §11).
        ends_with_session: !request.scope.contains("offline_access"),
        claims: request.claims.clone(),
        dpop_jkt: request.dpop_jkt.clone(),
        created_at: now,
        expires_at: now + srv.config.code_ttl,
    };
    (code, record)
}

/// OIDC Core §3.1.2.1: `max_age` bounds how old the login may be when the request is made, and
/// `prompt=login` asks for a login after it. The earliest acceptable `auth_time`, if any.
fn auth_after(request: &AuthorizationRequest, requested_at: i64) -> Option<i64> {
    let by_max_age = request.max_age.map(|m| requested_at - m);
    let by_prompt = request.prompt_login.then_some(requested_at);
    by_max_age.max(by_prompt)
}

const INVALID_GRANT: OAuthError =
    OAuthError::new(ErrorCode::InvalidGrant, "the code is invalid, expired, or was already used");

/// `grant_type=authorization_code` (RFC 6749 §4.1.3).
pub(super) async fn authorization_code(
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let code = params.get("code").ok_or(OAuthError::new(ErrorCode::InvalidRequest, "code is required"))?;
    if code.len() > 256 {
        return Err(INVALID_GRANT);
    }
    let hash = srv.hasher.hash(CODE_PURPOSE, code).0;
    // Who presents the code is checked before it is spent, so a stranger holding a code (another
    // client, or without the PKCE verifier) cannot burn it for its rightful client.
    let record = srv.store.authorization_code(hash.clone()).await.map_err(|e| internal("code lookup", &e))?;
    let record = record.ok_or(INVALID_GRANT)?;
    // RFC 6749 §4.1.3: the code was issued to this client, is unexpired, and the redirect_uri is identical.
    if record.client_id != client.id || record.expires_at <= now {
        return Err(INVALID_GRANT);
    }
    if params.get("redirect_uri") != Some(record.redirect_uri.as_str()) {
        return Err(OAuthError::new(ErrorCode::InvalidGrant, "redirect_uri does not match the authorization request"));
    }
    check_code_verifier(record.code_challenge.as_deref(), params.get("code_verifier"))?;
    // RFC 9449 §10: a code bound at `/authorize` (`dpop_jkt`) is redeemed only with a proof of that key.
    if let Some(bound) = record.dpop_jkt.as_deref()
        && jkt != Some(bound)
    {
        return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "the code is bound to another DPoP key (dpop_jkt)"));
    }
    redeem(srv, client, &record, hash, "authorization_code", jkt, now).await
}

/// Redeems a code whose presenter was checked (`authorization_code`, or a device's poll of its
/// allowed request, `token::device`): the last checks (the login's age, the `before_token` hook)
/// come before the code is spent too, so that the redemption and the grant's first refresh token
/// are one transaction.
pub(super) async fn redeem(
    srv: &AuthorizationServer,
    client: &Client,
    record: &AuthorizationCode,
    hash: Vec<u8>,
    grant_type: &'static str,
    jkt: Option<&str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let deadline = now + srv.config.refresh_token_ttl;
    let mut issuance = Issuance::from_code(grant_type, record, client.settings.refresh_tokens, deadline);
    issuance.jkt = jkt;
    issuance.check_auth_time()?;
    issuance.extra = crate::mint::before_token(srv, client, &issuance, now).await?;
    let first = match issuance.refresh {
        Refresh::First { scope, deadline } => Some(new_refresh_token(srv, client, &issuance, scope, deadline, now)),
        _ => None,
    };
    let redeemed = srv.store.redeem_code(hash, now, first.as_ref().map(|(_, record)| record.clone())).await;
    match redeemed.map_err(|e| internal("code redeem", &e))? {
        Redemption::Redeemed(_) => {}
        Redemption::Replayed { client_id } => {
            tracing::warn!(client = %client_id, "authorization code replayed; its grant and tokens were revoked");
            return Err(INVALID_GRANT);
        }
        Redemption::Revoked | Redemption::Unknown => return Err(INVALID_GRANT),
    };
    if let Some((token, _)) = first {
        issuance.refresh = Refresh::Stored(token);
    }
    mint_tokens(srv, client, &issuance, now).await
}

/// RFC 7636 §4.6 and RFC 9700 §2.1.1: a code issued with a challenge needs the matching verifier;
/// a verifier for a code issued without a challenge is a downgrade attempt and is refused.
pub fn check_code_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    const MISMATCH: OAuthError = OAuthError::new(ErrorCode::InvalidGrant, "PKCE verification failed");
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err(OAuthError::new(ErrorCode::InvalidGrant, "code_verifier sent for a code issued without code_challenge"))
        }
        (Some(_), None) => Err(OAuthError::new(ErrorCode::InvalidGrant, "code_verifier is required")),
        (Some(challenge), Some(verifier)) => {
            // RFC 7636 §4.1: 43–128 characters of [A-Z a-z 0-9 - . _ ~].
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
            if well_formed && constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(MISMATCH)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_and_prompt_login_bound_the_login_time() {
        let request = |max_age, prompt_login| AuthorizationRequest {
            client_id: domain::ClientId::parse("c").unwrap(),
            redirect_uri: "https://a.example/cb".into(),
            scope: domain::Scope::parse("openid"),
            state: None,
            nonce: None,
            code_challenge: None,
            max_age,
            acr_values: None,
            form_post: false,
            essential_acr: None,
            claims: Default::default(),
            hinted_sub: None,
            prompt_login,
            dpop_jkt: None,
            device: None,
        };
        assert_eq!(auth_after(&request(None, false), 1000), None);
        assert_eq!(auth_after(&request(Some(60), false), 1000), Some(940));
        assert_eq!(auth_after(&request(None, true), 1000), Some(1000));
        assert_eq!(auth_after(&request(Some(60), true), 1000), Some(1000), "the stricter bound");
    }

    #[test]
    fn rfc7636_appendix_b_verifier_matches_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_code_verifier(Some(challenge), Some(verifier)).is_ok());
        assert!(check_code_verifier(Some(challenge), Some(&verifier.replace('d', "e"))).is_err());
        assert!(check_code_verifier(Some(challenge), None).is_err());
        assert!(check_code_verifier(None, Some(verifier)).is_err(), "downgrade");
        assert!(check_code_verifier(None, None).is_ok());
        assert!(check_code_verifier(Some(challenge), Some(challenge)).is_err(), "plain");
    }
}

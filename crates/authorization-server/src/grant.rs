//! From a completed login to tokens: the session and code at resume, then the token endpoint
//! (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6) and ID token minting (OIDC Core §3.1.3).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::LoginResult;
use domain::secret::{constant_time_eq, random_token};
use openidconnect::core::CoreGenderClaim;
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, Audience, AuthenticationContextClass,
    AuthenticationMethodReference, IdTokenClaims, IssuerUrl, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use store::grants::{AuthorizationCode, Redemption};
use store::sessions::Session;

use crate::AuthorizationServer;
use crate::authorize::AuthorizationRequest;
use crate::errors::{OAuthError, internal};
use crate::keys::Alg;
use crate::params::{Params, is_form};

const CODE_PURPOSE: &str = "authorization-code";
const SESSION_PURPOSE: &str = "session";

/// The name of the session cookie: `__Host-` prefixed under https (RFC 6265bis §4.1.3.2), which
/// pins it to this host, path `/`, and `Secure`.
pub fn session_cookie_name(https: bool) -> &'static str {
    if https { "__Host-ostiary-session" } else { "ostiary-session" }
}

/// Starts a fresh session after a completed login: a new id on every login, so a planted or
/// leftover id is never promoted (OWASP session fixation). The cookie carries the only copy of
/// the id; the store keeps its keyed hash.
pub(crate) async fn start_session(
    srv: &AuthorizationServer,
    login: &LoginResult,
    now: i64,
) -> Result<(Session, Cookie<'static>), OAuthError> {
    let session_secret = random_token(32);
    let session = Session {
        id_hash: srv.hasher.hash(SESSION_PURPOSE, &session_secret).0,
        sid: random_token(16),
        user_id: login.user_id.clone(),
        amr: serde_json::to_string(&login.amr).map_err(|e| internal("amr encode", &e))?,
        acr: login.acr.as_str().to_owned(),
        auth_time: login.auth_time.0,
        created_at: now,
        expires_at: now + srv.config.session_ttl,
    };
    srv.store.insert_session(&session).await.map_err(|e| internal("session insert", &e))?;
    let https = srv.config.issuer.starts_with("https://");
    Ok((session, session_cookie(https, session_secret, srv.config.session_ttl)))
}

/// The live session of this browser, from its session cookie.
pub(crate) async fn current_session(
    req: &actix_web::HttpRequest,
    srv: &AuthorizationServer,
    now: i64,
) -> Result<Option<Session>, OAuthError> {
    let https = srv.config.issuer.starts_with("https://");
    let Some(cookie) = req.cookie(session_cookie_name(https)) else { return Ok(None) };
    if cookie.value().len() > 128 {
        return Ok(None);
    }
    let hash = srv.hasher.hash(SESSION_PURPOSE, cookie.value()).0;
    srv.store.session(hash, now).await.map_err(|e| internal("session lookup", &e))
}

/// Stores a single-use code bound to client, redirect URI and PKCE challenge, carrying how and
/// when the session's user authenticated.
pub(crate) async fn issue_code(
    srv: &AuthorizationServer,
    request: &AuthorizationRequest,
    session: &Session,
    now: i64,
) -> Result<String, OAuthError> {
    let code = random_token(32);
    let record = AuthorizationCode {
        code_hash: srv.hasher.hash(CODE_PURPOSE, &code).0,
        grant_id: random_token(16),
        client_id: domain::ClientId::parse(&request.client_id).ok_or(crate::errors::SERVER_ERROR)?,
        redirect_uri: request.redirect_uri.clone(),
        user_id: session.user_id.clone(),
        sid: session.sid.clone(),
        scope: request.scope.join(" "),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        auth_time: session.auth_time,
        created_at: now,
        expires_at: now + srv.config.code_ttl,
    };
    srv.store.insert_code(&record).await.map_err(|e| internal("code insert", &e))?;
    Ok(code)
}

/// The session cookie: opaque, `HttpOnly`, `SameSite=Lax`; `Secure` and `__Host-` under https.
pub fn session_cookie(https: bool, value: String, ttl: i64) -> Cookie<'static> {
    Cookie::build(session_cookie_name(https), value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(ttl))
        .finish()
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// `POST /token`.
pub async fn token(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    match exchange(&req, &body, &srv).await {
        Ok(resp) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"))
            .json(resp),
        Err(e) => e.to_token_response(),
    }
}

async fn exchange(req: &HttpRequest, body: &[u8], srv: &AuthorizationServer) -> Result<TokenResponse, OAuthError> {
    let (client, params) = crate::clients::read_client_form(req, body, srv).await?;
    match params.get("grant_type") {
        Some("authorization_code") => {}
        Some("refresh_token") => return refresh(srv, &client, &params, srv.clock.now()).await,
        Some("client_credentials") => return client_credentials(srv, &client, &params, srv.clock.now()).await,
        Some(OTP_GRANT) => return otp_grant(req, srv, &client, &params, srv.clock.now()).await,
        None => return Err(OAuthError::new("invalid_request", "grant_type is required")),
        Some(_) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "only authorization_code, refresh_token, client_credentials and the passwordless OTP grant are supported",
            ));
        }
    }
    let code = params.get("code").ok_or(OAuthError::new("invalid_request", "code is required"))?;
    let now = srv.clock.now();
    const INVALID_GRANT: OAuthError =
        OAuthError::new("invalid_grant", "the code is invalid, expired, or was already used");
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
        return Err(OAuthError::new("invalid_grant", "redirect_uri does not match the authorization request"));
    }
    check_code_verifier(record.code_challenge.as_deref(), params.get("code_verifier"))?;
    let record = match srv.store.redeem_code(hash, now).await.map_err(|e| internal("code redeem", &e))? {
        Redemption::Redeemed(r) => r,
        Redemption::Replayed { client_id } => {
            tracing::warn!(client = %client_id, "authorization code replayed; its grant and tokens were revoked");
            return Err(INVALID_GRANT);
        }
        Redemption::Revoked | Redemption::Unknown => return Err(INVALID_GRANT),
    };
    mint_tokens(
        srv,
        &client,
        &Issuance::from_code(&record, client.settings.refresh_tokens, now + srv.config.refresh_token_ttl),
        now,
    )
    .await
}

/// RFC 7636 §4.6 and RFC 9700 §2.1.1: a code issued with a challenge needs the matching verifier;
/// a verifier for a code issued without a challenge is a downgrade attempt and is refused.
pub fn check_code_verifier(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    const MISMATCH: OAuthError = OAuthError::new("invalid_grant", "PKCE verification failed");
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err(OAuthError::new("invalid_grant", "code_verifier sent for a code issued without code_challenge"))
        }
        (Some(_), None) => Err(OAuthError::new("invalid_grant", "code_verifier is required")),
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

/// Claims of an RFC 9068 access token.
#[derive(Serialize, Deserialize)]
pub(crate) struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    /// Absent from client-credentials tokens: no user authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// What an access token is issued for.
struct AccessGrant<'a> {
    /// `sub`: the user, or the client itself under client_credentials.
    subject: &'a domain::UserId,
    grant_id: &'a str,
    /// `access` for user grants, `client` for client_credentials.
    kind: &'static str,
    scope: &'a str,
    /// When and how the user authenticated (absent without a user).
    user_auth: Option<(i64, &'a str)>,
}

/// Signs an RFC 9068 access token with the active RS256 key and records its `jti` under its grant,
/// so it can be revoked alone or with the grant.
async fn issue_access_token(
    srv: &AuthorizationServer,
    client: &store::clients::Client,
    t: &AccessGrant<'_>,
    now: i64,
) -> Result<String, OAuthError> {
    let ring = srv.keys.ring();
    let key = ring.active(Alg::RS256, now).ok_or(crate::errors::SERVER_ERROR)?;
    let jti = random_token(16);
    let exp = now + srv.config.access_token_ttl;
    let claims = AccessClaims {
        iss: srv.config.issuer.clone(),
        sub: t.subject.to_string(),
        aud: srv.config.issuer.clone(),
        client_id: client.id.to_string(),
        exp,
        iat: now,
        jti: jti.clone(),
        scope: t.scope.to_owned(),
        auth_time: t.user_auth.map(|(at, _)| at),
        acr: t.user_auth.map(|(_, acr)| acr.to_owned()),
    };
    let token = crate::jwt::sign(key, "at+jwt", &claims).map_err(|e| internal("access token", &e))?;
    srv.store
        .record_token(&jti, t.grant_id, &client.id, t.subject, t.kind, exp)
        .await
        .map_err(|e| internal("token record", &e))?;
    Ok(token)
}

/// The claims of an access token this provider signed (RFC 9068 `at+jwt`, our issuer), expired or
/// not: callers decide what expiry means for them.
pub(crate) fn read_access_token(srv: &AuthorizationServer, token: &str, now: i64) -> Option<AccessClaims> {
    let claims: AccessClaims = crate::jwt::verify(&srv.keys.ring(), token, "at+jwt", now, srv.config.key_retention())?;
    (claims.iss == srv.config.issuer).then_some(claims)
}

/// The `sid` claim (OIDC Front-Channel Logout §3 / Back-Channel Logout §2.4) and the claims the
/// scopes release (`claims::scope_claims`), beside the standard ones.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SessionClaims {
    sid: String,
    #[serde(flatten)]
    scope_claims: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for SessionClaims {}

/// What tokens are minted from: a redeemed code, or a refresh token being rotated.
struct Issuance<'a> {
    grant_id: &'a str,
    user_id: &'a domain::UserId,
    sid: &'a str,
    /// The scope of the tokens issued now.
    scope: &'a str,
    /// Only in the ID token of the code exchange (OIDC Core §12.2: not after a refresh).
    nonce: Option<&'a str>,
    amr: &'a str,
    acr: &'a str,
    auth_time: i64,
    refresh: Refresh<'a>,
}

/// The refresh token that comes with the tokens.
enum Refresh<'a> {
    None,
    /// The grant's first: its scope (the grant's, RFC 6749 §6) and absolute deadline. Stored only
    /// while the grant is not revoked.
    First {
        scope: &'a str,
        deadline: i64,
    },
    /// A rotation's successor, already stored with the rotation.
    Rotated(String),
}

impl<'a> Issuance<'a> {
    /// A refresh token comes with the code exchange when the client's policy says so
    /// (`offline_access` asked for, by default).
    fn from_code(code: &'a AuthorizationCode, policy: domain::RefreshPolicy, refresh_deadline: i64) -> Self {
        let offline = policy.issues_for(&code.scope);
        Issuance {
            grant_id: &code.grant_id,
            user_id: &code.user_id,
            sid: &code.sid,
            scope: &code.scope,
            nonce: code.nonce.as_deref(),
            amr: &code.amr,
            acr: &code.acr,
            auth_time: code.auth_time,
            refresh: if offline {
                Refresh::First { scope: &code.scope, deadline: refresh_deadline }
            } else {
                Refresh::None
            },
        }
    }
}

const REFRESH_PURPOSE: &str = "refresh-token";

/// A refresh token of `grant`, ready to store: its secret and its record.
fn new_refresh_token(
    srv: &AuthorizationServer,
    client: &store::clients::Client,
    code: &Issuance<'_>,
    scope: &str,
    deadline: i64,
    now: i64,
) -> (String, store::refresh::RefreshToken) {
    let token = random_token(32);
    let record = store::refresh::RefreshToken {
        token_hash: srv.hasher.hash(REFRESH_PURPOSE, &token).0,
        grant_id: code.grant_id.to_owned(),
        client_id: client.id.clone(),
        user_id: code.user_id.clone(),
        sid: code.sid.to_owned(),
        scope: scope.to_owned(),
        amr: code.amr.to_owned(),
        acr: code.acr.to_owned(),
        auth_time: code.auth_time,
        created_at: now,
        expires_at: deadline,
    };
    (token, record)
}

async fn mint_tokens(
    srv: &AuthorizationServer,
    client: &store::clients::Client,
    code: &Issuance<'_>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    // The refresh token first: it is stored only while the grant is not revoked, and a grant
    // revoked meanwhile gets nothing at all.
    let refresh_token = match &code.refresh {
        Refresh::None => None,
        Refresh::Rotated(token) => Some(token.clone()),
        Refresh::First { scope, deadline } => {
            let (token, record) = new_refresh_token(srv, client, code, scope, *deadline, now);
            if !srv.store.insert_refresh_token(&record).await.map_err(|e| internal("refresh insert", &e))? {
                return Err(OAuthError::new("invalid_grant", "the grant was revoked"));
            }
            Some(token)
        }
    };
    let ring = srv.keys.ring();
    let alg = client.id_token_alg;
    let id_key = ring.active(alg, now).ok_or(crate::errors::SERVER_ERROR)?;
    let access = AccessGrant {
        subject: code.user_id,
        grant_id: code.grant_id,
        kind: "access",
        scope: code.scope,
        user_auth: Some((code.auth_time, code.acr)),
    };
    let access_token = issue_access_token(srv, client, &access, now).await?;

    let user = srv.store.user(code.user_id).await.map_err(|e| internal("user lookup", &e))?;
    let time = |t: i64| chrono::DateTime::from_timestamp(t, 0).ok_or(crate::errors::SERVER_ERROR);
    let standard = StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new(code.user_id.to_string()));
    let scope_claims = user.as_ref().map(|u| crate::claims::scope_claims(u, code.scope)).unwrap_or_default();
    let amr: Vec<String> = serde_json::from_str(code.amr).unwrap_or_default();
    let issuer = IssuerUrl::new(srv.config.issuer.clone()).map_err(|e| internal("issuer", &e))?;
    let at_hash =
        AccessTokenHash::from_token(&AccessToken::new(access_token.clone()), &crate::keys::core_alg(alg), &id_key.jwk)
            .map_err(|e| internal("at_hash", &e))?;
    let claims = IdTokenClaims::new(
        issuer,
        vec![Audience::new(client.id.to_string())],
        time(now + srv.config.id_token_ttl)?,
        time(now)?,
        standard,
        SessionClaims { sid: code.sid.to_owned(), scope_claims },
    )
    .set_auth_time(Some(time(code.auth_time)?))
    .set_nonce(code.nonce.map(|n| Nonce::new(n.to_owned())))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(code.acr.to_owned())))
    .set_auth_method_refs(Some(amr.into_iter().map(AuthenticationMethodReference::new).collect()))
    .set_access_token_hash(Some(at_hash));
    let id_token = crate::jwt::sign(id_key, "JWT", &claims).map_err(|e| internal("id token", &e))?;

    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: srv.config.access_token_ttl,
        // OIDC Core §12.2: an ID token only while the tokens are still for OpenID (scope `openid`).
        id_token: code.scope.split(' ').any(|s| s == "openid").then_some(id_token),
        scope: Some(code.scope.to_owned()),
        refresh_token,
    })
}

/// `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client acting for itself gets an
/// access token whose `sub` is its own id; no ID token, no refresh token (§4.4.3).
async fn client_credentials(
    srv: &AuthorizationServer,
    client: &store::clients::Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    if client.is_public {
        return Err(OAuthError::new("unauthorized_client", "public clients cannot use client_credentials"));
    }
    // No user scopes for a client acting alone; API scopes arrive with the admin API.
    if params.get("scope").is_some_and(|s| s.split(' ').any(|s| !s.is_empty())) {
        return Err(OAuthError::new("invalid_scope", "no scope is available to client_credentials"));
    }
    let owner = domain::UserId::parse(client.id.as_str()).ok_or(crate::errors::SERVER_ERROR)?;
    let grant = format!("client:{}", client.id);
    let access = AccessGrant { subject: &owner, grant_id: &grant, kind: "client", scope: "", user_auth: None };
    let access_token = issue_access_token(srv, client, &access, now).await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: srv.config.access_token_ttl,
        id_token: None,
        scope: None,
        refresh_token: None,
    })
}

/// Auth0's passwordless grant (its Authentication API's `POST /oauth/token`), for applications that
/// run their own sign-in screen: a code sent by `POST /passwordless/start` becomes tokens directly.
pub const OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

/// `grant_type=http://auth0.com/oauth/grant-type/passwordless/otp`: `realm` (`email` or `sms`),
/// `username` (the address or number), `otp`, and `scope` (default `openid`). The ID token has no
/// `nonce` (none was sent) and the session it names has no browser cookie.
async fn otp_grant(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    client: &store::clients::Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    use domain::ports::{ApiSignIn, ApiVerdict, OtpError, OtpRequest};
    let ports = srv.api_login.get().ok_or(OAuthError::new("unsupported_grant_type", "the OTP grant is not enabled"))?;
    // The API draws its own sign-in screen, so no browser is bound to the sign-in: only clients
    // that were allowed to may use it.
    if !client.settings.api_login {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client may not use the passwordless API (its api_login setting is off)",
        ));
    }
    let realm = match params.get("realm") {
        Some("email") => domain::Channel::Email,
        Some("sms") => domain::Channel::Sms,
        _ => return Err(OAuthError::new("invalid_request", "realm must be email or sms")),
    };
    let (Some(username), Some(otp)) = (params.get("username"), params.get("otp")) else {
        return Err(OAuthError::new("invalid_request", "username and otp are required"));
    };
    let scope: Vec<&str> = params.get("scope").unwrap_or("openid").split(' ').filter(|s| !s.is_empty()).collect();
    let never_offline = client.settings.refresh_tokens == domain::RefreshPolicy::Never;
    let scope: Vec<&str> = crate::authorize::SUPPORTED_SCOPES
        .into_iter()
        .filter(|s| scope.contains(s) && !(*s == "offline_access" && never_offline))
        .collect();
    let ip = domain::web::client_ip(req.extensions().get(), req.peer_addr());
    let user_agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request = OtpRequest {
        client_id: client.id.clone(),
        client_settings: client.settings.clone(),
        realm,
        username: username.to_owned(),
        otp: otp.to_owned(),
        ip,
        user_agent: user_agent.clone(),
    };
    let login = match ports.otp.verify(request).await {
        Ok(login) => login,
        Err(OtpError::Invalid) => {
            return Err(OAuthError::new("invalid_grant", "Wrong email or verification code."));
        }
        Err(OtpError::MethodOff) => {
            return Err(OAuthError::new("unauthorized_client", "this sign-in method is not enabled for the client"));
        }
        Err(OtpError::Blocked) => {
            return Err(OAuthError::new("too_many_attempts", "too many wrong codes from this network; try later"));
        }
        Err(OtpError::Unavailable) => {
            return Err(OAuthError::new("temporarily_unavailable", "the code cannot be checked right now"));
        }
    };
    // The same step-up decision as the hosted pages: tokens only where they would have given them.
    let sign_in = ApiSignIn { client_id: client.id.clone(), login, ip, user_agent };
    let login = match ports.step_up.assess(sign_in).await {
        Ok(ApiVerdict::Proceed(login)) => login,
        // Auth0's answer when a second factor is needed (without an `mfa_token`: Ostiary asks for
        // second factors on its hosted pages only).
        Ok(ApiVerdict::MfaRequired) => {
            return Err(OAuthError::new(
                "mfa_required",
                "Multifactor authentication required: sign in through the hosted pages (/authorize)",
            ));
        }
        Ok(ApiVerdict::Denied) => return Err(OAuthError::new("access_denied", "the sign-in was not allowed")),
        Err(_) => return Err(OAuthError::new("temporarily_unavailable", "the sign-in cannot be checked right now")),
    };
    // A session without a cookie, so the tokens name a `sid` that logout and revocation can end.
    let (session, _) = start_session(srv, &login, now).await?;
    // The grant is carried by a code row like every other grant (its revocation lives there), here
    // issued and redeemed at once: nobody ever holds the code.
    let request = crate::authorize::AuthorizationRequest::for_client(&client.id, scope);
    let code = issue_code(srv, &request, &session, now).await?;
    let record = match srv.store.redeem_code(srv.hasher.hash(CODE_PURPOSE, &code).0, now).await {
        Ok(Redemption::Redeemed(r)) => r,
        // Revoked in the instant since it was issued ("This wasn't me" on another sign-in).
        Ok(Redemption::Revoked) => return Err(OAuthError::new("access_denied", "the sign-in was not allowed")),
        Ok(_) => return Err(crate::errors::SERVER_ERROR),
        Err(e) => return Err(internal("code redeem", &e)),
    };
    mint_tokens(
        srv,
        client,
        &Issuance::from_code(&record, client.settings.refresh_tokens, now + srv.config.refresh_token_ttl),
        now,
    )
    .await
}

/// `grant_type=refresh_token` (RFC 6749 §6): rotate the token, never widen the scope, never
/// outlive the family's absolute deadline; a reused token revokes the grant (RFC 9700 §4.14.2).
async fn refresh(
    srv: &AuthorizationServer,
    client: &store::clients::Client,
    params: &Params,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    const INVALID: OAuthError =
        OAuthError::new("invalid_grant", "the refresh token is invalid, expired, or was already used");
    let presented =
        params.get("refresh_token").ok_or(OAuthError::new("invalid_request", "refresh_token is required"))?;
    if presented.len() > 256 {
        return Err(INVALID);
    }
    let hash = srv.hasher.hash(REFRESH_PURPOSE, presented).0;
    // Checked before anything is spent: a request for the wrong client or a wider scope is refused
    // and leaves the token to its rightful use.
    let token =
        srv.store.refresh_token(hash.clone()).await.map_err(|e| internal("refresh lookup", &e))?.ok_or(INVALID)?;
    // Bound to the client it was issued to (RFC 6749 §10.4); the absolute lifetime is never extended.
    if token.client_id != client.id || token.expires_at <= now {
        return Err(INVALID);
    }
    let granted: Vec<&str> = token.scope.split(' ').collect();
    let scope = match params.get("scope") {
        None => token.scope.clone(),
        Some(requested) => {
            let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if requested.iter().any(|s| !granted.contains(s)) {
                return Err(OAuthError::new("invalid_scope", "the requested scope exceeds the granted scope"));
            }
            requested.join(" ")
        }
    };
    let mut issuance = Issuance {
        grant_id: &token.grant_id,
        user_id: &token.user_id,
        sid: &token.sid,
        scope: &scope,
        nonce: None,
        amr: &token.amr,
        acr: &token.acr,
        auth_time: token.auth_time,
        refresh: Refresh::None,
    };
    // The successor keeps the grant's scope and deadline; it is stored in the same transaction that
    // spends the presented token, under the grant's lock, so a revocation can never leave it live.
    let (successor, record) = new_refresh_token(srv, client, &issuance, &token.scope, token.expires_at, now);
    match srv.store.rotate_refresh_token(hash, &record, now).await.map_err(|e| internal("refresh use", &e))? {
        store::refresh::RefreshUse::Fresh(_) => {}
        store::refresh::RefreshUse::Reused { client_id } => {
            tracing::warn!(client = %client_id, "refresh token reused; its grant and tokens were revoked");
            return Err(INVALID);
        }
        store::refresh::RefreshUse::Revoked | store::refresh::RefreshUse::Unknown => return Err(INVALID),
    }
    issuance.refresh = Refresh::Rotated(successor);
    mint_tokens(srv, client, &issuance, now).await
}

/// `GET|POST /userinfo` (OIDC Core §5.3) with a bearer access token (RFC 6750 §2.1, §2.2).
pub async fn userinfo(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    let from_header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
    });
    let from_body = (req.method() == actix_web::http::Method::POST && is_form(&req))
        .then(|| Params::parse(&body).get("access_token").map(str::to_owned))
        .flatten();
    let token = match (from_header, from_body) {
        (Some(t), None) | (None, Some(t)) => t,
        // RFC 6750 §2: a client must not use more than one method.
        (Some(_), Some(_)) => {
            return bearer_error(actix_web::http::StatusCode::BAD_REQUEST, "invalid_request");
        }
        (None, None) => {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"ostiary\""))
                .finish();
        }
    };
    let now = srv.clock.now();
    let Some(claims) = read_access_token(&srv, &token, now) else {
        return bearer_error(actix_web::http::StatusCode::UNAUTHORIZED, "invalid_token");
    };
    if claims.exp <= now {
        return bearer_error(actix_web::http::StatusCode::UNAUTHORIZED, "invalid_token");
    }
    match srv.store.token_is_active(&claims.jti, now).await {
        Ok(true) => {}
        Ok(false) => {
            return bearer_error(actix_web::http::StatusCode::UNAUTHORIZED, "invalid_token");
        }
        Err(e) => return internal("token lookup", &e).to_token_response(),
    }
    let Some(user_id) = domain::UserId::parse(&claims.sub) else {
        return bearer_error(actix_web::http::StatusCode::UNAUTHORIZED, "invalid_token");
    };
    let user = match srv.store.user(&user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return bearer_error(actix_web::http::StatusCode::UNAUTHORIZED, "invalid_token");
        }
        Err(e) => return internal("user lookup", &e).to_token_response(),
    };
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), serde_json::json!(user.id.to_string()));
    out.extend(crate::claims::scope_claims(&user, &claims.scope));
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(out)
}

/// RFC 6750 §3: the error goes in `WWW-Authenticate`.
fn bearer_error(status: actix_web::http::StatusCode, error: &'static str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::WWW_AUTHENTICATE, format!("Bearer realm=\"ostiary\", error=\"{error}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "error": error }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_host_prefixed_and_secure_under_https() {
        let c = session_cookie(true, "v".into(), 60).to_string();
        assert!(c.starts_with("__Host-ostiary-session=v"), "{c}");
        for attr in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(c.contains(attr), "{attr} missing in {c}");
        }
        let c = session_cookie(false, "v".into(), 60).to_string();
        assert!(c.starts_with("ostiary-session=v") && !c.contains("Secure"), "{c}");
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

//! Auth0's passwordless grant (its Authentication API's `POST /oauth/token`), for applications that
//! run their own sign-in screen: a code sent by `POST /passwordless/start` becomes tokens directly.

use actix_web::HttpRequest;
use domain::ports::{ApiSignIn, ApiVerdict, OtpError, OtpRequest};
use domain::{Client, LoginResult};

use super::code::{CODE_PURPOSE, new_code};
use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::mint::{Issuance, TokenResponse, mint_tokens};
use crate::params::Params;
use crate::session::new_session;
use crate::storage::{AuthorizationRequest, Redemption, SessionStart};

pub const OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

/// `grant_type=http://auth0.com/oauth/grant-type/passwordless/otp`: `realm` (`email` or `sms`),
/// `username` (the address or number), `otp`, and `scope` (default `openid`). The ID token has no
/// `nonce` (none was sent) and the session it names has no browser cookie.
pub(super) async fn otp(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
    jkt: Option<&'_ str>,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let ports =
        srv.api_login.get().ok_or(OAuthError::new(ErrorCode::UnsupportedGrantType, "the OTP grant is not enabled"))?;
    // The API draws its own sign-in screen, so no browser is bound to the sign-in: only clients
    // that were allowed to may use it.
    if !client.settings.api_login {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the passwordless API (its api_login setting is off)",
        ));
    }
    let realm = match params.get("realm") {
        Some("email") => domain::Channel::Email,
        Some("sms") => domain::Channel::Sms,
        _ => return Err(OAuthError::new(ErrorCode::InvalidRequest, "realm must be email or sms")),
    };
    let (Some(username), Some(otp)) = (params.get("username"), params.get("otp")) else {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "username and otp are required"));
    };
    let ip = web_layer::RequestOrigin::of(req).ip.ip();
    let user_agent = web_layer::user_agent(req).map(str::to_owned);
    let request = OtpRequest {
        client_id: client.id.clone(),
        client_settings: client.settings.clone(),
        realm,
        username: username.to_owned(),
        otp: domain::Secret::new(otp.to_owned()),
        ip,
        user_agent: user_agent.clone(),
    };
    let login = ports.otp.verify(request).await.map_err(refusal)?;
    // The same step-up decision as the hosted pages: tokens only where they would have given them.
    let sign_in = ApiSignIn { client_id: client.id.clone(), login, ip, user_agent };
    let login = verdict(ports.step_up.assess(sign_in).await)?;
    // A session without a cookie, so the tokens name a `sid` that logout and revocation can end.
    let (session, _) = new_session(srv, &login, now);
    // The grant is carried by a code row like every other grant (its revocation lives there), here
    // issued and redeemed at once: nobody ever holds the code.
    let request =
        AuthorizationRequest::without_redirect(&client.id, domain::Scope::from_tokens(otp_scope(client, params)));
    let (code, record) = new_code(srv, &request, &session, now, now);
    let start = SessionStart { resumes: None, replaces: None, session, code: record };
    if !srv.store.start_session(&start, now).await.map_err(|e| internal("session start", &e))? {
        return Err(crate::errors::SERVER_ERROR);
    }
    let record = match srv.store.redeem_code(srv.hasher.hash(CODE_PURPOSE, &code).0, now, None).await {
        Ok(Redemption::Redeemed(r)) => r,
        // Revoked in the instant since it was issued ("This wasn't me" on another sign-in).
        Ok(Redemption::Revoked) => return Err(OAuthError::new(ErrorCode::AccessDenied, "the sign-in was not allowed")),
        Ok(_) => return Err(crate::errors::SERVER_ERROR),
        Err(e) => return Err(internal("code redeem", &e)),
    };
    let deadline = now + srv.config.refresh_token_ttl;
    let mut issuance = Issuance::from_code(OTP_GRANT, &record, client.settings.refresh_tokens, deadline);
    issuance.jkt = jkt;
    issuance.extra = crate::mint::before_token(srv, client, &issuance, now).await?;
    mint_tokens(srv, client, &issuance, now).await
}

/// Why the connection refused the code, as the token endpoint says it.
fn refusal(e: OtpError) -> OAuthError {
    match e {
        OtpError::Invalid => OAuthError::new(ErrorCode::InvalidGrant, "Wrong email or verification code."),
        OtpError::MethodOff => {
            OAuthError::new(ErrorCode::UnauthorizedClient, "this sign-in method is not enabled for the client")
        }
        OtpError::AccountBlocked => OAuthError::new(ErrorCode::AccessDenied, "the account is blocked"),
        OtpError::SignUpRefused => OAuthError::new(ErrorCode::AccessDenied, "the sign-up was refused"),
        OtpError::Blocked => {
            OAuthError::new(ErrorCode::TooManyAttempts, "too many wrong codes from this network; try later")
        }
        OtpError::Unavailable => {
            OAuthError::new(ErrorCode::TemporarilyUnavailable, "the code cannot be checked right now")
        }
    }
}

/// Step-up's decision on an API sign-in: the login to issue tokens for, or the refusal.
fn verdict<E>(v: Result<ApiVerdict, E>) -> Result<LoginResult, OAuthError> {
    match v {
        Ok(ApiVerdict::Proceed(login)) => Ok(login),
        // Auth0's answer when a second factor is needed (without an `mfa_token`: Ostiary asks for
        // second factors on its hosted pages only).
        Ok(ApiVerdict::MfaRequired) => Err(OAuthError::new(
            ErrorCode::MfaRequired,
            "Multifactor authentication required: sign in through the hosted pages (/authorize)",
        )),
        Ok(ApiVerdict::Denied) => Err(OAuthError::new(ErrorCode::AccessDenied, "the sign-in was not allowed")),
        Err(_) => Err(OAuthError::new(ErrorCode::TemporarilyUnavailable, "the sign-in cannot be checked right now")),
    }
}

/// The scope asked for (default `openid`), kept to what this provider knows; `offline_access`
/// only for a client that may have refresh tokens.
fn otp_scope<'p>(client: &Client, params: &'p Params) -> Vec<&'p str> {
    let asked: Vec<&str> = params.get("scope").unwrap_or("openid").split(' ').filter(|s| !s.is_empty()).collect();
    let never_offline = client.settings.refresh_tokens == domain::RefreshPolicy::Never;
    crate::authorize::SUPPORTED_SCOPES
        .into_iter()
        .filter(|s| asked.contains(s) && !(*s == "offline_access" && never_offline))
        .collect()
}

//! Step-up for sign-ins made through the passwordless API (the OTP grant), which has no browser:
//! the same signals, policy and decision as the hosted pages, so the API never gives tokens the
//! hosted pages would have refused. What differs is only what a browser would have shown:
//! - there is no device cookie, so the device is always new (a sign-in without proof of a known
//!   device is never treated as coming from one);
//! - the "device" a "This wasn't me" link blocks is the application on the client's network
//!   (its IPv4 address or IPv6 /64): later API sign-ins to that account from there are refused;
//! - a second factor cannot be asked for here: `Ask` and `Enroll` become `mfa_required`.
//!
//! The operator's `after_first_factor` hook is asked here too: its `require_mfa` is
//! `mfa_required`, its `deny` is `access_denied`, and its failure under `fail_closed` is
//! `temporarily_unavailable`.

use std::sync::Arc;

use domain::ClientIp;
use domain::DenyReason;
use domain::audit::AuditEntry;
use domain::ports::{ApiSignIn, ApiStepUp, ApiVerdict, AssessError, BoxFuture};

use crate::StepUpService;
use crate::flow::{Asked, Place, SignedIn, after_first_factor, factors, observe, record};
use crate::policy::{Decision, Factor, Request, decide};
use crate::storage::{Door, StepUpAudit};

/// Step-up as the authorization server's judge of API sign-ins.
pub struct ApiGate(pub Arc<StepUpService>);

impl ApiStepUp for ApiGate {
    fn assess(&self, sign_in: ApiSignIn) -> BoxFuture<'_, Result<ApiVerdict, AssessError>> {
        Box::pin(async move {
            assess(&self.0, sign_in).await.map_err(|e| {
                tracing::error!(error = %e, "API sign-in assessment");
                AssessError
            })
        })
    }
}

/// The stand-in for a device cookie: the application and the client's network.
fn api_device(svc: &StepUpService, sign_in: &ApiSignIn) -> Vec<u8> {
    let network = ClientIp::new(sign_in.ip).limit_key();
    svc.hasher.hash("api-device", &format!("{}|{network}", sign_in.client_id)).0
}

/// The operator's `after_first_factor` hook; a failure under `fail_closed` refuses the sign-in for
/// now (`temporarily_unavailable`).
async fn hook_says(
    svc: &StepUpService,
    user: &domain::User,
    client: &domain::Client,
    first: &domain::LoginResult,
    signals: &crate::policy::Signals,
    place: &Place,
    now: i64,
) -> Result<crate::policy::HookSays, domain::StorageError> {
    let asked = Asked {
        user,
        client_id: &client.id,
        client_name: &client.name,
        client_hooks: &client.settings.hooks,
        first,
        signals,
        place,
    };
    after_first_factor(svc, asked, now)
        .await
        .map_err(|e| domain::StorageError::Unavailable(format!("the after_first_factor hook failed: {e}")))
}

async fn assess(svc: &StepUpService, sign_in: ApiSignIn) -> Result<ApiVerdict, domain::StorageError> {
    let now = svc.clock.now();
    let refused = Ok(ApiVerdict::Denied);
    let Some(client) = svc.store.client(&sign_in.client_id).await? else { return refused };
    let Some(user) = svc.store.user(&sign_in.login.user_id).await? else { return refused };
    let place = Place::of(svc, sign_in.ip);
    let device_hash = api_device(svc, &sign_in);
    // Only a blocked record counts: no API sign-in ever makes a device known.
    let known = svc.store.device(&user.id, device_hash.clone()).await?.filter(|d| d.blocked_at.is_some());
    let signals = observe(svc, &user, &place, known.as_ref(), now).await?;
    let mut factors = factors(svc, &user, &sign_in.login).await?;
    // A passkey needs a browser: the API's second factors are the codes it can take.
    factors.retain(|f| *f != Factor::Passkey);
    let hook = hook_says(svc, &user, &client, &sign_in.login, &signals, &place, now).await?;
    let request = Request { hook, ..Request::default() };
    let decision = decide(&signals, &request, &client.settings.step_up, &factors);
    decision.count("api");
    let entry = |what| AuditEntry { what, user: Some(user.id.clone()), client: Some(client.id.clone()), at: now };
    let audit = StepUpAudit::Decision {
        decision: decision.clone(),
        signals: signals.clone(),
        ip: place.ip,
        country: place.country.clone(),
        path: Door::Api,
    };
    svc.store.record(entry(audit)).await?;
    match decision {
        Decision::Proceed { reasons, warn } => {
            let device = sign_in
                .user_agent
                .as_deref()
                .and_then(web_layer::describe_user_agent)
                .map(|d| format!("{} ({d})", client.name))
                .unwrap_or_else(|| client.name.clone());
            let audience = crate::notify::Audience {
                client_id: &client.id,
                client_name: &client.name,
                settings: &client.settings,
                ui_locales: None,
            };
            // Every API sign-in is from a "new device"; the owner hears of it when it was let
            // through without a factor it called for, or came from a new country.
            let notify = warn || (!signals.first_sign_in && signals.new_country.is_some());
            let signed_in = SignedIn {
                user: &user,
                client: audience,
                place,
                device_hash,
                device,
                agent: sign_in.user_agent.clone(),
                remember_device: false,
                result: &sign_in.login,
                reasons: &reasons,
                notify,
                warn,
                complete: None,
                decision: None,
            };
            // The sign-in stands either way: a history that could not be written is logged.
            if let Err(e) = record(svc, signed_in, now).await {
                tracing::error!(error = %e, "the sign-in could not be recorded in the history");
            }
            Ok(ApiVerdict::Proceed(sign_in.login))
        }
        Decision::Ask { .. } | Decision::Enroll { .. } => Ok(ApiVerdict::MfaRequired),
        Decision::Deny { reasons } => {
            let denied = StepUpAudit::Denied { reason: DenyReason::Policy, reasons, path: Door::Api };
            svc.store.record(entry(denied)).await?;
            Ok(ApiVerdict::Denied)
        }
    }
}

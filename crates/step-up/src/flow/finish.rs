//! The end of step-up: the interaction is completed for the authorization server, and the sign-in
//! is recorded (history, device, audit log), with the new-sign-in email when it came from a new
//! device or country.

use actix_web::HttpRequest;
use domain::LoginResult;
use domain::User;
use domain::audit::AuditEntry;

use super::assess::{Assessment, Place};
use super::{PageError, Pending};
use crate::StepUpService;
use crate::policy::Reason;
use crate::storage::{LoginEvent, SignInRecord, StepUpAudit};

/// How a sign-in ends.
pub(super) struct Finish<'a> {
    /// The login the authorization server gets.
    pub result: LoginResult,
    pub assessment: &'a Assessment,
    /// Why a factor was (or was not) asked for.
    pub reasons: &'a [Reason],
    /// It was let through without the second factor it called for.
    pub warn: bool,
    /// The decision's audit entry, when `assess` did not write it.
    pub decision: Option<AuditEntry<StepUpAudit>>,
}

/// Completes the interaction and records the sign-in, telling the account's owner when it came
/// from a new device or country.
pub(super) async fn finish(
    svc: &StepUpService,
    req: &HttpRequest,
    p: &Pending,
    f: Finish<'_>,
) -> Result<(), PageError> {
    let now = svc.clock.now();
    let s = &f.assessment.signals;
    let signed_in = SignedIn {
        user: &p.user,
        client: crate::notify::Audience::of(&p.interaction),
        place: Place::here(req),
        device_hash: f.assessment.device.hash(svc),
        device: web_layer::RequestOrigin::of(req).device.unwrap_or_else(|| "an unknown device".into()),
        agent: web_layer::user_agent(req).map(str::to_owned),
        remember_device: true,
        result: &f.result,
        reasons: f.reasons,
        notify: f.warn || (!s.first_sign_in && (s.new_device || s.new_country.is_some())),
        warn: f.warn,
        complete: Some(&p.interaction.id),
        decision: f.decision,
    };
    // The interaction is completed in the same transaction as everything the sign-in records.
    match record(svc, signed_in, now).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(PageError::Expired),
        Err(e) => Err(PageError::unavailable("sign-in record", e)),
    }
}

/// A sign-in that passed step-up, as the history, the audit log and the owner's email record it.
pub(crate) struct SignedIn<'a> {
    pub user: &'a User,
    pub client: crate::notify::Audience<'a>,
    pub place: Place,
    /// Keyed hash of the device's id (the device cookie, or the API's stand-in).
    pub device_hash: Vec<u8>,
    /// "Firefox on Linux", for the history.
    pub device: String,
    /// The user agent, which the owner's email describes in their language.
    pub agent: Option<String>,
    /// Whether the device becomes known to the account (only a device cookie can be).
    pub remember_device: bool,
    pub result: &'a LoginResult,
    pub reasons: &'a [Reason],
    /// Whether the account's owner is emailed about it (with a "This wasn't me" link).
    pub notify: bool,
    /// It was let through without the second factor it called for.
    pub warn: bool,
    /// The hosted pages' interaction, completed with `result` along with the rest.
    pub complete: Option<&'a domain::InteractionId>,
    /// The decision's audit entry, when it was not written before.
    pub decision: Option<AuditEntry<StepUpAudit>>,
}

/// Records a sign-in that passed step-up, in one transaction: the interaction completed (the
/// hosted pages), the history, the device, the audit entries and the owner's email. False, with
/// nothing written, when the interaction is no longer live.
pub(crate) async fn record(svc: &StepUpService, s: SignedIn<'_>, now: i64) -> Result<bool, domain::StorageError> {
    let notice = match s.notify && svc.config.notify_new_sign_ins {
        true => {
            let device = crate::notify::Device { agent: s.agent.as_deref(), through_api: s.complete.is_none() };
            crate::notify::new_sign_in(svc, s.user, &s.client, &s.place.shown(), device, s.warn, now)
        }
        false => None,
    };
    let (message, not_me) = match notice {
        Some((message, hash)) => (Some(message), Some(hash)),
        None => (None, None),
    };
    let event = LoginEvent {
        id: domain::ids::sortable_id(),
        user_id: s.user.id.clone(),
        client_id: s.client.client_id.clone(),
        created_at: now,
        ip: s.place.ip.to_string(),
        network: s.place.network.clone(),
        country: s.place.country.clone(),
        device_hash: s.device_hash.clone(),
        device: s.device.clone(),
        amr: s.result.amr.clone(),
        acr: s.result.acr,
        reasons: s.reasons.to_vec(),
        not_me_hash: not_me,
    };
    let what = StepUpAudit::SignedIn { acr: s.result.acr, amr: s.result.amr.clone(), reasons: s.reasons.to_vec() };
    let signed_in =
        AuditEntry { what, user: Some(s.user.id.clone()), client: Some(s.client.client_id.clone()), at: now };
    let queued = message.is_some();
    let record = SignInRecord {
        complete: s.complete.map(|id| (id, s.result)),
        event: &event,
        remember_device: s.remember_device,
        audit: s.decision.into_iter().chain([signed_in]).collect(),
        message,
    };
    let recorded = svc.store.record_sign_in(record, now).await?;
    if recorded {
        let (user, client, acr) = (&s.user.id, &s.client.client_id, s.result.acr.as_str());
        tracing::info!(%user, %client, acr, "signed in");
    }
    if recorded && queued {
        svc.outbox_ready.notify_one();
    }
    Ok(recorded)
}

//! `GET /step-up/{interaction}`: what the history says about this sign-in, what the policy decides
//! from it, and the first answer: go on, ask for a factor, enrol one, or refuse.

use actix_web::{HttpRequest, HttpResponse, web};
use domain::{DenyReason, User};
use web_layer::{RequestOrigin, see_other};

use super::finish::{Finish, finish};
use super::{PageError, Pending, deny, with_device};
use crate::StepUpService;
use crate::device::Device;
use crate::policy::{Decision, Here, HookSays, Past, Request, Signals, decide};
use crate::storage::{Door, StepUpAudit};
use domain::audit::AuditEntry;

/// Where a sign-in comes from: its (canonical) IP, that IP's network, and its country.
pub(crate) struct Place {
    pub ip: std::net::IpAddr,
    pub network: String,
    pub country: Option<String>,
}

impl Place {
    pub(crate) fn of(svc: &StepUpService, ip: std::net::IpAddr) -> Place {
        Place { ip, network: crate::geo::network(ip), country: svc.geo.country(ip) }
    }

    /// Where this request comes from (its country as the middleware placed it).
    pub(super) fn here(req: &HttpRequest) -> Place {
        let origin = RequestOrigin::of(req);
        let ip = origin.ip.ip();
        Place { ip, network: crate::geo::network(ip), country: origin.country }
    }

    /// "FR (203.0.113.9)", for messages.
    pub(super) fn shown(&self) -> String {
        match &self.country {
            Some(c) => format!("{c} ({})", self.ip),
            None => self.ip.to_string(),
        }
    }
}

/// What the history says about a sign-in of `user` from `place` on a device `known` to the account
/// (its record, blocked or not), or on a new one.
pub(crate) async fn observe(
    svc: &StepUpService,
    user: &User,
    place: &Place,
    known: Option<&crate::storage::Device>,
    now: i64,
) -> Result<Signals, domain::StorageError> {
    let history: Vec<Past> = svc
        .store
        .login_history(&user.id, 100)
        .await?
        .into_iter()
        .map(|e| Past { at: e.created_at, ip: e.ip, network: e.network, country: e.country })
        .collect();
    let here = Here {
        ip: place.ip.to_string(),
        network: place.network.clone(),
        country: place.country.clone(),
        known_device: known.is_some_and(|d| d.blocked_at.is_none()),
        blocked_device: known.is_some_and(|d| d.blocked_at.is_some()),
    };
    Ok(Signals::observe(&history, &here, now, svc.config.impossible_travel_kmh))
}

/// What the `after_first_factor` hook is asked about.
pub(crate) struct Asked<'a> {
    pub user: &'a domain::User,
    pub client_id: &'a domain::ClientId,
    pub client_name: &'a str,
    /// The client's choice of hooks.
    pub client_hooks: &'a domain::ClientHooks,
    pub first: &'a domain::LoginResult,
    pub signals: &'a Signals,
    pub place: &'a Place,
}

/// The operator's `after_first_factor` hook, asked with the risk signals before the policy
/// decides (the hosted pages and the passwordless API alike): it may allow, deny, or require a
/// second factor, each with its reason. A failure is the hook's under `fail_closed` (the caller
/// refuses the step); under `fail_open` it is an allow.
pub(crate) async fn after_first_factor(
    svc: &StepUpService,
    asked: Asked<'_>,
    now: i64,
) -> Result<HookSays, hooks::HookError> {
    let Some(hook) = svc.hooks.for_client(hooks::Step::AfterFirstFactor, asked.client_hooks)? else {
        return Ok(HookSays::Nothing);
    };
    let payload = serde_json::json!({
        "user": {
            "sub": asked.user.id.as_str(),
            "email": asked.user.email.as_ref().map(|e| e.as_str()),
            "phone_number": asked.user.phone.as_ref().map(|n| n.as_str()),
        },
        "client": { "id": asked.client_id.as_str(), "name": asked.client_name },
        "first_factor": {
            "amr": asked.first.amr.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
            "acr": asked.first.acr.as_str(),
        },
        "signals": asked.signals,
        "ip": asked.place.ip.to_string(),
        "country": asked.place.country,
    });
    let answer = hook.decide(payload, now).await?;
    Ok(match answer.decision {
        hooks::Decision::Allow => HookSays::Nothing,
        hooks::Decision::Deny => HookSays::Deny(answer.shown_message()),
        hooks::Decision::RequireMfa => HookSays::RequireFactor(answer.shown_message()),
    })
}

/// Everything `decide` needs, gathered; and its answer.
pub(super) struct Assessment {
    pub signals: Signals,
    pub decision: Decision,
    pub device: Device,
}

/// Assesses the sign-in; the decision and its signals go to the audit log now.
pub(super) async fn assess(svc: &StepUpService, req: &HttpRequest, p: &Pending) -> Result<Assessment, PageError> {
    let (assessment, audit) = assess_unrecorded(svc, req, p).await?;
    svc.store.record(audit).await.map_err(|e| PageError::unavailable("step-up assessment", e))?;
    Ok(assessment)
}

/// Assesses the sign-in, and returns the decision's audit entry for the caller to write.
async fn assess_unrecorded(
    svc: &StepUpService,
    req: &HttpRequest,
    p: &Pending,
) -> Result<(Assessment, AuditEntry<StepUpAudit>), PageError> {
    let unavailable = |e| PageError::unavailable("step-up assessment", e);
    let now = svc.clock.now();
    let device = crate::device::read(svc, req);
    let known = svc.store.device(&p.user.id, device.hash(svc)).await.map_err(unavailable)?;
    let place = Place::here(req);
    let signals = observe(svc, &p.user, &place, known.as_ref(), now).await.map_err(unavailable)?;
    let asked = Asked {
        user: &p.user,
        client_id: &p.interaction.client_id,
        client_name: &p.interaction.client_name,
        client_hooks: &p.interaction.client_settings.hooks,
        first: &p.first,
        signals: &signals,
        place: &place,
    };
    let hook = after_first_factor(svc, asked, now).await.map_err(|_| PageError::Paused)?;
    let request = Request {
        demands_mfa: p.interaction.demands_mfa(),
        multi_factor: p.first.acr == domain::Acr::MultiFactor,
        hook,
    };
    let factors = super::factors(svc, &p.user, &p.first).await.map_err(unavailable)?;
    let decision = decide(&signals, &request, &p.interaction.client_settings.step_up, &factors);
    decision.count("pages");
    let audit = StepUpAudit::Decision {
        decision: decision.clone(),
        signals: signals.clone(),
        ip: place.ip,
        country: place.country.clone(),
        path: Door::Pages,
    };
    Ok((Assessment { signals, decision, device }, p.audit(audit, now)))
}

/// `GET /step-up/{interaction}`: assess the sign-in, then go on, ask for a factor, enrol, or refuse.
pub async fn start(req: HttpRequest, p: Pending, svc: web::Data<StepUpService>) -> HttpResponse {
    let (a, audit) = match assess_unrecorded(&svc, &req, &p).await {
        Ok(assessed) => assessed,
        Err(e) => return e.respond(&svc, &req),
    };
    // A sign-in that goes through writes its decision with everything else, in one transaction.
    let decision = match &a.decision {
        Decision::Proceed { .. } => Some(audit),
        _ => match svc.store.record(audit).await {
            Ok(()) => None,
            Err(e) => return PageError::unavailable("step-up assessment", e).respond(&svc, &req),
        },
    };
    match &a.decision {
        Decision::Proceed { reasons, warn } => {
            let done = Finish { result: p.first.clone(), assessment: &a, reasons, warn: *warn, decision };
            match finish(&svc, &req, &p, done).await {
                Ok(()) => {
                    let next = super::passkey::next(&svc, &req, &p.interaction, &p.first);
                    with_device(see_other(&next), &svc, &a.device)
                }
                Err(e) => e.respond(&svc, &req),
            }
        }
        Decision::Ask { .. } => super::factors::step_page(&svc, &req, &p, Default::default()).await,
        Decision::Enroll { .. } => with_device(see_other(&crate::paths::enroll(&p.interaction.id)), &svc, &a.device),
        Decision::Deny { reasons } => deny(&svc, &req, &p, DenyReason::Policy, reasons.clone()).await,
    }
}

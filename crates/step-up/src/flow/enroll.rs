//! `/step-up/{interaction}/enroll`: setting up an authenticator app when step-up calls for a
//! second factor the user does not have yet. The first code from it turns it on; the ten recovery
//! codes are shown once.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::DenyReason;

use super::assess::{Assessment, assess};
use super::factors::upgraded;
use super::finish::{Finish, finish};
use super::{CodeForm, PageError, Pending, deny, give_back_failure, take_failure, with_device};
use crate::StepUpService;
use crate::policy::{Decision, Factor};
use crate::storage::{Confirm, StepUpAudit};

/// The enrolment's authenticator, for this user: the pending one, or a new secret. `None`: the user
/// has a confirmed one already (nothing to enrol).
async fn enrolment(svc: &StepUpService, p: &Pending) -> Result<Option<totp_rs::Totp>, PageError> {
    let failed = |e| PageError::unavailable("enrolment", e);
    let now = svc.clock.now();
    let aad = format!("totp:{}", p.user.id);
    let existing = svc.store.totp_factor(&p.user.id).await.map_err(failed)?;
    let secret = match existing {
        Some(f) if f.confirmed_at.is_some() => return Ok(None),
        // The same QR code on a reload, for as long as this sign-in lasts: a pending secret belongs
        // to the sign-in that created it, and no other sign-in can see or confirm it.
        Some(f) if f.interaction_id.as_ref() == Some(&p.interaction.id) => svc
            .factor_sealer
            .open(aad.as_bytes(), &f.sealed_secret)
            .map_err(|e| PageError::unavailable("enrolment", e))?,
        _ => {
            let secret = crate::totp::new_secret();
            let sealed = svc.factor_sealer.seal(aad.as_bytes(), &secret);
            if !svc.store.begin_totp(&p.user.id, sealed, &p.interaction.id, now).await.map_err(failed)? {
                return Ok(None);
            }
            secret
        }
    };
    crate::totp::totp(&secret, p.product(svc), &crate::totp::account_label(&p.user))
        .map(Some)
        .map_err(|e| PageError::broken("enrolment", e))
}

async fn enroll_form(svc: &StepUpService, req: &HttpRequest, p: &Pending, error: Option<String>) -> HttpResponse {
    let t = match enrolment(svc, p).await {
        Ok(Some(t)) => t,
        Ok(None) => return p.step_up_page(),
        Err(e) => return e.respond(svc, req),
    };
    let qr = match crate::totp::qr_svg(&t) {
        Ok(q) => q,
        Err(e) => return PageError::broken("QR code", e).respond(svc, req),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", p.interaction.id.as_str());
    ctx.insert("qr", &qr);
    ctx.insert("secret", &crate::totp::secret_text(&t));
    // On a phone the QR code cannot be scanned: the app opens from the link instead.
    ctx.insert("otpauth", &t.to_url().unwrap_or_default());
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    ctx.insert("error", &error);
    p.page(svc, req).showing_secrets().render(status, "pages/enroll.html", ctx)
}

/// `GET /step-up/{interaction}/enroll`: the authenticator set-up page (QR code and key).
pub async fn enroll_page(req: HttpRequest, p: Pending, svc: web::Data<StepUpService>) -> HttpResponse {
    if let Err(resp) = enrolment_allowed(&svc, &req, &p).await {
        return resp;
    }
    enroll_form(&svc, &req, &p, None).await
}

/// Enrolment only where step-up decided on it (the user has no second factor and one is called
/// for): never as a way around a factor that was asked for, or around a refusal.
async fn enrolment_allowed(svc: &StepUpService, req: &HttpRequest, p: &Pending) -> Result<Assessment, HttpResponse> {
    let a = assess(svc, req, p).await.map_err(|e| e.respond(svc, req))?;
    match &a.decision {
        Decision::Enroll { .. } => Ok(a),
        Decision::Deny { reasons } => Err(deny(svc, req, p, DenyReason::Policy, reasons.clone()).await),
        Decision::Ask { .. } | Decision::Proceed { .. } => Err(p.step_up_page()),
    }
}

/// `POST /step-up/{interaction}/enroll`: the first code from the new authenticator turns it on;
/// the ten recovery codes are shown once, and the sign-in completes as multi-factor.
pub async fn enroll(
    req: HttpRequest,
    p: Pending,
    form: web::Form<CodeForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    let a = match enrolment_allowed(&svc, &req, &p).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let t = match enrolment(&svc, &p).await {
        Ok(Some(t)) => t,
        Ok(None) => return p.step_up_page(),
        Err(e) => return e.respond(&svc, &req),
    };
    let codes = crate::totp::recovery_codes();
    if let Err(refused) = take_failure(&svc, &req, &p).await {
        return refused;
    }
    match confirm(&svc, &p, &t, &form.code, &codes).await {
        Ok(true) => {}
        Ok(false) => {
            return enroll_form(&svc, &req, &p, Some(svc.catalog.text(&p.lang, "step_wrong").to_owned())).await;
        }
        Err(e) => return e.respond(&svc, &req),
    }
    give_back_failure(&svc, &p).await;
    let reasons = match &a.decision {
        Decision::Enroll { reasons } => reasons.clone(),
        _ => Vec::new(),
    };
    // The new authenticator was proved in this sign-in, after the first factor: the sign-in counts
    // as multi-factor, as an enrolment does everywhere (see docs/security.md).
    let now = svc.clock.now();
    let done = Finish {
        result: upgraded(&p.first, &super::factors::code_amr(Factor::Totp), now),
        assessment: &a,
        reasons: &reasons,
        warn: false,
        decision: None,
    };
    if let Err(e) = finish(&svc, &req, &p, done).await {
        return e.respond(&svc, &req);
    }
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", p.interaction.id.as_str());
    ctx.insert("codes", &codes);
    // The authorization server's end of the sign-in, where the page's button goes.
    ctx.insert("resume", &web_layer::paths::resume(&p.interaction.id));
    let page = p.page(&svc, &req).showing_secrets().render(StatusCode::OK, "pages/recovery_codes.html", ctx);
    with_device(page, &svc, &a.device)
}

/// Turns the authenticator on if `typed` is its current code, storing the recovery codes' keyed
/// hashes with it (and the enrolment in the audit log).
async fn confirm(
    svc: &StepUpService,
    p: &Pending,
    t: &totp_rs::Totp,
    typed: &str,
    codes: &[String],
) -> Result<bool, PageError> {
    let now = svc.clock.now();
    let Some(step) = crate::totp::check(t, typed, now) else { return Ok(false) };
    let hashes = crate::totp::recovery_hashes(&svc.hasher, codes);
    let confirm = Confirm { interaction: &p.interaction.id, recovery_codes: hashes };
    let confirmed = svc
        .store
        .accept_totp_step(&p.user.id, step, Some(confirm), now)
        .await
        .map_err(|e| PageError::unavailable("enrolment", e))?;
    if confirmed {
        let enrolled = p.audit(StepUpAudit::FactorEnrolled { factor: Factor::Totp }, now);
        if let Err(e) = svc.store.record(enrolled).await {
            tracing::error!(error = %e, "audit log");
        }
    }
    Ok(confirmed)
}

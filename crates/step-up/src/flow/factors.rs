//! The second factors: which a user can prove now, the page that asks for one, and checking them:
//! the authenticator app's code or a recovery code (`totp`), or a code on the other channel
//! (`send`, then `code`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::ports::CodeError;
use domain::{Acr, Amr, AuthTime, DenyReason, Destination, LoginResult, User};

use super::assess::{Place, assess};
use super::finish::{Finish, finish};
use super::{CodeForm, PageError, Pending, deny, give_back_failure, take_failure, with_device};
use crate::StepUpService;
use crate::policy::{Decision, Factor};

/// The other channel a user can get a code on: text when the first factor was email, and the
/// reverse; only to a verified number or address.
pub(crate) fn other_channel(first: &LoginResult, user: &User) -> Option<OtherChannel> {
    if first.amr.contains(&Amr::Sms) {
        user.email.as_ref().filter(|_| user.email_verified).map(|e| OtherChannel {
            factor: Factor::Email,
            destination: Destination::Email(e.clone()),
            shown: e.to_string(),
        })
    } else {
        user.phone.as_ref().filter(|_| user.phone_verified).map(|n| OtherChannel {
            factor: Factor::Sms,
            destination: Destination::Phone(n.clone()),
            shown: n.masked(),
        })
    }
}

/// Where a code on the other channel goes, and how the pages show it (a phone number masked).
pub(crate) struct OtherChannel {
    factor: Factor,
    destination: Destination,
    shown: String,
}

/// The second factors `user` can prove now, after `first`.
pub(crate) async fn factors(
    svc: &StepUpService,
    user: &User,
    first: &LoginResult,
) -> Result<Vec<Factor>, domain::StorageError> {
    let mut factors = Vec::new();
    if let Some(passkeys) = &svc.passkeys
        && passkeys.has_any(&user.id).await?
    {
        factors.push(Factor::Passkey);
    }
    if svc.store.totp_factor(&user.id).await?.is_some_and(|f| f.confirmed_at.is_some()) {
        factors.push(Factor::Totp);
        if svc.store.recovery_codes_left(&user.id).await? > 0 {
            factors.push(Factor::RecoveryCode);
        }
    }
    if let Some(other) = other_channel(first, user) {
        factors.push(other.factor);
    }
    Ok(factors)
}

#[derive(Default)]
pub(super) struct StepNotes {
    error: Option<String>,
    notice: Option<String>,
    sent_to: Option<String>,
    /// Seconds until a code may be sent again (the button counts down).
    resend_in: u64,
    /// The factor the user was proving (a wrong code, a code sent): the page stays on it.
    factor: Option<Factor>,
}

impl StepNotes {
    pub(super) fn error(error: String, factor: Factor) -> Self {
        StepNotes { error: Some(error), factor: Some(factor), ..Default::default() }
    }
}

/// `?factor=` on the step-up page: the way the user picked under "Try another way".
#[derive(serde::Deserialize)]
struct Picked {
    factor: Factor,
}

/// The page that asks for a second factor, one at a time (issue 16): the one the user was proving,
/// else the one picked under "Try another way", else the strongest they have
/// ([`Factor::STRONGEST_FIRST`]). The others are listed as links that show the page with them.
pub(super) async fn step_page(svc: &StepUpService, req: &HttpRequest, p: &Pending, notes: StepNotes) -> HttpResponse {
    let factors = match factors(svc, &p.user, &p.first).await {
        Ok(f) => f,
        Err(e) => return PageError::unavailable("factor lookup", e).respond(svc, req),
    };
    let offered: Vec<Factor> = Factor::STRONGEST_FIRST.into_iter().filter(|f| factors.contains(f)).collect();
    let picked = web::Query::<Picked>::from_query(req.query_string()).ok().map(|q| q.factor);
    let shown = notes.factor.or(picked).filter(|f| offered.contains(f)).or(offered.first().copied());
    let other = other_channel(&p.first, &p.user);
    let label = |f: Factor| match (f, &other) {
        (Factor::Sms | Factor::Email, Some(other)) => {
            let key = if f == Factor::Sms { "other_send_sms" } else { "other_send_email" };
            svc.catalog.fill(&p.lang, key, &[("destination", &other.shown)])
        }
        (Factor::Passkey, _) => svc.catalog.text(&p.lang, "passkey_step").to_owned(),
        (Factor::RecoveryCode, _) => svc.catalog.text(&p.lang, "step_use_recovery").to_owned(),
        _ => svc.catalog.text(&p.lang, "step_use_totp").to_owned(),
    };
    let others: Vec<OtherWay> = offered
        .iter()
        .filter(|f| Some(**f) != shown)
        .map(|f| OtherWay {
            href: format!("{}?factor={}", web_layer::paths::step_up(&p.interaction.id), f.name()),
            label: label(*f),
        })
        .collect();
    let page = p.page(svc, req);
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", p.interaction.id.as_str());
    ctx.insert("client_name", &p.interaction.client_name);
    ctx.insert("shown", &shown.map(Factor::name));
    ctx.insert("others", &others);
    ctx.insert("other_label", &other.as_ref().map(|o| label(o.factor)));
    ctx.insert("sent_to", &notes.sent_to);
    ctx.insert("resend_in", &notes.resend_in);
    ctx.insert("resend_wait", &svc.catalog.fill(&p.lang, "resend_wait", &[("seconds", &notes.resend_in.to_string())]));
    ctx.insert("error", &notes.error);
    ctx.insert("notice", &notes.notice);
    let status = if notes.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    page.render(status, "pages/step_up.html", ctx)
}

/// Another way to prove it is you, under "Try another way": the step-up page showing that factor.
#[derive(serde::Serialize)]
struct OtherWay {
    href: String,
    label: String,
}

/// The `amr` a passed code adds (RFC 8176 §2): `sms` for a texted code, `otp` for the others.
pub(crate) fn code_amr(factor: Factor) -> Vec<Amr> {
    match factor {
        Factor::Sms => vec![Amr::Sms],
        _ => vec![Amr::Otp],
    }
}

/// The login after a passed second factor: multi-factor `acr`, the factor's `amr` (`added`) added
/// to the first factor's, plus `mfa` (RFC 8176 §2), authenticated now.
pub(crate) fn upgraded(first: &LoginResult, added: &[Amr], now: i64) -> LoginResult {
    let mut amr = first.amr.clone();
    for a in added.iter().copied().chain([Amr::Mfa]) {
        if !amr.contains(&a) {
            amr.push(a);
        }
    }
    LoginResult { user_id: first.user_id.clone(), amr, acr: Acr::MultiFactor, auth_time: AuthTime(now) }
}

/// `POST /step-up/{interaction}/totp`: a code from the authenticator app, or a recovery code.
pub async fn totp(
    req: HttpRequest,
    p: Pending,
    form: web::Form<CodeForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    if let Err(refused) = take_failure(&svc, &req, &p).await {
        return refused;
    }
    match check_second_factor(&svc, &p, &form.code, svc.clock.now()).await {
        Ok(Some(factor)) => {
            give_back_failure(&svc, &p).await;
            passed_factor(&svc, &req, &p, code_amr(factor)).await
        }
        Ok(None) => wrong_code(&svc, &req, &p, form.factor.unwrap_or(Factor::Totp), None).await,
        Err(e) => e.respond(&svc, &req),
    }
}

/// Which factor a typed code proves, if any: the authenticator's current code (each time step
/// once), or an unused recovery code.
async fn check_second_factor(
    svc: &StepUpService,
    p: &Pending,
    typed: &str,
    now: i64,
) -> Result<Option<Factor>, PageError> {
    let failed = |e| PageError::unavailable("second factor check", e);
    let factor = svc.store.totp_factor(&p.user.id).await.map_err(failed)?;
    let Some(factor) = factor.filter(|f| f.confirmed_at.is_some()) else { return Ok(None) };
    // A secret sealed under another master key cannot be opened: the app's codes cannot be
    // checked, but recovery codes (keyed hashes) still can.
    let secret = svc.factor_sealer.open(format!("totp:{}", p.user.id).as_bytes(), &factor.sealed_secret);
    if let Err(e) = &secret {
        tracing::error!(user = %p.user.id, error = %e, "an authenticator secret cannot be opened");
    }
    if let Ok(secret) = secret {
        let t = crate::totp::totp(&secret, &svc.config.product_name, "account")
            .map_err(|e| PageError::broken("second factor check", e))?;
        if let Some(step) = crate::totp::check(&t, typed, now) {
            // A step already accepted (a replayed code) fails here.
            let accepted = svc.store.accept_totp_step(&p.user.id, step, None, now).await.map_err(failed)?;
            return Ok(accepted.then_some(Factor::Totp));
        }
    }
    let recovery = crate::totp::normalize_recovery(typed);
    if recovery.len() == 8 {
        let hash = svc.hasher.hash("recovery-code", &recovery).0;
        if svc.store.use_recovery_code(&p.user.id, hash, now).await.map_err(failed)? {
            return Ok(Some(Factor::RecoveryCode));
        }
    }
    Ok(None)
}

/// A wrong code (its unit of the failure budget stays spent): the step page again, saying so.
async fn wrong_code(
    svc: &StepUpService,
    req: &HttpRequest,
    p: &Pending,
    factor: Factor,
    sent_to: Option<String>,
) -> HttpResponse {
    let mut notes = StepNotes::error(svc.catalog.text(&p.lang, "step_wrong").to_owned(), factor);
    notes.sent_to = sent_to;
    step_page(svc, req, p, notes).await
}

/// A second factor passed: assessed again (the policy may refuse), then the sign-in completes as
/// multi-factor.
pub(super) async fn passed_factor(
    svc: &StepUpService,
    req: &HttpRequest,
    p: &Pending,
    added: Vec<Amr>,
) -> HttpResponse {
    let a = match assess(svc, req, p).await {
        Ok(a) => a,
        Err(e) => return e.respond(svc, req),
    };
    let reasons = match &a.decision {
        Decision::Ask { reasons, .. } | Decision::Enroll { reasons } | Decision::Proceed { reasons, .. } => {
            reasons.clone()
        }
        Decision::Deny { reasons } => return deny(svc, req, p, DenyReason::Policy, reasons.clone()).await,
    };
    let result = upgraded(&p.first, &added, svc.clock.now());
    let next = super::passkey::next(svc, req, &p.interaction, &result);
    let done = Finish { result, assessment: &a, reasons: &reasons, warn: false, decision: None };
    match finish(svc, req, p, done).await {
        Ok(()) => with_device(web_layer::see_other(&next), svc, &a.device),
        Err(e) => e.respond(svc, req),
    }
}

/// `POST /step-up/{interaction}/send`: a code on the other channel.
pub async fn send(req: HttpRequest, p: Pending, svc: web::Data<StepUpService>) -> HttpResponse {
    let Some(OtherChannel { factor, destination, shown }) = other_channel(&p.first, &p.user) else {
        return p.step_up_page();
    };
    let ip = Place::here(&req).ip;
    let agent = web_layer::user_agent(&req).map(str::to_owned);
    let sent = svc.codes.send(p.interaction.id.clone(), destination, ip, agent, p.lang.clone()).await;
    let notes = match sent {
        Ok(resend_in) => StepNotes {
            notice: Some(svc.catalog.fill(&p.lang, "other_sent", &[("destination", &shown)])),
            sent_to: Some(shown),
            resend_in,
            factor: Some(factor),
            ..Default::default()
        },
        // Too soon: the countdown says when a code may be sent.
        Err(CodeError::Limited { retry_after }) => StepNotes {
            resend_in: retry_after,
            ..StepNotes::error(
                svc.catalog.fill(&p.lang, "too_soon_text", &[("seconds", &retry_after.to_string())]),
                factor,
            )
        },
        Err(_) => StepNotes::error(svc.catalog.text(&p.lang, "paused_text").to_owned(), factor),
    };
    step_page(&svc, &req, &p, notes).await
}

/// `POST /step-up/{interaction}/code`: the code sent on the other channel.
pub async fn code(
    req: HttpRequest,
    p: Pending,
    form: web::Form<CodeForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    let Some(OtherChannel { factor, destination, shown, .. }) = other_channel(&p.first, &p.user) else {
        return p.step_up_page();
    };
    let ip = Place::here(&req).ip;
    if let Err(refused) = take_failure(&svc, &req, &p).await {
        return refused;
    }
    match svc.codes.verify(p.interaction.id.clone(), destination, form.code.clone(), ip).await {
        Ok(()) => {
            give_back_failure(&svc, &p).await;
            passed_factor(&svc, &req, &p, code_amr(factor)).await
        }
        Err(CodeError::Wrong { .. }) => wrong_code(&svc, &req, &p, factor, Some(shown)).await,
        Err(CodeError::Blocked) => deny(&svc, &req, &p, DenyReason::BlockedNetwork, Vec::new()).await,
        Err(CodeError::Unavailable) => PageError::Paused.respond(&svc, &req),
        Err(_) => {
            step_page(&svc, &req, &p, StepNotes::error(svc.catalog.text(&p.lang, "dead_text").to_owned(), factor)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_factor_raises_acr_and_adds_amr() {
        let first = LoginResult {
            user_id: domain::UserId::generate(),
            amr: vec![Amr::Otp],
            acr: Acr::SingleFactor,
            auth_time: AuthTime(1),
        };
        let r = upgraded(&first, &code_amr(Factor::Totp), 9);
        assert_eq!((r.acr, r.amr.as_slice(), r.auth_time), (Acr::MultiFactor, &[Amr::Otp, Amr::Mfa][..], AuthTime(9)));
        let r = upgraded(&first, &code_amr(Factor::Sms), 9);
        assert_eq!(r.amr, [Amr::Otp, Amr::Sms, Amr::Mfa]);
    }
}

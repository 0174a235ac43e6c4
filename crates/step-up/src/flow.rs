//! The step-up pages, in order: `start` assesses the sign-in (signals → decision, written to the
//! audit log) and goes on, asks for a factor, sends the user to enrol, or refuses; `totp`, `code`
//! and `enroll` check a factor; `finish` completes the interaction for the authorization server,
//! records the sign-in in the history, remembers the device and sends the new-sign-in email.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use domain::audit::{AuditEvent, AuditKind};
use domain::counters::Decision as Limit;
use domain::web::{BrowserId, ClientIp, CsrfToken, content_security_policy};
use domain::{Acr, Amr, AuthTime, DenyReason, Destination, Interaction, InteractionId, LoginResult, User};
use serde::Deserialize;

use crate::StepUpService;
use crate::device::Device;
use crate::policy::{Decision, Factor, Here, Past, Reason, Request, Signals, decide};
use crate::storage::{Confirm, LoginEvent};

/// An audit entry about `p`'s sign-in.
fn audit_entry(p: &Pending, kind: AuditKind, detail: serde_json::Value, at: i64) -> AuditEvent {
    AuditEvent { kind, user: Some(p.user.id.clone()), client: Some(p.interaction.client_id.clone()), detail, at }
}

/// A sign-in waiting for step-up, in the browser that started it.
struct Pending {
    interaction: Interaction,
    first: LoginResult,
    user: User,
    lang: String,
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

fn resume(id: &InteractionId) -> HttpResponse {
    see_other(&format!("/authorize/resume/{id}"))
}

fn lang(svc: &StepUpService, req: &HttpRequest, interaction: Option<&Interaction>) -> String {
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    svc.catalog.negotiate(interaction.and_then(|i| i.ui_locales.as_deref()), accept).to_owned()
}

/// Renders a page. `form_target`: where its forms end up after redirects (the client's redirect
/// URI), whose origin CSP `form-action` must allow (browsers apply it to those redirects).
#[allow(clippy::too_many_arguments)] // one value each; a struct would only rename them
pub(crate) fn render(
    svc: &StepUpService,
    req: &HttpRequest,
    lang: &str,
    status: StatusCode,
    name: &str,
    mut ctx: tera::Context,
    product: &str,
    form_target: Option<&str>,
) -> HttpResponse {
    ctx.insert("csrf", &req.extensions().get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default());
    ctx.insert("lang", lang);
    ctx.insert("t", svc.catalog.table(lang));
    ctx.insert("product_name", product);
    match svc.tera.render(name, &ctx) {
        Ok(body) => HttpResponse::build(status)
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                content_security_policy(form_target.and_then(domain::web::origin_of).as_deref()),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = ?e, template = name, "page could not be rendered");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("server_error")
        }
    }
}

/// A page with the catalog's `{key}_title` and `{key}_text`.
pub(crate) fn message(svc: &StepUpService, req: &HttpRequest, status: StatusCode, key: &str) -> HttpResponse {
    let lang = lang(svc, req, None);
    let mut ctx = tera::Context::new();
    ctx.insert("title", svc.catalog.text(&lang, &format!("{key}_title")));
    ctx.insert("message", svc.catalog.text(&lang, &format!("{key}_text")));
    render(svc, req, &lang, status, "pages/error.html", ctx, &svc.config.product_name, None)
}

fn unavailable(svc: &StepUpService, req: &HttpRequest, context: &str, err: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %err, "{context}");
    message(svc, req, StatusCode::INTERNAL_SERVER_ERROR, "unavailable")
}

/// The interaction, if it waits for step-up in this browser; otherwise the page to show.
async fn pending(svc: &StepUpService, req: &HttpRequest, raw: &str) -> Result<Pending, HttpResponse> {
    let expired = || message(svc, req, StatusCode::BAD_REQUEST, "expired");
    let id = InteractionId::parse(raw).ok_or_else(expired)?;
    let interaction = match svc.store.interaction(&id).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err(expired()),
        Err(e) => return Err(unavailable(svc, req, "interaction lookup", &e)),
    };
    let live = interaction.expires_at > svc.clock.now() && interaction.result.is_none() && interaction.denied.is_none();
    let Some(first) = interaction.first_factor.clone().filter(|_| live) else { return Err(expired()) };
    let browser = req.extensions().get::<BrowserId>().map(|b| svc.hasher.hash("browser", b.0.expose()).0);
    if !browser.is_some_and(|b| domain::secret::constant_time_eq(&b, &interaction.browser_hash)) {
        return Err(message(svc, req, StatusCode::FORBIDDEN, "different_browser"));
    }
    let user = match svc.store.user(&first.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return Err(expired()),
        Err(e) => return Err(unavailable(svc, req, "user lookup", &e)),
    };
    let lang = lang(svc, req, Some(&interaction));
    Ok(Pending { interaction, first, user, lang })
}

macro_rules! pending_or_page {
    ($svc:expr, $req:expr, $id:expr) => {
        match pending($svc, $req, $id).await {
            Ok(p) => p,
            Err(page) => return page,
        }
    };
}

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

    /// "FR (203.0.113.9)", for messages.
    fn shown(&self) -> String {
        match &self.country {
            Some(c) => format!("{c} ({})", self.ip),
            None => self.ip.to_string(),
        }
    }
}

/// Where this request comes from.
fn here_of(svc: &StepUpService, req: &HttpRequest) -> Place {
    Place::of(svc, domain::web::client_ip(req.extensions().get::<ClientIp>(), req.peer_addr()))
}

fn device_description(req: &HttpRequest) -> String {
    req.headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(domain::web::describe_user_agent)
        .unwrap_or_else(|| "an unknown device".into())
}

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

/// Everything `decide` needs, gathered; and its answer.
struct Assessment {
    signals: Signals,
    decision: Decision,
    device: Device,
}

async fn assess(svc: &StepUpService, req: &HttpRequest, p: &Pending) -> Result<Assessment, domain::StorageError> {
    let now = svc.clock.now();
    let device = crate::device::read(svc, req);
    let known = svc.store.device(&p.user.id, device.hash(svc)).await?;
    let place = here_of(svc, req);
    let signals = observe(svc, &p.user, &place, known.as_ref(), now).await?;
    let request = Request { demands_mfa: p.interaction.demands_mfa() };
    let factors = factors(svc, &p.user, &p.first).await?;
    let decision = decide(&signals, &request, &p.interaction.client_settings.step_up, &factors);
    let detail = serde_json::json!({
        "decision": decision, "signals": signals, "ip": place.ip.to_string(), "country": place.country,
    });
    svc.store.record(audit_entry(p, AuditKind::StepUpDecision, detail, now)).await?;
    Ok(Assessment { signals, decision, device })
}

/// `GET /step-up/{interaction}`: assess the sign-in, then go on, ask for a factor, enrol, or refuse.
pub async fn start(req: HttpRequest, path: web::Path<String>, svc: web::Data<StepUpService>) -> HttpResponse {
    let p = pending_or_page!(&svc, &req, &path);
    let a = match assess(&svc, &req, &p).await {
        Ok(a) => a,
        Err(e) => return unavailable(&svc, &req, "step-up assessment", &e),
    };
    match &a.decision {
        Decision::Proceed { reasons, warn } => {
            let result = p.first.clone();
            match finish(&svc, &req, &p, result, &a, reasons, *warn).await {
                Ok(()) => with_device(resume(&p.interaction.id), &svc, &a.device),
                Err(page) => page,
            }
        }
        Decision::Ask { .. } => step_page(&svc, &req, &p, StepNotes::default()).await,
        Decision::Enroll { .. } => {
            with_device(see_other(&format!("/step-up/{}/enroll", p.interaction.id)), &svc, &a.device)
        }
        Decision::Deny { reasons } => deny(&svc, &req, &p, DenyReason::Policy, serde_json::json!(reasons)).await,
    }
}

/// Sets the device cookie on a response (a fresh one, or the same one with its lifetime renewed).
fn with_device(mut resp: HttpResponse, svc: &StepUpService, device: &Device) -> HttpResponse {
    if let Err(e) = resp.add_cookie(&device.cookie(svc)) {
        tracing::warn!(error = %e, "device cookie could not be set");
    }
    resp
}

/// Ends the interaction without a login: the client gets `access_denied`. `why`, the details, goes
/// to the audit log.
async fn deny(
    svc: &StepUpService,
    req: &HttpRequest,
    p: &Pending,
    reason: DenyReason,
    why: serde_json::Value,
) -> HttpResponse {
    let now = svc.clock.now();
    if let Err(e) = svc.store.deny_interaction(&p.interaction.id, reason, now).await {
        return unavailable(svc, req, "interaction deny", &e);
    }
    let detail = serde_json::json!({ "reason": reason, "reasons": why });
    if let Err(e) = svc.store.record(audit_entry(p, AuditKind::StepUpDenied, detail, now)).await {
        tracing::error!(error = %e, "audit log");
    }
    resume(&p.interaction.id)
}

#[derive(Default)]
struct StepNotes {
    error: Option<String>,
    notice: Option<String>,
    sent_to: Option<String>,
}

async fn step_page(svc: &StepUpService, req: &HttpRequest, p: &Pending, notes: StepNotes) -> HttpResponse {
    let factors = match factors(svc, &p.user, &p.first).await {
        Ok(f) => f,
        Err(e) => return unavailable(svc, req, "factor lookup", &e),
    };
    let t = |key: &str| svc.catalog.text(&p.lang, key).to_owned();
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", p.interaction.id.as_str());
    ctx.insert("client_name", &p.interaction.client_name);
    ctx.insert("totp", &factors.contains(&Factor::Totp));
    ctx.insert("recovery", &factors.contains(&Factor::RecoveryCode));
    let other = other_channel(&p.first, &p.user).map(|other| {
        let key = if other.factor == Factor::Sms { "other_send_sms" } else { "other_send_email" };
        (t(key).replace("{destination}", &other.shown), other.shown)
    });
    ctx.insert("other_channel", &other.is_some());
    ctx.insert("other_label", &other.as_ref().map(|(label, _)| label.clone()));
    ctx.insert("sent_to", &notes.sent_to);
    ctx.insert("error", &notes.error);
    ctx.insert("notice", &notes.notice);
    let status = if notes.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let product = product(svc, p);
    render(svc, req, &p.lang, status, "pages/step_up.html", ctx, &product, p.interaction.redirect_uri.as_deref())
}

fn product(svc: &StepUpService, p: &Pending) -> String {
    p.interaction.client_settings.branding.product_name.clone().unwrap_or_else(|| svc.config.product_name.clone())
}

/// The login after a passed second factor: multi-factor `acr`, the factor's `amr` added to the
/// first factor's, plus `mfa` (RFC 8176 §2), authenticated now.
pub(crate) fn upgraded(first: &LoginResult, factor: Factor, now: i64) -> LoginResult {
    let mut amr = first.amr.clone();
    let added = match factor {
        Factor::Sms => Amr::Sms,
        Factor::Totp | Factor::RecoveryCode | Factor::Email => Amr::Otp,
    };
    for a in [added, Amr::Mfa] {
        if !amr.contains(&a) {
            amr.push(a);
        }
    }
    LoginResult { user_id: first.user_id.clone(), amr, acr: Acr::MultiFactor, auth_time: AuthTime(now) }
}

fn failure_key(p: &Pending) -> String {
    format!("stepup:fail:{}", p.user.id)
}

/// Takes one unit of the account's second-factor failure budget before a code is judged, so that
/// parallel guesses get no more comparisons than the budget (`max_failures_per_hour`). A right code
/// gives it back ([`give_back_failure`]). `Ok(false)`: the budget is spent; nothing may be
/// compared and the sign-in is stopped. Errors fail closed.
async fn take_failure(svc: &StepUpService, req: &HttpRequest, p: &Pending) -> Result<bool, HttpResponse> {
    let now = svc.clock.now();
    match svc.limiter.hit(&failure_key(p), svc.config.max_failures_per_hour, 3600, now).await {
        Ok(Limit::Allowed { .. }) => Ok(true),
        Ok(Limit::Limited { .. }) => Ok(false),
        Err(e) => {
            tracing::error!(error = %e, "rate limiter unavailable");
            Err(message(svc, req, StatusCode::SERVICE_UNAVAILABLE, "paused"))
        }
    }
}

/// The code was right: the unit taken for it was no failure.
async fn give_back_failure(svc: &StepUpService, p: &Pending) {
    if let Err(e) = svc.limiter.give_back(&failure_key(p), svc.clock.now()).await {
        tracing::warn!(error = %e, "a failure count could not be given back");
    }
}

/// Takes a unit of the failure budget, or answers with the refusal: the sign-in stopped
/// (`access_denied` for the client), or the counters being unreachable.
macro_rules! failure_budget_or_page {
    ($svc:expr, $req:expr, $p:expr) => {
        match take_failure($svc, $req, $p).await {
            Ok(true) => {}
            Ok(false) => {
                let why = serde_json::json!(["too_many_wrong_codes"]);
                return deny($svc, $req, $p, DenyReason::TooManyWrongCodes, why).await;
            }
            Err(resp) => return resp,
        }
    };
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /step-up/{interaction}/totp`: a code from the authenticator app, or a recovery code.
pub async fn totp(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CodeForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    let p = pending_or_page!(&svc, &req, &path);
    let now = svc.clock.now();
    failure_budget_or_page!(&svc, &req, &p);
    let passed = match check_second_factor(&svc, &p, &form.code, now).await {
        Ok(passed) => passed,
        Err(e) => return unavailable(&svc, &req, "second factor check", &e),
    };
    match passed {
        Some(factor) => {
            give_back_failure(&svc, &p).await;
            passed_factor(&svc, &req, &p, factor).await
        }
        None => wrong_code(&svc, &req, &p, None).await,
    }
}

/// Which factor a typed code proves, if any: the authenticator's current code (each time step
/// once), or an unused recovery code.
async fn check_second_factor(
    svc: &StepUpService,
    p: &Pending,
    typed: &str,
    now: i64,
) -> Result<Option<Factor>, String> {
    let factor = svc.store.totp_factor(&p.user.id).await.map_err(|e| e.to_string())?;
    let Some(factor) = factor.filter(|f| f.confirmed_at.is_some()) else { return Ok(None) };
    // A secret sealed under another master key cannot be opened: the app's codes cannot be
    // checked, but recovery codes (keyed hashes) still can.
    let secret = svc.factor_sealer.open(format!("totp:{}", p.user.id).as_bytes(), &factor.sealed_secret);
    if let Err(e) = &secret {
        tracing::error!(user = %p.user.id, error = %e, "an authenticator secret cannot be opened");
    }
    if let Ok(secret) = secret {
        let t = crate::totp::totp(&secret, &svc.config.product_name, "account")?;
        if let Some(step) = crate::totp::check(&t, typed, now) {
            // A step already accepted (a replayed code) fails here.
            let accepted = svc.store.accept_totp_step(&p.user.id, step, None, now).await.map_err(|e| e.to_string())?;
            return Ok(accepted.then_some(Factor::Totp));
        }
    }
    let recovery = crate::totp::normalize_recovery(typed);
    if recovery.len() == 8 {
        let hash = svc.hasher.hash("recovery-code", &recovery).0;
        if svc.store.use_recovery_code(&p.user.id, hash, now).await.map_err(|e| e.to_string())? {
            return Ok(Some(Factor::RecoveryCode));
        }
    }
    Ok(None)
}

/// A wrong code (its unit of the failure budget stays spent): the step page again, saying so.
async fn wrong_code(svc: &StepUpService, req: &HttpRequest, p: &Pending, sent_to: Option<String>) -> HttpResponse {
    let notes =
        StepNotes { error: Some(svc.catalog.text(&p.lang, "step_wrong").to_owned()), sent_to, ..Default::default() };
    step_page(svc, req, p, notes).await
}

async fn passed_factor(svc: &StepUpService, req: &HttpRequest, p: &Pending, factor: Factor) -> HttpResponse {
    let a = match assess(svc, req, p).await {
        Ok(a) => a,
        Err(e) => return unavailable(svc, req, "step-up assessment", &e),
    };
    let reasons = match &a.decision {
        Decision::Ask { reasons, .. } | Decision::Enroll { reasons } | Decision::Proceed { reasons, .. } => {
            reasons.clone()
        }
        Decision::Deny { reasons } => return deny(svc, req, p, DenyReason::Policy, serde_json::json!(reasons)).await,
    };
    let result = upgraded(&p.first, factor, svc.clock.now());
    match finish(svc, req, p, result, &a, &reasons, false).await {
        Ok(()) => with_device(resume(&p.interaction.id), svc, &a.device),
        Err(page) => page,
    }
}

/// `POST /step-up/{interaction}/send`: a code on the other channel.
pub async fn send(req: HttpRequest, path: web::Path<String>, svc: web::Data<StepUpService>) -> HttpResponse {
    let p = pending_or_page!(&svc, &req, &path);
    let Some(OtherChannel { destination, shown, .. }) = other_channel(&p.first, &p.user) else {
        return see_other(&format!("/step-up/{}", p.interaction.id));
    };
    let ip = here_of(&svc, &req).ip;
    let agent = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let sent = svc.codes.send(p.interaction.id.clone(), destination, ip, agent, p.lang.clone()).await;
    let t = |key: &str| svc.catalog.text(&p.lang, key).to_owned();
    let notes = match sent {
        Ok(()) => StepNotes {
            notice: Some(t("other_sent").replace("{destination}", &shown)),
            sent_to: Some(shown),
            ..Default::default()
        },
        Err(domain::ports::CodeError::Limited { retry_after }) => StepNotes {
            error: Some(t("too_soon_text").replace("{seconds}", &retry_after.to_string())),
            ..Default::default()
        },
        Err(_) => StepNotes { error: Some(t("paused_text")), ..Default::default() },
    };
    step_page(&svc, &req, &p, notes).await
}

/// `POST /step-up/{interaction}/code`: the code sent on the other channel.
pub async fn code(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CodeForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    use domain::ports::CodeError;
    let p = pending_or_page!(&svc, &req, &path);
    let Some(OtherChannel { factor, destination, shown, .. }) = other_channel(&p.first, &p.user) else {
        return see_other(&format!("/step-up/{}", p.interaction.id));
    };
    let ip = here_of(&svc, &req).ip;
    failure_budget_or_page!(&svc, &req, &p);
    match svc.codes.verify(p.interaction.id.clone(), destination, form.code.clone(), ip).await {
        Ok(()) => {
            give_back_failure(&svc, &p).await;
            passed_factor(&svc, &req, &p, factor).await
        }
        Err(CodeError::Wrong { .. }) => wrong_code(&svc, &req, &p, Some(shown)).await,
        Err(CodeError::Blocked) => {
            deny(&svc, &req, &p, DenyReason::BlockedNetwork, serde_json::json!(["blocked_ip"])).await
        }
        Err(CodeError::Unavailable) => message(&svc, &req, StatusCode::SERVICE_UNAVAILABLE, "paused"),
        Err(_) => {
            let notes =
                StepNotes { error: Some(svc.catalog.text(&p.lang, "dead_text").to_owned()), ..Default::default() };
            step_page(&svc, &req, &p, notes).await
        }
    }
}

/// The enrolment's authenticator, for this user: the pending one, or a new secret.
async fn enrolment(svc: &StepUpService, p: &Pending) -> Result<Option<totp_rs::Totp>, String> {
    let now = svc.clock.now();
    let aad = format!("totp:{}", p.user.id);
    let existing = svc.store.totp_factor(&p.user.id).await.map_err(|e| e.to_string())?;
    let secret = match existing {
        Some(f) if f.confirmed_at.is_some() => return Ok(None),
        // The same QR code on a reload, for as long as this sign-in lasts: a pending secret belongs
        // to the sign-in that created it, and no other sign-in can see or confirm it.
        Some(f) if f.interaction_id.as_ref() == Some(&p.interaction.id) => {
            svc.factor_sealer.open(aad.as_bytes(), &f.sealed_secret).map_err(|e| e.to_string())?
        }
        _ => {
            let secret = crate::totp::new_secret();
            let sealed = svc.factor_sealer.seal(aad.as_bytes(), &secret);
            if !svc.store.begin_totp(&p.user.id, sealed, &p.interaction.id, now).await.map_err(|e| e.to_string())? {
                return Ok(None);
            }
            secret
        }
    };
    let account = p
        .user
        .email
        .as_ref()
        .map(|e| e.to_string())
        .or_else(|| p.user.phone.as_ref().map(|n| n.to_string()))
        .unwrap_or_else(|| p.user.id.to_string());
    crate::totp::totp(&secret, &product(svc, p), &account).map(Some)
}

async fn enroll_form(svc: &StepUpService, req: &HttpRequest, p: &Pending, error: Option<String>) -> HttpResponse {
    let t = match enrolment(svc, p).await {
        Ok(Some(t)) => t,
        Ok(None) => return see_other(&format!("/step-up/{}", p.interaction.id)),
        Err(e) => return unavailable(svc, req, "enrolment", &e),
    };
    let qr = match crate::totp::qr_svg(&t) {
        Ok(q) => q,
        Err(e) => return unavailable(svc, req, "QR code", &e),
    };
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", p.interaction.id.as_str());
    ctx.insert("qr", &qr);
    ctx.insert("secret", &crate::totp::secret_text(&t));
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    ctx.insert("error", &error);
    render(svc, req, &p.lang, status, "pages/enroll.html", ctx, &product(svc, p), p.interaction.redirect_uri.as_deref())
}

/// `GET /step-up/{interaction}/enroll`: the authenticator set-up page (QR code and key).
pub async fn enroll_page(req: HttpRequest, path: web::Path<String>, svc: web::Data<StepUpService>) -> HttpResponse {
    let p = pending_or_page!(&svc, &req, &path);
    if let Err(resp) = enrolment_allowed(&svc, &req, &p).await {
        return resp;
    }
    enroll_form(&svc, &req, &p, None).await
}

/// Enrolment only where step-up decided on it (the user has no second factor and one is called
/// for): never as a way around a factor that was asked for, or around a refusal.
async fn enrolment_allowed(svc: &StepUpService, req: &HttpRequest, p: &Pending) -> Result<Assessment, HttpResponse> {
    let a = assess(svc, req, p).await.map_err(|e| unavailable(svc, req, "step-up assessment", &e))?;
    match &a.decision {
        Decision::Enroll { .. } => Ok(a),
        Decision::Deny { reasons } => Err(deny(svc, req, p, DenyReason::Policy, serde_json::json!(reasons)).await),
        Decision::Ask { .. } | Decision::Proceed { .. } => Err(see_other(&format!("/step-up/{}", p.interaction.id))),
    }
}

/// `POST /step-up/{interaction}/enroll`: the first code from the new authenticator turns it on;
/// the ten recovery codes are shown once, and the sign-in completes as multi-factor.
pub async fn enroll(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CodeForm>,
    svc: web::Data<StepUpService>,
) -> HttpResponse {
    let p = pending_or_page!(&svc, &req, &path);
    let a = match enrolment_allowed(&svc, &req, &p).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    let now = svc.clock.now();
    let t = match enrolment(&svc, &p).await {
        Ok(Some(t)) => t,
        Ok(None) => return see_other(&format!("/step-up/{}", p.interaction.id)),
        Err(e) => return unavailable(&svc, &req, "enrolment", &e),
    };
    let codes = crate::totp::recovery_codes();
    let hashes =
        codes.iter().map(|c| svc.hasher.hash("recovery-code", &crate::totp::normalize_recovery(c)).0).collect();
    failure_budget_or_page!(&svc, &req, &p);
    let confirm = Confirm { interaction: &p.interaction.id, recovery_codes: hashes };
    let confirmed = match crate::totp::check(&t, &form.code, now) {
        Some(step) => match svc.store.accept_totp_step(&p.user.id, step, Some(confirm), now).await {
            Ok(ok) => ok,
            Err(e) => return unavailable(&svc, &req, "enrolment", &e),
        },
        None => false,
    };
    if !confirmed {
        return enroll_form(&svc, &req, &p, Some(svc.catalog.text(&p.lang, "step_wrong").to_owned())).await;
    }
    give_back_failure(&svc, &p).await;
    let enrolled = audit_entry(&p, AuditKind::FactorEnrolled, serde_json::json!({ "factor": "totp" }), now);
    if let Err(e) = svc.store.record(enrolled).await {
        tracing::error!(error = %e, "audit log");
    }
    let reasons = match &a.decision {
        Decision::Enroll { reasons } => reasons.clone(),
        _ => Vec::new(),
    };
    // The new authenticator was proved in this sign-in, after the first factor: the sign-in counts
    // as multi-factor, as an enrolment does everywhere (see docs/security.md).
    if let Err(page) = finish(&svc, &req, &p, upgraded(&p.first, Factor::Totp, now), &a, &reasons, false).await {
        return page;
    }
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", p.interaction.id.as_str());
    ctx.insert("codes", &codes);
    let product = product(&svc, &p);
    let target = p.interaction.redirect_uri.as_deref();
    let page = render(&svc, &req, &p.lang, StatusCode::OK, "pages/recovery_codes.html", ctx, &product, target);
    with_device(page, &svc, &a.device)
}

/// `POST /step-up/{interaction}/cancel`: the user stops; the client gets `access_denied`.
pub async fn cancel(req: HttpRequest, path: web::Path<String>, svc: web::Data<StepUpService>) -> HttpResponse {
    let p = pending_or_page!(&svc, &req, &path);
    deny(&svc, &req, &p, DenyReason::Cancelled, serde_json::json!(["cancelled"])).await
}

/// Completes the interaction with `result`, then records the sign-in (history, device, audit) and
/// tells the account's owner when it came from a new device or country.
async fn finish(
    svc: &StepUpService,
    req: &HttpRequest,
    p: &Pending,
    result: LoginResult,
    a: &Assessment,
    reasons: &[Reason],
    warn: bool,
) -> Result<(), HttpResponse> {
    let now = svc.clock.now();
    match svc.store.complete_interaction(&p.interaction.id, &result, now).await {
        Ok(true) => {}
        Ok(false) => return Err(message(svc, req, StatusCode::BAD_REQUEST, "expired")),
        Err(e) => return Err(unavailable(svc, req, "interaction complete", &e)),
    }
    let s = &a.signals;
    let signed_in = SignedIn {
        user: &p.user,
        client: crate::notify::Audience::of(&p.interaction),
        place: here_of(svc, req),
        device_hash: a.device.hash(svc),
        device: device_description(req),
        remember_device: true,
        result: &result,
        reasons,
        notify: warn || (!s.first_sign_in && (s.new_device || s.new_country.is_some())),
        warn,
    };
    record(svc, signed_in, now).await;
    Ok(())
}

/// A sign-in that passed step-up, as the history, the audit log and the owner's email record it.
pub(crate) struct SignedIn<'a> {
    pub user: &'a User,
    pub client: crate::notify::Audience<'a>,
    pub place: Place,
    /// Keyed hash of the device's id (the device cookie, or the API's stand-in).
    pub device_hash: Vec<u8>,
    /// "Firefox on Linux".
    pub device: String,
    /// Whether the device becomes known to the account (only a device cookie can be).
    pub remember_device: bool,
    pub result: &'a LoginResult,
    pub reasons: &'a [Reason],
    /// Whether the account's owner is emailed about it (with a "This wasn't me" link).
    pub notify: bool,
    /// It was let through without the second factor it called for.
    pub warn: bool,
}

/// Records a completed sign-in. The sign-in stands either way: a history that could not be
/// written is logged, not fatal.
pub(crate) async fn record(svc: &StepUpService, s: SignedIn<'_>, now: i64) {
    let not_me = if s.notify && svc.config.notify_new_sign_ins {
        crate::notify::new_sign_in(svc, s.user, &s.client, &s.place.shown(), &s.device, s.warn, now).await
    } else {
        None
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
    let recorded = async {
        svc.store.record_login_event(&event).await?;
        if s.remember_device {
            svc.store.remember_device(&s.user.id, s.device_hash.clone(), &s.device, now).await?;
        }
        let detail = serde_json::json!({ "acr": s.result.acr.as_str(), "amr": s.result.amr, "reasons": s.reasons });
        let event = AuditEvent {
            kind: AuditKind::SignedIn,
            user: Some(s.user.id.clone()),
            client: Some(s.client.client_id.clone()),
            detail,
            at: now,
        };
        svc.store.record(event).await
    };
    if let Err(e) = recorded.await {
        tracing::error!(error = %e, "the sign-in could not be recorded in the history");
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
        let r = upgraded(&first, Factor::Totp, 9);
        assert_eq!((r.acr, r.amr.as_slice(), r.auth_time), (Acr::MultiFactor, &[Amr::Otp, Amr::Mfa][..], AuthTime(9)));
        let r = upgraded(&first, Factor::Sms, 9);
        assert_eq!(r.amr, [Amr::Otp, Amr::Sms, Amr::Mfa]);
    }
}

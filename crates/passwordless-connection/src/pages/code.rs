//! `/login/{interaction}/code`: "check your email" (or phone) with the code field; resending; and
//! the waiting page's end when its magic link was approved on another device.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Channel, Interaction, LoginMethod};
use serde::Deserialize;
use web_layer::{paths, see_other};

use super::{Live, PageError, answer, interaction_for, offered, page, resume};
use crate::PasswordlessConnection;
use crate::abuse::{Refusal, check_send};
use crate::challenge::{
    FirstFactor, Origin, VerifyError, awaits_spending, check_live, resend as resend_challenge, secrets, spend,
    verify_code,
};
use crate::storage::Challenge;

/// What the code page says beyond the form.
#[derive(Default)]
struct CodeNotes {
    error: Option<String>,
    notice: Option<String>,
}

async fn code_form(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    challenge: &Challenge,
    notes: CodeNotes,
    status: StatusCode,
) -> HttpResponse {
    let p = page(conn, req, Some(interaction)).ending_at(interaction.redirect_uri.as_deref());
    let t = |key: &str| conn.catalog.text(p.lang(), key).to_owned();
    let to = &challenge.destination;
    let channel = to.channel();
    let s = &interaction.client_settings;
    let digits = conn.config.channel(channel).code_length;
    let (code_on, link_on) = match channel {
        Channel::Email => (s.allows(LoginMethod::EmailCode), s.allows(LoginMethod::EmailLink)),
        Channel::Sms => (true, false),
    };
    let sent_key = match (channel, code_on, link_on) {
        (Channel::Sms, ..) => "code_sent_sms",
        (_, true, true) => "code_sent_email_code_link",
        (_, true, false) => "code_sent_email_code",
        _ => "code_sent_email_link",
    };
    let sent = conn.catalog.fill(p.lang(), sent_key, &[("digits", &digits.to_string()), ("destination", &to.shown())]);
    let resend_in = crate::abuse::resend_in(conn, challenge.destination.as_str()).await;
    let other = match channel {
        Channel::Email if offered(conn, interaction, Channel::Sms) => Some((Channel::Sms, t("switch_to_sms"))),
        Channel::Sms if offered(conn, interaction, Channel::Email) => Some((Channel::Email, t("switch_to_email"))),
        _ => None,
    };
    let by_sms = channel == Channel::Sms;
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("title", &t(if by_sms { "code_title_sms" } else { "code_title_email" }));
    ctx.insert("sent", &sent);
    ctx.insert("code_enabled", &code_on);
    ctx.insert("code_length", &digits);
    ctx.insert("channel", channel.as_str());
    ctx.insert("error", &notes.error);
    ctx.insert("notice", &notes.notice);
    ctx.insert("resend_in", &resend_in);
    ctx.insert("resend_wait", &conn.catalog.fill(p.lang(), "resend_wait", &[("seconds", &resend_in.to_string())]));
    ctx.insert("resend_hint", &t(if by_sms { "resend_hint_sms" } else { "resend_hint_email" }));
    ctx.insert("other_destination", &t(if by_sms { "other_number" } else { "other_address" }));
    ctx.insert("switch_channel", &other.as_ref().map(|(c, _)| c.as_str()));
    ctx.insert("switch_label", &other.as_ref().map(|(_, l)| l.as_str()));
    // The number is shown only here, on the device that asked to sign in: the device that opens
    // the link must type it in to approve. Until the link is opened on another device it stays
    // hidden (the page's script shows it when the status says so), so nobody types it as the code.
    let approval = link_on && s.cross_device_approval;
    let match_number = approval.then(|| secrets(conn, challenge.id.as_str(), digits).match_number);
    ctx.insert("match_number", &match_number);
    ctx.insert("opened_elsewhere", &challenge.opened_elsewhere_at.is_some());
    p.render(status, "pages/code.html", ctx)
}

#[derive(Deserialize)]
pub struct CodeQuery {
    resent: Option<String>,
}

/// `GET /login/{interaction}/code`: "check your email" (or phone), with the code field.
pub async fn code_page(
    req: HttpRequest,
    Live(interaction): Live,
    query: web::Query<CodeQuery>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let challenge = match conn.store.latest_challenge(&interaction.id).await {
        Ok(Some(c)) => c,
        Ok(None) => return see_other(&paths::login(&interaction.id)),
        Err(e) => return answer(&conn, &req, Some(&interaction), Err(PageError::Unavailable("challenge lookup", e))),
    };
    let lang = page(&conn, &req, Some(&interaction)).lang();
    let notice = query.resent.is_some().then(|| conn.catalog.text(lang, "resent").to_owned());
    code_form(&conn, &req, &interaction, &challenge, CodeNotes { notice, ..Default::default() }, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/{interaction}/code`.
pub async fn code_submit(
    req: HttpRequest,
    Live(interaction): Live,
    form: web::Form<CodeForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let result = check_code(&conn, &req, &interaction, &form.code).await;
    answer(&conn, &req, Some(&interaction), result)
}

async fn check_code(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    code: &str,
) -> Result<HttpResponse, PageError> {
    let latest = conn
        .store
        .latest_challenge(&interaction.id)
        .await
        .map_err(|e| PageError::Unavailable("challenge lookup", e))?;
    let origin = Origin::of(req);
    let first = FirstFactor::of(interaction, &origin);
    let outcome = verify_code(conn, &interaction.client_settings, latest.clone(), code, &origin, Some(&first)).await;
    match (outcome, latest) {
        (Err(VerifyError::SignUpRefused(message)), _) => Err(PageError::SignUpRefused(message)),
        (Ok(_), _) => Ok(resume(interaction)),
        (Err(VerifyError::Store(e)), _) => Err(PageError::Unavailable("code verification", e)),
        (Err(VerifyError::Unavailable), _) => Err(PageError::Refused(Refusal::Unavailable)),
        (Err(VerifyError::Blocked), _) => Err(PageError::Refused(Refusal::Blocked)),
        (Err(VerifyError::AccountBlocked), _) => Err(PageError::AccountBlocked),
        (Err(VerifyError::Mismatch { remaining }), Some(challenge)) => {
            let lang = page(conn, req, Some(interaction)).lang();
            let error = conn.catalog.fill_count(lang, "code_wrong", remaining.max(0) as u64, &[]);
            let notes = CodeNotes { error: Some(error), ..Default::default() };
            Ok(code_form(conn, req, interaction, &challenge, notes, StatusCode::BAD_REQUEST).await)
        }
        // One page for every other failure: the code is no longer usable. Its button sends a new
        // one to the same address or number (the login form's post, under its limits).
        (Err(_), latest) => {
            let mut ctx = tera::Context::new();
            ctx.insert("interaction", interaction.id.as_str());
            if let Some(to) = latest.as_ref().map(|c| &c.destination) {
                let channel = to.channel();
                ctx.insert("field", if channel == domain::Channel::Sms { "phone" } else { "email" });
                ctx.insert("destination", to.as_str());
                ctx.insert("channel", channel.as_str());
            }
            Ok(page(conn, req, Some(interaction)).render(StatusCode::BAD_REQUEST, "pages/code_dead.html", ctx))
        }
    }
}

/// `POST /login/{interaction}/resend`: the same code (and link) again, within the send limits.
pub async fn resend(
    req: HttpRequest,
    Live(interaction): Live,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let result = send_again(&conn, &req, &interaction).await;
    answer(&conn, &req, Some(&interaction), result)
}

async fn send_again(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
) -> Result<HttpResponse, PageError> {
    let challenge = match conn.store.latest_challenge(&interaction.id).await {
        Ok(Some(c)) if check_live(&c, conn.clock.now()).is_ok() => c,
        Ok(_) => return Ok(see_other(&paths::login(&interaction.id))),
        Err(e) => return Err(PageError::Unavailable("challenge lookup", e)),
    };
    let origin = Origin::of(req);
    let lang = page(conn, req, Some(interaction)).lang();
    match check_send(conn, &origin, &challenge.destination).await {
        Ok(()) => {}
        Err(Refusal::TooSoon { retry_after }) => {
            let error = conn.catalog.fill(lang, "too_soon_text", &[("seconds", &retry_after.to_string())]);
            let notes = CodeNotes { error: Some(error), ..Default::default() };
            let mut resp = code_form(conn, req, interaction, &challenge, notes, StatusCode::TOO_MANY_REQUESTS).await;
            resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            return Ok(resp);
        }
        Err(refusal) => return Err(PageError::Refused(refusal)),
    }
    match resend_challenge(conn, interaction, &challenge, &origin, lang).await {
        Ok(()) => Ok(see_other(&format!("{}?resent=1", crate::paths::code(&interaction.id)))),
        Err(VerifyError::Store(e)) => Err(PageError::Unavailable("resend", e)),
        Err(_) => Ok(see_other(&paths::login(&interaction.id))),
    }
}

/// `GET /login/{interaction}/status`: what the waiting code page polls for, in the browser that
/// started only: `{"state": "waiting" | "opened" | "approved" | "expired"}` (`opened`: the link was
/// opened on another device, which now asks for the number this page shows). While the database
/// is away it is a 503 with `{"state": "unavailable"}`, never `expired`: the sign-in is not over,
/// and the page polls on until the database is back.
pub async fn status(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let unavailable = |context: &str, e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "{context}");
        let mut resp = HttpResponse::ServiceUnavailable()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "state": "unavailable" }));
        web_layer::retry_later(&mut resp);
        resp
    };
    let state = match interaction_for(&conn, &req, &path).await {
        Ok(i) => match conn.store.latest_challenge(&i.id).await {
            Ok(Some(c)) if awaits_spending(&c, conn.clock.now()) => "approved",
            Ok(Some(c)) if check_live(&c, conn.clock.now()).is_ok() => match c.opened_elsewhere_at {
                Some(_) => "opened",
                None => "waiting",
            },
            Ok(_) => "expired",
            Err(e) => return unavailable("challenge lookup", &e),
        },
        Err((PageError::Unavailable(context, e), _)) => return unavailable(context, &e),
        Err(_) => "expired",
    };
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({ "state": state }))
}

/// `POST /login/{interaction}/approved`: the browser that started continues once its link was
/// approved on another device; the challenge is spent here, and the session is made here.
pub async fn approved(
    req: HttpRequest,
    Live(interaction): Live,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let result = continue_approved(&conn, &req, &interaction).await;
    answer(&conn, &req, Some(&interaction), result)
}

async fn continue_approved(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
) -> Result<HttpResponse, PageError> {
    let challenge = match conn.store.latest_challenge(&interaction.id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Ok(see_other(&paths::login(&interaction.id))),
        Err(e) => return Err(PageError::Unavailable("challenge lookup", e)),
    };
    if !awaits_spending(&challenge, conn.clock.now()) {
        let lang = page(conn, req, Some(interaction)).lang();
        let notes =
            CodeNotes { error: Some(conn.catalog.text(lang, "waiting_approval").to_owned()), ..Default::default() };
        return Ok(code_form(conn, req, interaction, &challenge, notes, StatusCode::CONFLICT).await);
    }
    let origin = Origin::of(req);
    match spend(conn, &challenge, true, &FirstFactor::of(interaction, &origin)).await {
        Ok(_) => Ok(resume(interaction)),
        Err(VerifyError::SignUpRefused(message)) => Err(PageError::SignUpRefused(message)),
        Err(VerifyError::Unavailable) => Err(PageError::Refused(Refusal::Unavailable)),
        Err(VerifyError::Store(e)) => Err(PageError::Unavailable("approved sign-in", e)),
        Err(VerifyError::AccountBlocked) => Err(PageError::AccountBlocked),
        Err(_) => Err(PageError::Expired),
    }
}

//! The hosted login pages, in the user's language and the client's branding. Every form carries
//! the CSRF token the server's middleware checks; pages whose forms end in a redirect to the
//! client allow its origin in CSP `form-action` (browsers apply it to the redirects after a
//! submission).

use crate::storage::{Challenge, Purpose};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use domain::web::{BrowserId, ClientIp, CsrfToken, content_security_policy_with, origin_of};
use domain::{Channel, EmailAddress, Interaction, InteractionId, InteractionKind, LoginMethod, PhoneNumber};
use serde::Deserialize;

use crate::PasswordlessConnection;
use crate::abuse::{Refusal, check_send};
use crate::challenge::{
    Destination, Origin, VerifyError, approve, awaits_spending, check_live, find_link, finish_login,
    resend as resend_challenge, secrets, spend, start_challenge, verify_code,
};

/// What a page needs to know about the request: language, and the client for branding.
struct Page<'a> {
    lang: &'a str,
    interaction: Option<&'a Interaction>,
}

fn accept_language(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

fn page<'a>(conn: &'a PasswordlessConnection, req: &HttpRequest, interaction: Option<&'a Interaction>) -> Page<'a> {
    let ui_locales = interaction.and_then(|i| i.ui_locales.as_deref());
    Page { lang: conn.catalog.negotiate(ui_locales, accept_language(req)), interaction }
}

/// Where the request came from: the client IP (trusted-proxy aware) and a short device description.
pub(crate) fn origin(req: &HttpRequest) -> Origin {
    let ip = domain::web::client_ip(req.extensions().get::<ClientIp>(), req.peer_addr());
    let device =
        req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).and_then(domain::web::describe_user_agent);
    let country = req.extensions().get::<domain::web::ClientCountry>().and_then(|c| c.0.clone());
    Origin { ip, country, device }
}

fn render(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    p: &Page<'_>,
    status: StatusCode,
    name: &str,
    mut ctx: tera::Context,
    form_target: Option<&str>,
) -> HttpResponse {
    let csrf = req.extensions().get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
    ctx.insert("csrf", &csrf);
    ctx.insert("lang", p.lang);
    ctx.insert("t", conn.catalog.table(p.lang));
    let branding = p.interaction.map(|i| (&i.client_id, &i.client_settings.branding));
    let product = branding.and_then(|(_, b)| b.product_name.as_deref()).unwrap_or(&conn.config.product_name);
    ctx.insert("product_name", product);
    let (mut img, mut style) = (None, None);
    if let Some((client, b)) = branding {
        if b.primary_color.is_some() {
            ctx.insert("brand_css", &format!("/brand/{client}.css"));
        }
        if let Some(logo) = &b.logo_url {
            ctx.insert("logo_url", logo);
            img = origin_of(logo);
        }
        if let Some(css) = &b.css_url {
            ctx.insert("external_css", css);
            style = origin_of(css);
        }
    }
    let csp =
        content_security_policy_with(form_target.and_then(origin_of).as_deref(), img.as_deref(), style.as_deref());
    match conn.tera.render(name, &ctx) {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_SECURITY_POLICY, csp))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = ?e, template = name, "page could not be rendered");
            HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("server_error")
        }
    }
}

/// A page with a title and a message, both from the catalog (`{key}_title`, `{key}_text`), with
/// `{placeholders}` filled in.
fn message_page(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    p: &Page<'_>,
    status: StatusCode,
    key: &str,
    fill: &[(&str, String)],
) -> HttpResponse {
    let mut message = conn.catalog.text(p.lang, &format!("{key}_text")).to_owned();
    for (name, value) in fill {
        message = message.replace(&format!("{{{name}}}"), value);
    }
    let mut ctx = tera::Context::new();
    ctx.insert("title", conn.catalog.text(p.lang, &format!("{key}_title")));
    ctx.insert("message", &message);
    render(conn, req, p, status, "pages/error.html", ctx, None)
}

fn unavailable(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    p: &Page<'_>,
    context: &str,
    err: &dyn std::error::Error,
) -> HttpResponse {
    tracing::error!(error = %err, "{context}");
    message_page(conn, req, p, StatusCode::INTERNAL_SERVER_ERROR, "unavailable", &[])
}

fn expired(conn: &PasswordlessConnection, req: &HttpRequest, p: &Page<'_>) -> HttpResponse {
    message_page(conn, req, p, StatusCode::BAD_REQUEST, "expired", &[])
}

/// The page for a refused send: 429 with `Retry-After` for limits, without revealing anything
/// about the account.
fn refusal_page(conn: &PasswordlessConnection, req: &HttpRequest, p: &Page<'_>, refusal: &Refusal) -> HttpResponse {
    let (status, key, retry_after) = match refusal {
        Refusal::Limited { retry_after } => (StatusCode::TOO_MANY_REQUESTS, "limited", Some(*retry_after)),
        Refusal::TooSoon { retry_after } => (StatusCode::TOO_MANY_REQUESTS, "too_soon", Some(*retry_after)),
        Refusal::Blocked => (StatusCode::TOO_MANY_REQUESTS, "blocked", Some(conn.config.limits.block_seconds as u64)),
        // Fail closed: a limit that cannot be checked is not skipped.
        Refusal::Unavailable | Refusal::Country => (StatusCode::SERVICE_UNAVAILABLE, "paused", None),
    };
    let wait = retry_after.unwrap_or(0);
    let fill = [("minutes", wait.div_ceil(60).to_string()), ("seconds", wait.to_string())];
    let mut resp = message_page(conn, req, p, status, key, &fill);
    if let Some(r) = retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(r));
    }
    resp
}

fn browser_hash(conn: &PasswordlessConnection, req: &HttpRequest) -> Option<Vec<u8>> {
    req.extensions().get::<BrowserId>().map(|b| conn.hasher.hash("browser", b.0.expose()).0)
}

fn same_browser(conn: &PasswordlessConnection, req: &HttpRequest, interaction: &Interaction) -> bool {
    browser_hash(conn, req).is_some_and(|h| domain::secret::constant_time_eq(&h, &interaction.browser_hash))
}

/// Whether the first factor is still to be proved.
fn unfinished(i: &Interaction) -> bool {
    i.result.is_none() && i.first_factor.is_none() && i.denied.is_none()
}

enum Lookup {
    Found(Box<Interaction>),
    Page(HttpResponse),
}

/// The live, unfinished interaction of this browser, or the page to show instead.
async fn interaction_for(conn: &PasswordlessConnection, req: &HttpRequest, raw_id: &str) -> Lookup {
    let p = page(conn, req, None);
    let Some(id) = InteractionId::parse(raw_id) else {
        return Lookup::Page(expired(conn, req, &p));
    };
    match conn.store.interaction(&id).await {
        Ok(Some(i)) if i.expires_at > conn.clock.now() && unfinished(&i) => {
            if same_browser(conn, req, &i) {
                Lookup::Found(Box::new(i))
            } else {
                let p = page(conn, req, Some(&i));
                Lookup::Page(message_page(conn, req, &p, StatusCode::FORBIDDEN, "different_browser", &[]))
            }
        }
        Ok(_) => Lookup::Page(expired(conn, req, &p)),
        Err(e) => Lookup::Page(unavailable(conn, req, &p, "interaction lookup", &e)),
    }
}

macro_rules! interaction_or_page {
    ($conn:expr, $req:expr, $id:expr) => {
        match interaction_for($conn, $req, $id).await {
            Lookup::Found(i) => *i,
            Lookup::Page(p) => return p,
        }
    };
}

/// Whether this interaction may sign in by `channel`: the client offers it, and (for SMS) a
/// provider is configured.
fn offered(conn: &PasswordlessConnection, interaction: &Interaction, channel: Channel) -> bool {
    let s = &interaction.client_settings;
    match channel {
        Channel::Email => s.email(),
        Channel::Sms => s.allows(LoginMethod::SmsCode) && conn.config.sms_policy.available,
    }
}

/// What the login form shows again after a refusal.
#[derive(Default)]
struct Typed<'a> {
    email: &'a str,
    phone: &'a str,
    error: Option<(Channel, String)>,
    prefer: Option<Channel>,
}

fn login_form(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    typed: Typed<'_>,
    status: StatusCode,
) -> HttpResponse {
    let p = page(conn, req, Some(interaction));
    let t = |key: &str| conn.catalog.text(p.lang, key).to_owned();
    let s = &interaction.client_settings;
    let (email_on, sms_on) = (offered(conn, interaction, Channel::Email), offered(conn, interaction, Channel::Sms));
    let intro = match (email_on, sms_on) {
        (true, true) => t("login_intro_both"),
        (false, true) => t("login_intro_sms"),
        // The client offers only texts, and no SMS provider is configured: say so, not an empty form.
        (false, false) => t("sms_off"),
        _ if s.allows(LoginMethod::EmailCode) && s.allows(LoginMethod::EmailLink) => t("login_intro_email_code_link"),
        _ if s.allows(LoginMethod::EmailCode) => t("login_intro_email_code"),
        _ => t("login_intro_email_link"),
    };
    let email_submit = if s.allows(LoginMethod::EmailCode) { t("email_submit_code") } else { t("email_submit_link") };
    let focus = match typed.prefer.or(typed.error.as_ref().map(|(c, _)| *c)) {
        Some(Channel::Sms) if sms_on => "phone",
        _ if email_on => "email",
        _ => "phone",
    };
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("intro", &intro);
    ctx.insert("email_submit", &email_submit);
    ctx.insert("email_enabled", &email_on);
    ctx.insert("sms_enabled", &sms_on);
    ctx.insert("email", typed.email);
    ctx.insert("phone", typed.phone);
    ctx.insert("focus", focus);
    ctx.insert("error", &typed.error.as_ref().map(|(_, e)| e.as_str()));
    ctx.insert("error_field", if matches!(typed.error, Some((Channel::Sms, _))) { "phone" } else { "email" });
    render(conn, req, &p, status, "pages/login.html", ctx, None)
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "use")]
    prefer: Option<String>,
}

/// `GET /login/{interaction}`: the email and/or phone form, pre-filled from `login_hint`.
pub async fn login_page(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LoginQuery>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let hint = interaction.login_hint.clone().unwrap_or_default();
    let hint_is_phone = hint.starts_with('+');
    let typed = Typed {
        email: if hint_is_phone { "" } else { &hint },
        phone: if hint_is_phone { &hint } else { "" },
        error: None,
        prefer: query.prefer.as_deref().and_then(Channel::parse).or(hint_is_phone.then_some(Channel::Sms)),
    };
    login_form(&conn, &req, &interaction, typed, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct StartForm {
    email: Option<String>,
    phone: Option<String>,
}

/// `POST /login/{interaction}`: sends the code (and link). The answer is the same redirect, byte for
/// byte, whether or not the address or number has an account.
pub async fn start(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<StartForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let p = page(&conn, &req, Some(&interaction));
    let t = |key: &str| conn.catalog.text(p.lang, key).to_owned();
    let shown = |raw: &str| raw.chars().take(254).collect::<String>();
    let (email_raw, phone_raw) =
        (shown(form.email.as_deref().unwrap_or("")), shown(form.phone.as_deref().unwrap_or("")));
    let refuse = |channel: Channel, error: String| {
        let typed = Typed { email: &email_raw, phone: &phone_raw, error: Some((channel, error)), prefer: None };
        login_form(&conn, &req, &interaction, typed, StatusCode::BAD_REQUEST)
    };
    let to = match (&form.email, &form.phone) {
        (Some(email), _) if !email.is_empty() || form.phone.is_none() => {
            if !offered(&conn, &interaction, Channel::Email) {
                return refuse(Channel::Email, t("email_off"));
            }
            match EmailAddress::parse(email) {
                Ok(e) => Destination::Email(e),
                Err(e) => return refuse(Channel::Email, t(email_error_key(&e))),
            }
        }
        (_, Some(phone)) => {
            if !offered(&conn, &interaction, Channel::Sms) {
                return refuse(Channel::Sms, t("sms_off"));
            }
            match PhoneNumber::parse(phone, conn.config.sms_policy.default_region.as_deref()) {
                Ok(n) => Destination::Phone(n),
                Err(e) => return refuse(Channel::Sms, t(phone_error_key(&e))),
            }
        }
        _ => return refuse(Channel::Email, t("error_email_empty")),
    };
    let origin = origin(&req);
    match check_send(&conn, &origin, &to).await {
        Ok(()) => {}
        Err(Refusal::Country) => return refuse(Channel::Sms, t("country_refused")),
        Err(refusal) => return refusal_page(&conn, &req, &p, &refusal),
    }
    let sent = crate::messages::Sent::for_client(&interaction.client_settings);
    match start_challenge(&conn, &interaction, &to, Purpose::FirstFactor, sent, &origin, p.lang).await {
        Ok(Some(_)) => see_other(&format!("/login/{}/code", interaction.id)),
        // The first factor was recorded meanwhile (another tab): this sign-in is past the form.
        Ok(None) => expired(&conn, &req, &p),
        Err(e) => unavailable(&conn, &req, &p, "challenge start", &e),
    }
}

/// The catalog text for an address that did not parse.
fn email_error_key(e: &domain::EmailError) -> &'static str {
    match e {
        domain::EmailError::Empty => "error_email_empty",
        domain::EmailError::TooLong => "error_email_too_long",
        domain::EmailError::Invalid => "error_email_invalid",
    }
}

/// The catalog text for a number that did not parse.
fn phone_error_key(e: &domain::PhoneError) -> &'static str {
    match e {
        domain::PhoneError::Empty => "error_phone_empty",
        domain::PhoneError::Invalid => "error_phone_invalid",
        domain::PhoneError::NotValid => "error_phone_not_valid",
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

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
    let p = page(conn, req, Some(interaction));
    let t = |key: &str| conn.catalog.text(p.lang, key).to_owned();
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
    let sent = t(sent_key).replace("{digits}", &digits.to_string()).replace("{destination}", &to.shown());
    // Seconds until another message may go to this destination (the per-minute limit).
    let account = crate::abuse::account_key(conn, challenge.destination.as_str());
    let resend_in = match conn.limiter.peek(&format!("send:min:{account}"), conn.clock.now()).await {
        Ok((n, left)) if n >= conn.config.limits.sends_per_destination_per_minute => left,
        _ => 0,
    };
    let other = match channel {
        Channel::Email if offered(conn, interaction, Channel::Sms) => Some((Channel::Sms, t("switch_to_sms"))),
        Channel::Sms if offered(conn, interaction, Channel::Email) => Some((Channel::Email, t("switch_to_email"))),
        _ => None,
    };
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("title", &t(if channel == Channel::Sms { "code_title_sms" } else { "code_title_email" }));
    ctx.insert("sent", &sent);
    ctx.insert("code_enabled", &code_on);
    ctx.insert("code_length", &digits);
    ctx.insert("channel", channel.as_str());
    ctx.insert("error", &notes.error);
    ctx.insert("notice", &notes.notice);
    ctx.insert("resend_in", &resend_in);
    ctx.insert("resend_wait", &t("resend_wait").replace("{seconds}", &resend_in.to_string()));
    ctx.insert("resend_hint", &t(if channel == Channel::Sms { "resend_hint_sms" } else { "resend_hint_email" }));
    ctx.insert("other_destination", &t(if channel == Channel::Sms { "other_number" } else { "other_address" }));
    ctx.insert("switch_channel", &other.as_ref().map(|(c, _)| c.as_str()));
    ctx.insert("switch_label", &other.as_ref().map(|(_, l)| l.as_str()));
    // The number is shown only here, on the device that asked to sign in: the device that opens
    // the link must type it in to approve.
    if link_on && s.cross_device_approval {
        ctx.insert("match_number", &secrets(conn, challenge.id.as_str(), digits).match_number);
    } else {
        ctx.insert("match_number", &None::<String>);
    }
    render(conn, req, &p, status, "pages/code.html", ctx, interaction.redirect_uri.as_deref())
}

#[derive(Deserialize)]
pub struct CodeQuery {
    resent: Option<String>,
}

/// `GET /login/{interaction}/code`: "check your email" (or phone), with the code field.
pub async fn code_page(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<CodeQuery>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    match conn.store.latest_challenge(&interaction.id).await {
        Ok(Some(c)) => {
            let p = page(&conn, &req, Some(&interaction));
            let notice = query.resent.is_some().then(|| conn.catalog.text(p.lang, "resent").to_owned());
            code_form(&conn, &req, &interaction, &c, CodeNotes { notice, ..Default::default() }, StatusCode::OK).await
        }
        Ok(None) => see_other(&format!("/login/{}", interaction.id)),
        Err(e) => unavailable(&conn, &req, &page(&conn, &req, Some(&interaction)), "challenge lookup", &e),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

/// `POST /login/{interaction}/code`.
pub async fn code_submit(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CodeForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let p = page(&conn, &req, Some(&interaction));
    let latest = match conn.store.latest_challenge(&interaction.id).await {
        Ok(c) => c,
        Err(e) => return unavailable(&conn, &req, &p, "challenge lookup", &e),
    };
    let outcome =
        match verify_code(&conn, &interaction.client_settings, latest.clone(), &form.code, &origin(&req)).await {
            Ok(challenge) => finish_login(&conn, &interaction, &challenge).await,
            Err(e) => Err(e),
        };
    match (outcome, latest) {
        (Ok(()), _) => resume(&interaction),
        (Err(VerifyError::Store(e)), _) => unavailable(&conn, &req, &p, "code verification", &e),
        (Err(VerifyError::Unavailable), _) => refusal_page(&conn, &req, &p, &Refusal::Unavailable),
        (Err(VerifyError::Blocked), _) => refusal_page(&conn, &req, &p, &Refusal::Blocked),
        (Err(VerifyError::Mismatch { remaining }), Some(challenge)) => {
            let error = if remaining == 1 {
                conn.catalog.text(p.lang, "code_wrong_one").to_owned()
            } else {
                conn.catalog.text(p.lang, "code_wrong_many").replace("{remaining}", &remaining.to_string())
            };
            let notes = CodeNotes { error: Some(error), ..Default::default() };
            code_form(&conn, &req, &interaction, &challenge, notes, StatusCode::BAD_REQUEST).await
        }
        // One page for every other failure: the code is no longer usable; say how to get a new one.
        (Err(_), _) => {
            let mut ctx = tera::Context::new();
            ctx.insert("interaction", interaction.id.as_str());
            render(&conn, &req, &p, StatusCode::BAD_REQUEST, "pages/code_dead.html", ctx, None)
        }
    }
}

/// `POST /login/{interaction}/resend`: the same code (and link) again, within the send limits.
pub async fn resend(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let p = page(&conn, &req, Some(&interaction));
    let challenge = match conn.store.latest_challenge(&interaction.id).await {
        Ok(Some(c)) if check_live(&c, conn.clock.now()).is_ok() => c,
        Ok(_) => return see_other(&format!("/login/{}", interaction.id)),
        Err(e) => return unavailable(&conn, &req, &p, "challenge lookup", &e),
    };
    let to = challenge.destination.clone();
    let origin = origin(&req);
    match check_send(&conn, &origin, &to).await {
        Ok(()) => {}
        Err(refusal @ Refusal::TooSoon { retry_after }) => {
            let error = conn.catalog.text(p.lang, "too_soon_text").replace("{seconds}", &retry_after.to_string());
            let mut resp = code_form(
                &conn,
                &req,
                &interaction,
                &challenge,
                CodeNotes { error: Some(error), ..Default::default() },
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await;
            if let Refusal::TooSoon { retry_after } = refusal {
                resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
            }
            return resp;
        }
        Err(refusal) => return refusal_page(&conn, &req, &p, &refusal),
    }
    match resend_challenge(&conn, &interaction, &challenge, &origin, p.lang).await {
        Ok(()) => see_other(&format!("/login/{}/code?resent=1", interaction.id)),
        Err(VerifyError::Store(e)) => unavailable(&conn, &req, &p, "resend", &e),
        Err(_) => see_other(&format!("/login/{}", interaction.id)),
    }
}

/// After the first factor: step-up decides what comes next (it resumes the authorization).
fn resume(interaction: &Interaction) -> HttpResponse {
    see_other(&format!("/step-up/{}", interaction.id))
}

fn link_expired(conn: &PasswordlessConnection, req: &HttpRequest) -> HttpResponse {
    let p = page(conn, req, None);
    message_page(conn, req, &p, StatusCode::BAD_REQUEST, "link_expired", &[])
}

/// The live challenge behind a link, and its interaction, if the client still offers links.
async fn link_target(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    token: &str,
) -> Result<(Challenge, Interaction), HttpResponse> {
    let challenge = match find_link(conn, token).await {
        Ok(c) => c,
        Err(VerifyError::Store(e)) => return Err(unavailable(conn, req, &page(conn, req, None), "link lookup", &e)),
        Err(_) => return Err(link_expired(conn, req)),
    };
    let interaction = match conn.store.interaction(&challenge.interaction_id).await {
        Ok(Some(i)) if unfinished(&i) && i.expires_at > conn.clock.now() => i,
        Ok(_) => return Err(expired(conn, req, &page(conn, req, None))),
        Err(e) => return Err(unavailable(conn, req, &page(conn, req, None), "interaction lookup", &e)),
    };
    if !interaction.client_settings.allows(LoginMethod::EmailLink) {
        return Err(link_expired(conn, req));
    }
    Ok((challenge, interaction))
}

/// `GET /login/link/{token}`: never spends anything (mail scanners fetch links with GET and HEAD).
/// In the browser that started: "Continue signing in". Elsewhere: approve the sign-in for the
/// other device, after comparing the number both screens show.
pub async fn link_page(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let (challenge, interaction) = match link_target(&conn, &req, &path).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let p = page(&conn, &req, Some(&interaction));
    let mut ctx = tera::Context::new();
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("token", path.as_str());
    // A link sent through the API belongs to no browser until one uses it: any may continue, after
    // seeing which account it signs in (so a link forwarded by someone else cannot sign a visitor
    // into the sender's account unawares: login CSRF).
    let unbound = interaction.kind == InteractionKind::ApiLink && interaction.browser_hash.is_empty();
    if unbound || same_browser(&conn, &req, &interaction) {
        if interaction.kind == InteractionKind::ApiLink {
            ctx.insert("account", &challenge.destination.shown());
        }
        return render(&conn, &req, &p, StatusCode::OK, "pages/link.html", ctx, interaction.redirect_uri.as_deref());
    }
    elsewhere_or_approve(&conn, &req, &p, &challenge, &interaction, ctx, None, StatusCode::OK)
}

/// On a device other than the one that asked to sign in: where the client allows cross-device
/// approval, the form that asks for the number shown over there; otherwise "open the link where
/// you started".
#[allow(clippy::too_many_arguments)] // the page's parts, each used once
fn elsewhere_or_approve(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    p: &Page<'_>,
    challenge: &Challenge,
    interaction: &Interaction,
    mut ctx: tera::Context,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    if !interaction.client_settings.cross_device_approval || interaction.kind != InteractionKind::Hosted {
        return render(conn, req, p, StatusCode::OK, "pages/link_elsewhere.html", ctx, None);
    }
    ctx.insert("approved", &challenge.approved_at.is_some());
    ctx.insert("requested_at", &domain::clock::rfc3339(challenge.created_at).replace('T', " ").replace('Z', " UTC"));
    ctx.insert("place", &challenge.origin);
    ctx.insert("error", &error);
    render(conn, req, p, status, "pages/approve.html", ctx, None)
}

#[derive(Deserialize)]
pub struct LinkForm {
    token: String,
}

/// `POST /login/link`: spends the link in the browser that started the login.
pub async fn link_submit(
    req: HttpRequest,
    form: web::Form<LinkForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let (challenge, mut interaction) = match link_target(&conn, &req, &form.token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if interaction.kind == InteractionKind::ApiLink
        && interaction.browser_hash.is_empty()
        && let Some(hash) = browser_hash(&conn, &req)
    {
        // The first browser to continue an API-sent link owns its sign-in from now on.
        match conn.store.bind_interaction(&interaction.id, hash.clone(), conn.clock.now()).await {
            Ok(true) => interaction.browser_hash = hash,
            Ok(false) => return link_expired(&conn, &req),
            Err(e) => return unavailable(&conn, &req, &page(&conn, &req, Some(&interaction)), "interaction bind", &e),
        }
    }
    if !same_browser(&conn, &req, &interaction) {
        // Nothing is spent: the user can still type the code in the browser that started.
        let p = page(&conn, &req, Some(&interaction));
        let mut ctx = tera::Context::new();
        ctx.insert("client_name", &interaction.client_name);
        return render(&conn, &req, &p, StatusCode::OK, "pages/link_elsewhere.html", ctx, None);
    }
    let outcome = match spend(&conn, &challenge, false).await {
        Ok(()) => finish_login(&conn, &interaction, &challenge).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => resume(&interaction),
        Err(VerifyError::Store(e)) => {
            unavailable(&conn, &req, &page(&conn, &req, Some(&interaction)), "link verification", &e)
        }
        Err(_) => link_expired(&conn, &req),
    }
}

#[derive(Deserialize)]
pub struct ApproveForm {
    token: String,
    /// The number the device that asked to sign in shows.
    number: Option<String>,
}

/// `POST /login/link/approve`: on another device, approves the sign-in for the browser that
/// started it, which is waiting on its code page, once the number shown there is typed in. This
/// device gets no session.
pub async fn link_approve(
    req: HttpRequest,
    form: web::Form<ApproveForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let (challenge, interaction) = match link_target(&conn, &req, &form.token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let p = page(&conn, &req, Some(&interaction));
    let mut ctx = tera::Context::new();
    ctx.insert("client_name", &interaction.client_name);
    ctx.insert("token", &form.token);
    if !interaction.client_settings.cross_device_approval || interaction.kind != InteractionKind::Hosted {
        return render(&conn, &req, &p, StatusCode::FORBIDDEN, "pages/link_elsewhere.html", ctx, None);
    }
    let typed = form.number.as_deref().unwrap_or_default();
    match approve(&conn, &challenge, typed, &origin(&req)).await {
        Ok(()) => {
            ctx.insert("approved", &true);
            render(&conn, &req, &p, StatusCode::OK, "pages/approve.html", ctx, None)
        }
        Err(VerifyError::Mismatch { .. }) => {
            let error = conn.catalog.text(p.lang, "approve_wrong").to_owned();
            elsewhere_or_approve(&conn, &req, &p, &challenge, &interaction, ctx, Some(error), StatusCode::BAD_REQUEST)
        }
        Err(VerifyError::Blocked) => refusal_page(&conn, &req, &p, &Refusal::Blocked),
        Err(VerifyError::Unavailable) => refusal_page(&conn, &req, &p, &Refusal::Unavailable),
        Err(VerifyError::Store(e)) => unavailable(&conn, &req, &p, "link approval", &e),
        Err(_) => link_expired(&conn, &req),
    }
}

/// `GET /login/{interaction}/status`: what the waiting code page polls for, in the browser that
/// started only: `{"state": "waiting" | "approved" | "expired"}`.
pub async fn status(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let state = match interaction_for(&conn, &req, &path).await {
        Lookup::Found(i) => match conn.store.latest_challenge(&i.id).await {
            Ok(Some(c)) if awaits_spending(&c, conn.clock.now()) => "approved",
            Ok(Some(c)) if check_live(&c, conn.clock.now()).is_ok() => "waiting",
            Ok(_) => "expired",
            Err(e) => {
                tracing::error!(error = %e, "challenge lookup");
                return HttpResponse::ServiceUnavailable().json(serde_json::json!({ "state": "unavailable" }));
            }
        },
        Lookup::Page(_) => "expired",
    };
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({ "state": state }))
}

/// `POST /login/{interaction}/approved`: the browser that started continues once its link was
/// approved on another device; the challenge is spent here, and the session is made here.
pub async fn approved(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let interaction = interaction_or_page!(&conn, &req, &path);
    let p = page(&conn, &req, Some(&interaction));
    let challenge = match conn.store.latest_challenge(&interaction.id).await {
        Ok(Some(c)) => c,
        Ok(None) => return see_other(&format!("/login/{}", interaction.id)),
        Err(e) => return unavailable(&conn, &req, &p, "challenge lookup", &e),
    };
    if !awaits_spending(&challenge, conn.clock.now()) {
        let notes =
            CodeNotes { error: Some(conn.catalog.text(p.lang, "waiting_approval").to_owned()), ..Default::default() };
        return code_form(&conn, &req, &interaction, &challenge, notes, StatusCode::CONFLICT).await;
    }
    let outcome = match spend(&conn, &challenge, true).await {
        Ok(()) => finish_login(&conn, &interaction, &challenge).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => resume(&interaction),
        Err(VerifyError::Store(e)) => unavailable(&conn, &req, &p, "approved sign-in", &e),
        Err(_) => expired(&conn, &req, &p),
    }
}

/// `GET /unblock/{token}`: the link emailed to an account's owner when an IP was blocked for their
/// account. Shows a button; only the POST lifts the block (scanners fetch links).
pub async fn unblock_page(
    req: HttpRequest,
    path: web::Path<String>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let p = page(&conn, &req, None);
    let mut ctx = tera::Context::new();
    ctx.insert("token", path.as_str());
    let found = if path.len() > 128 {
        Ok(None)
    } else {
        conn.store.block_by_unblock_hash(conn.hasher.hash("unblock", &path).0, conn.clock.now()).await
    };
    match found {
        Ok(Some(block)) => {
            ctx.insert("place", &block.ip);
            render(&conn, &req, &p, StatusCode::OK, "pages/unblock.html", ctx, None)
        }
        Ok(None) => {
            ctx.insert("dead", &true);
            render(&conn, &req, &p, StatusCode::BAD_REQUEST, "pages/unblock.html", ctx, None)
        }
        Err(e) => unavailable(&conn, &req, &p, "block lookup", &e),
    }
}

#[derive(Deserialize)]
pub struct UnblockForm {
    token: String,
}

/// `POST /unblock`: lifts the block the emailed link stands for, once.
pub async fn unblock_submit(
    req: HttpRequest,
    form: web::Form<UnblockForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let p = page(&conn, &req, None);
    let mut ctx = tera::Context::new();
    let lifted = if form.token.len() > 128 {
        Ok(false)
    } else {
        conn.store.lift_block_by_unblock_hash(conn.hasher.hash("unblock", &form.token).0, conn.clock.now()).await
    };
    match lifted {
        Ok(true) => {
            tracing::info!("an IP block was lifted by the account's owner");
            ctx.insert("lifted", &true);
            render(&conn, &req, &p, StatusCode::OK, "pages/unblock.html", ctx, None)
        }
        Ok(false) => {
            ctx.insert("dead", &true);
            render(&conn, &req, &p, StatusCode::BAD_REQUEST, "pages/unblock.html", ctx, None)
        }
        Err(e) => unavailable(&conn, &req, &p, "unblock", &e),
    }
}

/// `GET /brand/{client}.css`: the client's colour as a CSS variable, so branded pages need no
/// inline style (CSP `style-src 'self'`). The colour was validated when it was set.
pub async fn brand_css(path: web::Path<String>, conn: web::Data<PasswordlessConnection>) -> HttpResponse {
    let color = match domain::ClientId::parse(&path) {
        Some(id) => conn.store.client_branding(&id).await.ok().flatten().and_then(|branding| {
            branding.validate().ok()?;
            branding.primary_color
        }),
        None => None,
    };
    match color {
        Some(c) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .content_type("text/css; charset=utf-8")
            .body(format!(":root {{ --accent: {c}; }}\n")),
        None => HttpResponse::NotFound().content_type("text/css; charset=utf-8").body(""),
    }
}

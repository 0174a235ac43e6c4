//! `/login/{interaction}`: the email address or phone number form, and sending the code (and link).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{Channel, EmailAddress, Interaction, PhoneNumber};
use serde::Deserialize;
use web_layer::see_other;

use super::{Live, PageError, answer, offered, page};
use crate::PasswordlessConnection;
use crate::abuse::{Refusal, check_send};
use crate::challenge::{Destination, Origin, start_challenge};
use crate::storage::Purpose;

/// What the login form shows again after a refusal.
#[derive(Default)]
struct Typed<'a> {
    email: &'a str,
    phone: &'a str,
    /// The country picked beside the number, when one was.
    region: Option<&'a str>,
    error: Option<(Channel, String)>,
    prefer: Option<Channel>,
    /// A passkey's answer was refused.
    passkey_refused: bool,
}

fn login_form(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    typed: Typed<'_>,
    status: StatusCode,
) -> HttpResponse {
    let mut p = page(conn, req, Some(interaction));
    if conn.passkeys.is_some() {
        // A passkey's form ends in a redirect to the client (step-up lets it through).
        p = p.ending_at(interaction.redirect_uri.as_deref());
    }
    let t = |key: &str| conn.catalog.text(p.lang(), key).to_owned();
    let s = &interaction.client_settings;
    let (email_on, sms_on) = (offered(conn, interaction, Channel::Email), offered(conn, interaction, Channel::Sms));
    let (intro, email_submit) = s.login_texts(email_on, sms_on);
    let (intro, email_submit) = (t(intro), t(email_submit));
    let focus = match typed.prefer.or(typed.error.as_ref().map(|(c, _)| *c)) {
        Some(Channel::Sms) if sms_on => "phone",
        _ if email_on => "email",
        _ => "phone",
    };
    if sms_on {
        domain::phone::load_plans_soon();
    }
    let mut ctx = tera::Context::new();
    // The country a number without its code is read in, and its prefix: chosen in the selector
    // beside the field, and said under it.
    let region = typed.region.map(str::to_owned).or_else(|| phone_region(conn, req, interaction));
    ctx.insert("region_options", &region_options(region.as_deref()));
    let prefix = region.as_deref().and_then(|r| domain::phone::calling_code(r).map(|code| (r.to_owned(), code)));
    let hint = match prefix {
        Some((region, code)) => {
            conn.catalog.fill(p.lang(), "phone_hint_region", &[("region", &region), ("code", &code.to_string())])
        }
        None => t("phone_hint"),
    };
    ctx.insert("phone_hint", &hint);
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
    ctx.insert("passkeys", &conn.passkeys.is_some());
    ctx.insert("passkey_refused", &typed.passkey_refused);
    p.render(status, "pages/login.html", ctx)
}

/// The login form again, after a passkey's answer was refused (400).
pub(super) fn passkey_refused(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
) -> HttpResponse {
    let typed = Typed { passkey_refused: true, ..Default::default() };
    login_form(conn, req, interaction, typed, StatusCode::BAD_REQUEST)
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(rename = "use")]
    prefer: Option<String>,
}

/// `GET /login/{interaction}`: the email and/or phone form, pre-filled from `login_hint`.
pub async fn login_page(
    req: HttpRequest,
    Live(interaction): Live,
    query: web::Query<LoginQuery>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let hint = interaction.login_hint.clone().unwrap_or_default();
    let hint_is_phone = hint.starts_with('+');
    let typed = Typed {
        email: if hint_is_phone { "" } else { &hint },
        phone: if hint_is_phone { &hint } else { "" },
        region: None,
        error: None,
        prefer: query.prefer.as_deref().and_then(Channel::parse).or(hint_is_phone.then_some(Channel::Sms)),
        passkey_refused: false,
    };
    login_form(&conn, &req, &interaction, typed, StatusCode::OK)
}

/// The country selector's options: "+…" (the number carries its code), then every region after its
/// calling code (`+44 GB`, the prefix first, so a narrow selector still shows it), `selected`
/// marking the one assumed. Region codes are two capital letters, so the
/// markup needs no escaping; the page's script names the countries in the browser's language.
fn region_options(selected: Option<&str>) -> String {
    use std::fmt::Write;
    let mut html = String::with_capacity(8 * 1024);
    let none = if selected.is_none() { " selected" } else { "" };
    let _ = write!(html, "<option value=\"\"{none}>+…</option>");
    for (id, code) in domain::phone::regions() {
        let chosen = if selected == Some(id.as_str()) { " selected" } else { "" };
        let _ = write!(html, "<option value=\"{id}\"{chosen}>+{code} {id}</option>");
    }
    html
}

#[derive(Deserialize)]
pub struct StartForm {
    email: Option<String>,
    phone: Option<String>,
    /// The country picked beside the number (ISO 3166-1 alpha-2); empty for "+…".
    region: Option<String>,
}

/// `POST /login/{interaction}`: sends the code (and link). The answer is the same redirect, byte for
/// byte, whether or not the address or number has an account.
pub async fn start(
    req: HttpRequest,
    Live(interaction): Live,
    form: web::Form<StartForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let result = send(&conn, &req, &interaction, &form).await;
    answer(&conn, &req, Some(&interaction), result)
}

/// Reads the address or number, checks the limits, and starts the challenge.
async fn send(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    form: &StartForm,
) -> Result<HttpResponse, PageError> {
    let lang = page(conn, req, Some(interaction)).lang();
    let t = |key: &str| conn.catalog.text(lang, key).to_owned();
    let shown = |raw: &str| raw.chars().take(254).collect::<String>();
    let (email_raw, phone_raw) =
        (shown(form.email.as_deref().unwrap_or("")), shown(form.phone.as_deref().unwrap_or("")));
    // The country picked beside the number, else the one the page assumed.
    let picked = form.region.as_deref().map(str::to_ascii_uppercase).filter(|r| domain::phone::is_region(r));
    let refuse = |channel: Channel, error: String| {
        let region = picked.as_deref();
        let typed =
            Typed { email: &email_raw, phone: &phone_raw, region, error: Some((channel, error)), ..Default::default() };
        Ok(login_form(conn, req, interaction, typed, StatusCode::BAD_REQUEST))
    };
    let to = match (&form.email, &form.phone) {
        (Some(email), _) if !email.is_empty() || form.phone.is_none() => {
            if !offered(conn, interaction, Channel::Email) {
                return refuse(Channel::Email, t("email_off"));
            }
            match EmailAddress::parse(email) {
                Ok(e) => Destination::Email(e),
                Err(e) => return refuse(Channel::Email, t(email_error_key(&e))),
            }
        }
        (_, Some(phone)) => {
            if !offered(conn, interaction, Channel::Sms) {
                return refuse(Channel::Sms, t("sms_off"));
            }
            let region = picked.clone().or_else(|| phone_region(conn, req, interaction));
            match PhoneNumber::parse(phone, region.as_deref()) {
                Ok(n) => Destination::Phone(n),
                Err(e) => return refuse(Channel::Sms, t(phone_error_key(&e))),
            }
        }
        _ => return refuse(Channel::Email, t("error_email_empty")),
    };
    let origin = Origin::of(req);
    match check_send(conn, &origin, &to).await {
        Ok(()) => {}
        Err(Refusal::Country) => return refuse(Channel::Sms, t("country_refused")),
        Err(refusal) => return Err(PageError::Refused(refusal)),
    }
    let sent = crate::messages::Sent::for_client(&interaction.client_settings);
    match start_challenge(conn, interaction, &to, Purpose::FirstFactor, sent, &origin, lang).await {
        Ok(Some(_)) => Ok(see_other(&crate::paths::code(&interaction.id))),
        // The first factor was recorded meanwhile (another tab): this sign-in is past the form.
        Ok(None) => Err(PageError::Expired),
        Err(e) => Err(PageError::Unavailable("challenge start", e)),
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

/// The region a number typed without its country code is read in: the client's
/// (`settings.phone_region`), else the deployment's (`sms.default_region`), else the first region
/// the sign-in's languages name (`ui_locales`, then `Accept-Language`: `en-GB` → GB). None: the
/// number needs its `+` and country code, and the page says so.
fn phone_region(conn: &PasswordlessConnection, req: &HttpRequest, interaction: &Interaction) -> Option<String> {
    conn.phone_region(&interaction.client_settings).map(str::to_owned).or_else(|| {
        let asked = interaction.ui_locales.as_deref().unwrap_or_default().split_whitespace();
        let accepted = req
            .headers()
            .get(actix_web::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(',')
            .map(|tag| tag.split(';').next().unwrap_or_default());
        asked.chain(accepted).find_map(domain::phone::region_of_language)
    })
}

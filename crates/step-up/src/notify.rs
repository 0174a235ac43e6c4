//! "New sign-in to your account": the email after a sign-in from a new device or country (or one
//! let through without a second factor), with a one-click "This wasn't me" link that ends every
//! session and token of the account and blocks the device that signed in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::Interaction;
use domain::message::OutgoingMessage;
use domain::{Channel, MessageId, User};
use serde::Deserialize;
use web_layer::{Lang, Page};

use crate::StepUpService;
use crate::flow::PageError;
use crate::storage::{NotMeConsequence, NotMeReport};

const NOT_ME_PURPOSE: &str = "not-me";
/// How long a "This wasn't me" link works: 30 days.
const NOT_ME_TTL: i64 = 30 * 86_400;

fn seal(svc: &StepUpService, id: &str, body: &str) -> String {
    URL_SAFE_NO_PAD.encode(svc.message_sealer.seal(id.as_bytes(), body.as_bytes()))
}

/// The application a sign-in was for, as the email names it.
pub(crate) struct Audience<'a> {
    pub client_id: &'a domain::ClientId,
    pub client_name: &'a str,
    pub settings: &'a domain::ClientSettings,
    /// `ui_locales` of the sign-in, when it had one.
    pub ui_locales: Option<&'a str>,
}

impl<'a> Audience<'a> {
    pub(crate) fn of(interaction: &'a Interaction) -> Self {
        Audience {
            client_id: &interaction.client_id,
            client_name: &interaction.client_name,
            settings: &interaction.client_settings,
            ui_locales: interaction.ui_locales.as_deref(),
        }
    }
}

/// The device a new sign-in came from, as its owner's email names it, in their language.
pub(crate) struct Device<'a> {
    /// The browser's `User-Agent` (or the one an API sign-in passed on).
    pub agent: Option<&'a str>,
    /// An API sign-in: the application is named first, "Shop (Firefox on Linux)".
    pub through_api: bool,
}

/// The email, and the keyed hash of its "This wasn't me" token (for the history); `None` when the
/// account has no email address or the message could not be rendered. The caller queues it.
pub(crate) fn new_sign_in(
    svc: &StepUpService,
    user: &User,
    client: &Audience<'_>,
    place: &str,
    device: Device<'_>,
    no_factor: bool,
    now: i64,
) -> Option<(OutgoingMessage, Vec<u8>)> {
    let to = user.email.as_ref()?;
    let lang = svc.catalog.negotiate(user.profile.locale.as_deref().or(client.ui_locales), None);
    let product = client.settings.branding.product_name.clone().unwrap_or_else(|| svc.config.product_name.clone());
    let token = domain::secret::random_token(32);
    let mut ctx = tera::Context::new();
    ctx.insert("t", svc.catalog.table_for(lang, domain::i18n::MESSAGES));
    ctx.insert("lang", lang);
    ctx.insert("product_name", &product);
    if let Some(logo) = &client.settings.branding.logo_url {
        ctx.insert("logo_url", logo);
    }
    ctx.insert("client_name", client.client_name);
    ctx.insert("requested_at", &domain::clock::for_people(now, user.profile.zoneinfo.as_deref()));
    ctx.insert("place", place);
    let described = web_layer::describe_device(&svc.catalog, lang, device.agent);
    let device = match (device.through_api, described) {
        (true, Some(described)) => format!("{} ({described})", client.client_name),
        (true, None) => client.client_name.to_owned(),
        (false, Some(described)) => described,
        (false, None) => svc.catalog.text(lang, "device_unknown").to_owned(),
    };
    ctx.insert("device", &device);
    ctx.insert("no_factor", &no_factor);
    ctx.insert("link", &crate::paths::not_me(&svc.config.public_url, &token));
    let subject = svc.catalog.fill(lang, "new_sign_in_subject", &[("product", &product)]);
    ctx.insert("subject", &subject);
    let rendered = svc
        .tera
        .render("email/new_sign_in.txt", &ctx)
        .and_then(|text| Ok((text, svc.tera.render("email/new_sign_in.html", &ctx)?)));
    let (text, html) = match rendered {
        Ok(pair) => pair,
        Err(e) => {
            tracing::error!(error = ?e, "new sign-in email could not be rendered");
            return None;
        }
    };
    let id = MessageId::sortable();
    let message = OutgoingMessage {
        text_body: seal(svc, id.as_str(), &text),
        html_body: Some(seal(svc, id.as_str(), &html)),
        leased_until: None,
        id,
        channel: Channel::Email,
        recipient: to.to_string(),
        subject,
    };
    Some((message, svc.hasher.hash(NOT_ME_PURPOSE, &token).0))
}

/// The "This wasn't me" page, in the language the request asks for.
fn not_me_page_with(svc: &StepUpService, req: &HttpRequest, status: StatusCode, ctx: tera::Context) -> HttpResponse {
    let lang = Lang::of(req).pick(&svc.catalog, None);
    Page::new(req, &svc.tera, &svc.catalog, lang).product(&svc.config.product_name).render(
        status,
        "pages/not_me.html",
        ctx,
    )
}

/// `GET|HEAD /not-me/{token}`: asks to confirm (mail scanners fetch links; only the POST acts).
pub async fn not_me_page(req: HttpRequest, path: web::Path<String>, svc: web::Data<StepUpService>) -> HttpResponse {
    let mut ctx = tera::Context::new();
    let found = if path.len() > 128 {
        Ok(None)
    } else {
        let oldest = svc.clock.now() - NOT_ME_TTL;
        svc.store.login_event_by_not_me(svc.hasher.hash(NOT_ME_PURPOSE, &path).0, oldest).await
    };
    let status = match found {
        Ok(Some(_)) => {
            ctx.insert("token", path.as_str());
            StatusCode::OK
        }
        Ok(None) => {
            ctx.insert("dead", &true);
            StatusCode::BAD_REQUEST
        }
        Err(e) => return PageError::unavailable("not-me lookup", e).respond(&svc, &req),
    };
    not_me_page_with(&svc, &req, status, ctx)
}

#[derive(Deserialize)]
pub struct NotMeForm {
    token: String,
}

/// What "This wasn't me" does to the account: whoever signed in is signed out everywhere, loses
/// every token, and cannot come back on that device.
pub(crate) const NOT_ME: [NotMeConsequence; 3] =
    [NotMeConsequence::EndSessions, NotMeConsequence::RevokeGrants, NotMeConsequence::BlockDevice];

/// `POST /not-me`: ends every session and grant of the account (sessions, access and refresh
/// tokens) and blocks the device that signed in, once, in one transaction.
pub async fn not_me(req: HttpRequest, form: web::Form<NotMeForm>, svc: web::Data<StepUpService>) -> HttpResponse {
    let now = svc.clock.now();
    let mut ctx = tera::Context::new();
    let outcome = if form.token.len() > 128 {
        Ok(None)
    } else {
        let link_hash = svc.hasher.hash(NOT_ME_PURPOSE, &form.token).0;
        let report = NotMeReport { link_hash, issued_after: now - NOT_ME_TTL, consequences: &NOT_ME, at: now };
        svc.store.report_not_me(report).await
    };
    match outcome {
        Ok(Some(done)) => {
            let (user, sessions, grants) = (&done.event.user_id, done.sessions_ended, done.grants_revoked);
            tracing::warn!(%user, sessions, grants, "the account's owner reported a sign-in as not theirs");
            ctx.insert("done", &true);
            not_me_page_with(&svc, &req, StatusCode::OK, ctx)
        }
        Ok(None) => {
            ctx.insert("dead", &true);
            not_me_page_with(&svc, &req, StatusCode::BAD_REQUEST, ctx)
        }
        Err(e) => PageError::unavailable("not-me", e).respond(&svc, &req),
    }
}

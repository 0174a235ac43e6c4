//! The console's client pages: the relying parties (`/admin/clients`), made and changed with the
//! same rules, audit and concurrency as the admin API (`domain::client_rules`, `api::clients`).
//! A client's page edits its redirect URIs, sign-in methods, API login, step-up policy and
//! branding beside a live preview of its login page; it rotates the secret (the old one kept for
//! a day), disables and enables the client; and opens the login page as its users see it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::client_rules::{NewClient, check_metadata, new_client};
use domain::{
    Client, ClientHooks, ClientId, LoginMethod, RefreshPolicy, SigningAlg, StepUpPolicy, User, WithoutFactor,
};
use serde_json::json;

use super::{admin_of, page};
use crate::api::clients::{DEFAULT_GRACE, audit, client_json, is_own, rotated};
use crate::storage::{Actor, ClientSaved};
use crate::{Admin, paths};

/// A form's fields, repeated ones (the sign-in methods) included.
type Fields = Vec<(String, String)>;

fn field<'f>(fields: &'f Fields, name: &str) -> &'f str {
    fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// One URI per line; blank lines dropped.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim()).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// The signed-in admin and the client a page is about (never the server's own), or the page
/// that stands in.
async fn client_of(req: &HttpRequest, admin: &Admin, id: &str) -> Result<(User, Client), HttpResponse> {
    let me = admin_of(req, admin).await?;
    let not_found = || page(req, admin).message(StatusCode::NOT_FOUND, "not_found", &[]);
    let Some(id) = ClientId::parse(id) else { return Err(not_found()) };
    match admin.store.client(&id).await {
        Ok(Some(client)) if !is_own(&client) => Ok((me, client)),
        Ok(_) => Err(not_found()),
        Err(e) => Err(unavailable(req, admin, "client", &e)),
    }
}

fn unavailable(req: &HttpRequest, admin: &Admin, what: &str, e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "console: {what}");
    page(req, admin).message(StatusCode::SERVICE_UNAVAILABLE, "unavailable", &[])
}

/// `GET /admin/clients`: every client but the server's own, and the form that makes one.
pub async fn list(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    if let Err(answer) = admin_of(&req, &admin).await {
        return answer;
    }
    listing(&req, &admin, None, StatusCode::OK).await
}

async fn listing(req: &HttpRequest, admin: &Admin, error: Option<String>, status: StatusCode) -> HttpResponse {
    let clients = match admin.store.clients().await {
        Ok(clients) => clients,
        Err(e) => return unavailable(req, admin, "client list", &e),
    };
    let shown: Vec<_> = clients.iter().filter(|c| !is_own(c)).map(client_json).collect();
    let mut ctx = tera::Context::new();
    ctx.insert("clients", &shown);
    ctx.insert("error", &error);
    page(req, admin).render(status, "pages/admin_clients.html", ctx)
}

/// `POST /admin/clients`: a new client (name, redirect URIs, public or confidential); its secret
/// is shown this once.
pub async fn create(req: HttpRequest, form: web::Form<Fields>, admin: web::Data<Admin>) -> HttpResponse {
    let me = match admin_of(&req, &admin).await {
        Ok(me) => me,
        Err(answer) => return answer,
    };
    let new = NewClient {
        name: field(&form, "name").trim().to_owned(),
        redirect_uris: lines(field(&form, "redirect_uris")),
        post_logout_redirect_uris: Vec::new(),
        public: field(&form, "public") == "on",
        id_token_alg: SigningAlg::RS256,
        native: false,
        settings: domain::ClientSettings::default(),
    };
    let (client, secret) = match new_client(new, &admin.hasher, admin.clock.now()) {
        Ok(made) => made,
        Err(e) => return listing(&req, &admin, Some(e.to_string()), StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let made = audit(Actor::Admin { user_id: me.id }, &req, "created");
    if let Err(e) = admin.store.create_client(&client, admin.clock.now(), made).await {
        return unavailable(&req, &admin, "client create", &e);
    }
    edit_page(&req, &admin, &client, Note::Secret(secret), StatusCode::CREATED)
}

/// What a client's page says above its form.
enum Note {
    None,
    Saved,
    Refused(String),
    /// A new secret, shown this once (`None` for a public client).
    Secret(Option<String>),
    /// The values the admin submitted, shown beside the client as it is now.
    Conflict(Box<Client>),
}

/// The form's choice of each decision hook: the deployment's (empty), `off`, or a configured label
/// (and the client's own, when its label is no longer configured, so a save keeps it).
fn hook_choices(admin: &Admin, hooks: &ClientHooks) -> Vec<serde_json::Value> {
    let steps = [
        ("before_user_created", &hooks.before_user_created),
        ("after_first_factor", &hooks.after_first_factor),
        ("before_token", &hooks.before_token),
    ];
    steps
        .into_iter()
        .map(|(name, chosen)| {
            let mut labels = admin.hook_labels.clone();
            if let Some(own) = chosen.as_ref().filter(|c| *c != ClientHooks::OFF && !admin.hook_labels.contains(c)) {
                labels.push(own.clone());
            }
            json!({"name": name, "chosen": chosen.as_deref().unwrap_or(""), "labels": labels})
        })
        .collect()
}

fn edit_page(req: &HttpRequest, admin: &Admin, client: &Client, note: Note, status: StatusCode) -> HttpResponse {
    let s = &client.settings;
    let lang = page(req, admin).lang();
    let text = |key: &str| admin.catalog.text(lang, key).to_owned();
    let methods: Vec<_> = LoginMethod::ALL
        .iter()
        .map(|m| json!({"value": m.as_str(), "label": text(&format!("admin_method_{}", m.as_str())), "on": s.allows(*m)}))
        .collect();
    let mut ctx = tera::Context::new();
    ctx.insert("client", &client_json(client));
    ctx.insert("redirect_uris", &client.redirect_uris.join("\n"));
    ctx.insert("post_logout_redirect_uris", &client.post_logout_redirect_uris.join("\n"));
    ctx.insert("methods", &methods);
    ctx.insert("refresh_tokens", s.refresh_tokens.as_str());
    ctx.insert(
        "refresh_choices",
        &[RefreshPolicy::OfflineAccess, RefreshPolicy::Always, RefreshPolicy::Never].map(|r| r.as_str()),
    );
    ctx.insert("step_up_policy", &serde_json::to_value(s.step_up.policy).unwrap_or_default());
    ctx.insert("without_factor", &serde_json::to_value(s.step_up.without_factor).unwrap_or_default());
    ctx.insert("branding", &s.branding);
    ctx.insert("hooks", &hook_choices(admin, &s.hooks));
    ctx.insert("action", &paths::console_client(&client.id));
    // The live preview: what the hosted login page would show with these settings.
    let (intro, submit) = s.login_texts(s.email(), s.allows(LoginMethod::SmsCode));
    ctx.insert("preview_intro", &text(intro));
    ctx.insert("preview_submit", &text(submit));
    ctx.insert("preview_heading", &text("login_heading").replace("{client}", &client.name));
    match note {
        Note::None => {}
        Note::Saved => ctx.insert("saved", &true),
        Note::Refused(text) => ctx.insert("error", &text),
        Note::Secret(secret) => ctx.insert("secret", &secret),
        Note::Conflict(yours) => ctx.insert("yours", &client_json(&yours)),
    }
    page(req, admin).render(status, "pages/admin_client.html", ctx)
}

/// `GET /admin/clients/{id}`.
pub async fn show(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    match client_of(&req, &admin, &path).await {
        Ok((_, client)) => edit_page(&req, &admin, &client, Note::None, StatusCode::OK),
        Err(answer) => answer,
    }
}

/// The client as the form would have it; the error is what to say.
fn edited(current: &Client, form: &Fields) -> Result<Client, String> {
    let mut client = current.clone();
    client.name = field(form, "name").trim().to_owned();
    client.redirect_uris = lines(field(form, "redirect_uris"));
    client.post_logout_redirect_uris = lines(field(form, "post_logout_redirect_uris"));
    let s = &mut client.settings;
    s.login_methods = LoginMethod::ALL
        .into_iter()
        .filter(|m| form.iter().any(|(k, v)| k == "login_methods" && v == m.as_str()))
        .collect();
    if s.login_methods.is_empty() {
        return Err("Choose at least one sign-in method.".into());
    }
    s.api_login = field(form, "api_login") == "on";
    s.cross_device_approval = field(form, "cross_device_approval") == "on";
    s.passkey_offer = field(form, "passkey_offer") == "on";
    let hook = |name: &str| Some(field(form, &format!("hook_{name}")).trim().to_owned()).filter(|c| !c.is_empty());
    s.hooks = ClientHooks {
        before_user_created: hook("before_user_created"),
        after_first_factor: hook("after_first_factor"),
        before_token: hook("before_token"),
    };
    s.refresh_tokens =
        RefreshPolicy::parse(field(form, "refresh_tokens")).ok_or("Choose when refresh tokens are issued.")?;
    s.step_up.policy = StepUpPolicy::parse(field(form, "step_up_policy")).ok_or("Choose a step-up policy.")?;
    s.step_up.without_factor =
        WithoutFactor::parse(field(form, "without_factor")).ok_or("Choose what happens without a second factor.")?;
    s.branding.product_name = optional(field(form, "product_name"));
    s.branding.primary_color = optional(field(form, "primary_color"));
    s.branding.logo_url = optional(field(form, "logo_url"));
    s.branding.css_url = optional(field(form, "css_url"));
    s.branding.client_url = optional(field(form, "client_url"));
    s.branding.policy_url = optional(field(form, "policy_url"));
    s.branding.tos_url = optional(field(form, "tos_url"));
    check_metadata(&client).map_err(|e| e.to_string())?;
    Ok(client)
}

/// `POST /admin/clients/{id}`: saves the form when the client is still at the version it shows;
/// otherwise both versions are shown and nothing is saved.
pub async fn save(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Fields>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let (me, current) = match client_of(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let client = match edited(&current, &form) {
        Ok(client) => client,
        Err(text) => return edit_page(&req, &admin, &current, Note::Refused(text), StatusCode::UNPROCESSABLE_ENTITY),
    };
    let Ok(version) = field(&form, "version").parse::<i64>() else {
        return edit_page(
            &req,
            &admin,
            &current,
            Note::Refused("The form is missing its version.".into()),
            StatusCode::BAD_REQUEST,
        );
    };
    let changed = audit(Actor::Admin { user_id: me.id }, &req, "updated");
    match admin.store.save_client(&client, version, admin.clock.now(), changed).await {
        Ok(ClientSaved::Saved(saved)) => edit_page(&req, &admin, &saved, Note::Saved, StatusCode::OK),
        // RFC 9110 §15.5.10: the request conflicts with the record's current state.
        Ok(ClientSaved::Stale(now)) => {
            edit_page(&req, &admin, &now, Note::Conflict(Box::new(client)), StatusCode::CONFLICT)
        }
        Ok(ClientSaved::NotFound) => page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]),
        Err(e) => unavailable(&req, &admin, "client save", &e),
    }
}

/// `POST /admin/clients/{id}/secret`: a new secret, shown once; the old one works one more day.
pub async fn rotate(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let (me, current) = match client_of(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let Some((client, secret)) = rotated(&admin, &current, DEFAULT_GRACE) else {
        let text = page(&req, &admin).text("admin_public_no_secret").to_owned();
        return edit_page(&req, &admin, &current, Note::Refused(text), StatusCode::CONFLICT);
    };
    let changed = audit(Actor::Admin { user_id: me.id }, &req, "secret_rotated");
    match admin.store.save_client(&client, current.version, admin.clock.now(), changed).await {
        Ok(ClientSaved::Saved(saved)) => edit_page(&req, &admin, &saved, Note::Secret(Some(secret)), StatusCode::OK),
        Ok(ClientSaved::Stale(now)) => edit_page(
            &req,
            &admin,
            &now,
            Note::Refused(page(&req, &admin).text("admin_changed_retry").to_owned()),
            StatusCode::CONFLICT,
        ),
        Ok(ClientSaved::NotFound) => page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]),
        Err(e) => unavailable(&req, &admin, "secret rotation", &e),
    }
}

/// `POST /admin/clients/{id}/status` with `disabled=true|false`: a disabled client cannot
/// authenticate or start a sign-in, and its grants and tokens are revoked at once.
pub async fn status(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<Fields>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let (me, current) = match client_of(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let disable = field(&form, "disabled") == "true";
    let mut client = current.clone();
    client.disabled_at = if disable { current.disabled_at.or(Some(admin.clock.now())) } else { None };
    let action = if disable { "disabled" } else { "enabled" };
    let changed = audit(Actor::Admin { user_id: me.id }, &req, action);
    match admin.store.save_client(&client, current.version, admin.clock.now(), changed).await {
        Ok(ClientSaved::Saved(saved)) => edit_page(&req, &admin, &saved, Note::Saved, StatusCode::OK),
        Ok(ClientSaved::Stale(now)) => edit_page(
            &req,
            &admin,
            &now,
            Note::Refused(page(&req, &admin).text("admin_changed_retry").to_owned()),
            StatusCode::CONFLICT,
        ),
        Ok(ClientSaved::NotFound) => page(&req, &admin).message(StatusCode::NOT_FOUND, "not_found", &[]),
        Err(e) => unavailable(&req, &admin, "client status", &e),
    }
}

/// `GET /admin/clients/{id}/preview`: the hosted login page exactly as the client's users see it
/// (its saved branding, logo and stylesheet included); its forms lead nowhere.
pub async fn preview(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let (_, client) = match client_of(&req, &admin, &path).await {
        Ok(pair) => pair,
        Err(answer) => return answer,
    };
    let s = &client.settings;
    let b = &s.branding;
    let lang = web_layer::Lang::of(&req).pick(&admin.catalog, None);
    let page =
        web_layer::Page::new(&req, &admin.tera, &admin.catalog, lang).branded(&client.id, b, &admin.product_name);
    let (email_on, sms_on) = (s.email(), s.allows(LoginMethod::SmsCode));
    let (intro, submit) = s.login_texts(email_on, sms_on);
    let mut ctx = tera::Context::new();
    ctx.insert("interaction", "preview");
    ctx.insert("client_name", &client.name);
    ctx.insert("intro", admin.catalog.text(lang, intro));
    ctx.insert("email_submit", admin.catalog.text(lang, submit));
    ctx.insert("email_enabled", &email_on);
    ctx.insert("sms_enabled", &sms_on);
    ctx.insert("email", "");
    ctx.insert("phone", "");
    ctx.insert("focus", if email_on { "email" } else { "phone" });
    ctx.insert("error", &None::<String>);
    ctx.insert("error_field", "email");
    page.render(StatusCode::OK, "pages/login.html", ctx)
}

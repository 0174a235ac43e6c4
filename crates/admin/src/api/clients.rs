//! `/api/admin/v1/clients`: the relying parties. A client's secret is shown once, at creation or
//! rotation, and kept only as a keyed hash.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::client_rules::{ClientError, NewClient, check_metadata, fresh_secret, new_client, seal_secret};
use domain::{ApplicationType, Client, ClientId, ClientSettings, PreviousSecret, SigningAlg};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, authenticate, check_if_match, etag, json_body, optional_json_body, run};
use crate::storage::{Actor, AdminAudit, AuditClient, ClientSaved};
use crate::{Admin, paths};

/// How long a rotated-out secret keeps working by default, and at most (30 days).
pub(crate) const DEFAULT_GRACE: i64 = 86_400;
const MAX_GRACE: i64 = 30 * 86_400;

/// A client as the API shows it (never its secret).
pub fn client_json(c: &Client) -> Value {
    json!({
        "client_id": c.id.as_str(),
        "name": c.name,
        "public": c.is_public,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "id_token_alg": c.id_token_alg.as_str(),
        "application_type": c.application_type.as_str(),
        "settings": c.settings,
        "disabled": c.is_disabled(),
        "previous_secret_expires_at": c.previous_secret.as_ref().map(|p| p.until),
        "created_at": c.created_at,
        "version": c.version,
    })
}

fn respond(mut res: actix_web::HttpResponseBuilder, c: &Client, extra: Option<(&str, Value)>) -> HttpResponse {
    let mut body = client_json(c);
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    res.insert_header((header::ETAG, etag(c.version))).insert_header((header::CACHE_CONTROL, "no-store")).json(body)
}

fn refusal(e: ClientError) -> ApiError {
    let field = match &e {
        ClientError::NoName | ClientError::BadName => "name",
        ClientError::NoRedirectUri | ClientError::BadRedirectUri(_) => "redirect_uris",
        ClientError::PublicAdminApi => "public",
        ClientError::BadBranding(_) => "settings.branding",
        ClientError::BadHooks(_) => "settings.hooks",
        ClientError::BadPhoneRegion(_) => "settings.phone_region",
        ClientError::BadKeys(_) => "settings.private_key_jwt",
        ClientError::BadRequestObjects(_) => "settings.request_objects",
        ClientError::BadFrontChannelLogout => "settings.frontchannel_logout_uri",
        ClientError::BadBackChannelLogout => "settings.backchannel_logout_uri",
        ClientError::BadSector => "settings.pairwise.sector",
    };
    ApiError::invalid(field, e)
}

pub(crate) fn audit(actor: Actor, req: &HttpRequest, action: &'static str) -> AuditClient {
    let ip = web_layer::RequestOrigin::of(req).ip.ip();
    Box::new(move |before, after| AdminAudit::ClientChanged {
        actor,
        ip,
        action,
        before: before.map(client_json),
        after: after.map(client_json),
    })
}

/// The console's and the account page's clients are the server's own: they are registered again
/// at every start, and the API cannot change, rotate or delete them (a foreign redirect URI on
/// one would be a phishing page).
fn managed(client: &Client) -> Result<(), ApiError> {
    match is_own(client) {
        true => Err(ApiError::Conflict {
            field: "client_id".into(),
            description: "this client is the server's own (the admin console's or the account page's)".into(),
        }),
        false => Ok(()),
    }
}

/// Whether the client is the server's own (the console's or the account page's).
pub(crate) fn is_own(client: &Client) -> bool {
    [crate::console::CONSOLE_CLIENT_ID, crate::account::ACCOUNT_CLIENT_ID].contains(&client.id.as_str())
}

/// The client with a new secret, and that secret (shown once); the old one keeps working `grace`
/// seconds. `None` for a public client, which has no secret.
pub(crate) fn rotated(admin: &Admin, current: &Client, grace: i64) -> Option<(Client, String)> {
    let old = current.secret_hash.clone()?;
    let (secret, hash) = fresh_secret(&admin.hasher);
    let mut client = current.clone();
    client.secret_hash = Some(hash);
    // A `client_secret_jwt` client's secret is kept sealed too: the new one, and the old one while
    // it still works. (A client set to `client_secret_jwt` after it was made gets its sealed
    // secret here, at its first rotation.)
    client.secret_sealed =
        current.settings.client_secret_jwt.as_ref().map(|_| seal_secret(&admin.client_secrets, &client.id, &secret));
    client.previous_secret = (grace > 0).then(|| PreviousSecret {
        hash: old,
        until: admin.clock.now() + grace,
        sealed: current.secret_sealed.clone(),
    });
    Some((client, secret))
}

async fn find(admin: &Admin, id: &str) -> Result<Client, ApiError> {
    let id = ClientId::parse(id).ok_or(ApiError::NotFound)?;
    admin.store.client(&id).await.map_err(|e| ApiError::storage("client lookup", &e))?.ok_or(ApiError::NotFound)
}

/// `GET /clients`: `{"clients": [...]}`, in creation order.
pub async fn list(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let clients = admin.store.clients().await.map_err(|e| ApiError::storage("client list", &e))?;
        let body = json!({ "clients": clients.iter().map(client_json).collect::<Vec<_>>() });
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClientRequest {
    name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    public: bool,
    id_token_alg: Option<String>,
    application_type: Option<String>,
    #[serde(default)]
    settings: Value,
}

/// `POST /clients`: 201 with the client, its `Location`, and `client_secret` (confidential clients
/// only, shown this once).
pub async fn create(req: HttpRequest, body: web::Payload, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let r: NewClientRequest = json_body(&req, body).await?;
        let id_token_alg = match r.id_token_alg.as_deref() {
            None => SigningAlg::RS256,
            Some(a) => {
                SigningAlg::parse(a).ok_or_else(|| ApiError::invalid("id_token_alg", "RS256, ES256 or EdDSA"))?
            }
        };
        let native = match r.application_type.as_deref() {
            None => false,
            Some(t) => {
                ApplicationType::parse(t).ok_or_else(|| ApiError::invalid("application_type", "web or native"))?
                    == ApplicationType::Native
            }
        };
        let settings = settings_from(if r.settings.is_null() { json!({}) } else { r.settings })?;
        if settings.admin_api {
            return Err(admin_api_refused());
        }
        let new = NewClient {
            name: r.name,
            redirect_uris: r.redirect_uris,
            post_logout_redirect_uris: r.post_logout_redirect_uris,
            public: r.public,
            id_token_alg,
            native,
            settings,
        };
        let (client, secret) = new_client(new, &admin.hasher, admin.clock.now()).map_err(refusal)?;
        let audit = audit(actor, &req, "created");
        admin
            .store
            .create_client(&client, admin.clock.now(), audit)
            .await
            .map_err(|e| ApiError::storage("client create", &e))?;
        let mut res = HttpResponse::Created();
        res.insert_header((header::LOCATION, paths::CLIENT.replace("{id}", client.id.as_str())));
        Ok(respond(res, &client, secret.map(|s| ("client_secret", json!(s)))))
    })
    .await
}

/// Admin API clients are made only from the command line: a stolen admin token cannot make
/// lasting admin clients, nor hand the admin scope to an existing client.
fn admin_api_refused() -> ApiError {
    ApiError::invalid("settings.admin_api", "only `ostiary client create --admin-api` makes an admin API client")
}

fn settings_from(value: Value) -> Result<ClientSettings, ApiError> {
    serde_json::from_value(value).map_err(|e| ApiError::invalid("settings", e))
}

/// `GET /clients/{id}`, with its `ETag`.
pub async fn get(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        Ok(respond(HttpResponse::Ok(), &find(&admin, &path).await?, None))
    })
    .await
}

/// `PATCH /clients/{id}` with `If-Match`: `name`, `redirect_uris`, `post_logout_redirect_uris`,
/// `settings` (merged into the current settings, RFC 7396) and `disabled`. Disabling revokes every
/// grant and token of the client.
pub async fn patch(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    admin: web::Data<Admin>,
) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let current = find(&admin, &path).await?;
        managed(&current)?;
        check_if_match(&req, current.version).map_err(|e| e.with_current(client_json(&current)))?;
        let Value::Object(members) = json_body::<Value>(&req, body).await? else {
            return Err(ApiError::Malformed { field: None, description: "the body must be a JSON object".into() });
        };
        let mut client = current.clone();
        let now = admin.clock.now();
        for (name, value) in members {
            let text_list = |v: Value| -> Result<Vec<String>, ApiError> {
                serde_json::from_value(v)
                    .map_err(|_| ApiError::malformed(&name, format!("{name} must be a list of strings")))
            };
            match name.as_str() {
                "name" => {
                    client.name = value
                        .as_str()
                        .ok_or_else(|| ApiError::malformed(&name, "name must be a string"))?
                        .trim()
                        .to_owned()
                }
                "redirect_uris" => client.redirect_uris = text_list(value)?,
                "post_logout_redirect_uris" => client.post_logout_redirect_uris = text_list(value)?,
                "settings" => {
                    client.settings =
                        settings_from(merge(serde_json::to_value(&client.settings).unwrap_or_default(), value))?
                }
                "disabled" => {
                    match value.as_bool().ok_or_else(|| ApiError::malformed(&name, "disabled must be true or false"))? {
                        true => client.disabled_at = client.disabled_at.or(Some(now)),
                        false => client.disabled_at = None,
                    }
                }
                "client_id"
                | "public"
                | "id_token_alg"
                | "application_type"
                | "created_at"
                | "version"
                | "previous_secret_expires_at" => {}
                _ => return Err(ApiError::malformed(&name, format!("{name} is not a member of a client"))),
            }
        }
        if client.settings.admin_api != current.settings.admin_api {
            return Err(admin_api_refused());
        }
        check_metadata(&client).map_err(refusal)?;
        let action = match (current.is_disabled(), client.is_disabled()) {
            (false, true) => "disabled",
            (true, false) => "enabled",
            _ => "updated",
        };
        save(&admin, &client, current.version, audit(actor, &req, action))
            .await
            .map(|c| respond(HttpResponse::Ok(), &c, None))
    })
    .await
}

async fn save(admin: &Admin, client: &Client, version: i64, audit: AuditClient) -> Result<Client, ApiError> {
    let saved = admin.store.save_client(client, version, admin.clock.now(), audit).await;
    match saved.map_err(|e| ApiError::storage("client save", &e))? {
        ClientSaved::Saved(c) => Ok(*c),
        ClientSaved::Stale(now) => Err(ApiError::PreconditionFailed(Some(Box::new(client_json(&now))))),
        ClientSaved::NotFound => Err(ApiError::NotFound),
    }
}

/// RFC 7396 JSON Merge Patch: `patch` over `target`, `null` removing a member.
fn merge(target: Value, patch: Value) -> Value {
    match (target, patch) {
        (Value::Object(mut t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    let current = t.remove(&k).unwrap_or(Value::Null);
                    t.insert(k, merge(current, v));
                }
            }
            Value::Object(t)
        }
        (_, patch) => patch,
    }
}

/// `DELETE /clients/{id}`: the client and all it was granted go; 204.
pub async fn delete(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let client = find(&admin, &path).await?;
        managed(&client)?;
        let deleted = admin.store.delete_client(&client.id, admin.clock.now(), audit(actor, &req, "deleted")).await;
        match deleted.map_err(|e| ApiError::storage("client delete", &e))? {
            true => Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish()),
            false => Err(ApiError::NotFound),
        }
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    grace_seconds: Option<i64>,
}

/// `POST /clients/{id}/secret`, with an optional `{"grace_seconds": n}` (default a day, at most 30
/// days, 0 for none): a new secret, shown this once; the old one keeps working until the grace
/// period ends, so the client's servers can move over without downtime.
pub async fn rotate(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    admin: web::Data<Admin>,
) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let current = find(&admin, &path).await?;
        managed(&current)?;
        let r: RotateRequest = optional_json_body(&req, body).await?;
        let grace = r.grace_seconds.unwrap_or(DEFAULT_GRACE);
        if !(0..=MAX_GRACE).contains(&grace) {
            return Err(ApiError::invalid("grace_seconds", format!("from 0 to {MAX_GRACE}")));
        }
        let Some((client, secret)) = rotated(&admin, &current, grace) else {
            return Err(ApiError::Conflict {
                field: "public".into(),
                description: "a public client has no secret".into(),
            });
        };
        let saved = save(&admin, &client, current.version, audit(actor, &req, "secret_rotated")).await?;
        Ok(respond(HttpResponse::Ok(), &saved, Some(("client_secret", json!(secret)))))
    })
    .await
}

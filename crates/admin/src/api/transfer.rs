//! Moving users in and out: `GET /users/export` streams every user as JSON lines, and
//! `POST /users/import` takes the same lines (or Auth0's user export, as lines or an array),
//! idempotent by email address or phone number, with an outcome for every line.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{EmailAddress, PhoneNumber, Profile, User, UserId};
use serde_json::{Value, json};

use super::users::user_json;
use super::{ApiError, authenticate, run};
use crate::Admin;
use crate::storage::{Actor, AdminAudit, Created, NewUser, Saved, UserChange, UserQuery};
use domain::audit::AuditEntry;

/// Users read per query while exporting.
const EXPORT_PAGE: i64 = 500;
/// The largest import: its body, and its number of users.
const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;
const MAX_IMPORT_USERS: usize = 10_000;
/// Auth0's top-level profile claims, which Ostiary keeps in the profile.
const AUTH0_CLAIMS: [&str; 7] = ["name", "given_name", "family_name", "middle_name", "nickname", "picture", "locale"];

/// `GET /users/export`: `application/x-ndjson`, one user per line as `GET /users/{id}` shows it,
/// in id order, read a page at a time so any number of users streams in bounded memory. The export
/// is audited before it starts. A failure midway aborts the response (its chunked encoding is never
/// finished), so a partial export cannot pass for a whole one.
pub async fn export(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let actor = match authenticate(&req, &admin).await {
        Ok(actor) => actor,
        Err(e) => return e.respond(),
    };
    let ip = web_layer::RequestOrigin::of(&req).ip.ip();
    let entry =
        AuditEntry { what: AdminAudit::UsersExported { actor, ip }, user: None, client: None, at: admin.clock.now() };
    if let Err(e) = admin.store.record(entry).await {
        return ApiError::storage("export audit", &e).respond();
    }
    let pages = futures_util::stream::try_unfold((admin, None::<UserId>, false), |(admin, after, done)| async move {
        if done {
            return Ok(None);
        }
        let query = UserQuery { q: None, limit: EXPORT_PAGE, after };
        let users = admin.store.find_users(&query).await.map_err(|e| {
            tracing::error!(error = %e, "admin API: user export");
            std::io::Error::other("the export stopped: the database failed")
        })?;
        let last = users.last().map(|u| u.id.clone());
        let mut chunk = String::new();
        for u in &users {
            chunk.push_str(&user_json(u).to_string());
            chunk.push('\n');
        }
        let done = (users.len() as i64) < EXPORT_PAGE;
        Ok::<_, std::io::Error>(Some((web::Bytes::from(chunk), (admin, last, done))))
    });
    HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(pages)
}

/// `POST /users/import`: JSON lines (`application/x-ndjson`) or a JSON array (`application/json`),
/// each user in this API's format or Auth0's. A user whose email address (else phone number) is
/// known is updated, otherwise created; a line that changes nothing is `unchanged`. 200 with
/// `{"results": [{"line", "outcome", "id"?, "error"?, "field"?}], "created", "updated", "unchanged",
/// "failed"}`; every change is audited as the other routes' are.
pub async fn import(req: HttpRequest, body: web::Payload, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let records = read_records(&req, body).await?;
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let mut results = Vec::with_capacity(records.len());
        let mut counts = [0usize; 4];
        for (n, record) in records.into_iter().enumerate() {
            let outcome = match record {
                Ok(value) => import_one(&admin, value, actor.clone(), ip).await,
                Err(e) => Err(e),
            };
            let mut line = json!({ "line": n + 1 });
            let slot = match outcome {
                Ok((outcome, id)) => {
                    line["outcome"] = json!(outcome);
                    line["id"] = json!(id.as_str());
                    ["created", "updated", "unchanged"].iter().position(|o| *o == outcome).unwrap_or(3)
                }
                Err(ApiError::Unavailable) => return Err(ApiError::Unavailable),
                Err(e) => {
                    let (_, error, description, field) = e.parts();
                    line["outcome"] = json!("failed");
                    line["error"] = json!(error);
                    line["error_description"] = json!(description);
                    if let Some(f) = field {
                        line["field"] = json!(f);
                    }
                    3
                }
            };
            counts[slot] += 1;
            results.push(line);
        }
        let body = json!({
            "results": results, "created": counts[0], "updated": counts[1], "unchanged": counts[2], "failed": counts[3],
        });
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
    })
    .await
}

/// The records of the body: each line parsed on its own, so one bad line fails alone.
async fn read_records(req: &HttpRequest, body: web::Payload) -> Result<Vec<Result<Value, ApiError>>, ApiError> {
    let media = web_layer::plain_media_type(req);
    if !matches!(media.as_deref(), Some("application/json" | "application/x-ndjson")) {
        return Err(ApiError::NotJson);
    }
    let too_big =
        || ApiError::Malformed { field: None, description: format!("the body is over {MAX_IMPORT_BYTES} bytes") };
    let bytes = body
        .to_bytes_limited(MAX_IMPORT_BYTES)
        .await
        .map_err(|_| too_big())?
        .map_err(|_| ApiError::Malformed { field: None, description: "the body could not be read".into() })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::malformed("body", "the body is not UTF-8"))?;
    let records: Vec<Result<Value, ApiError>> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items.into_iter().map(Ok).collect(),
        _ => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| ApiError::Malformed { field: None, description: e.to_string() })
            })
            .collect(),
    };
    if records.len() > MAX_IMPORT_USERS {
        return Err(ApiError::invalid("body", format!("at most {MAX_IMPORT_USERS} users per import")));
    }
    Ok(records)
}

/// One user of an import, in either format.
struct Imported {
    email: Option<EmailAddress>,
    email_verified: Option<bool>,
    phone: Option<PhoneNumber>,
    phone_verified: Option<bool>,
    profile: Vec<(String, String)>,
    is_admin: Option<bool>,
}

fn parse(value: Value) -> Result<Imported, ApiError> {
    let Value::Object(m) = value else {
        return Err(ApiError::Malformed { field: None, description: "each user must be a JSON object".into() });
    };
    let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
    let flag = |k: &str| m.get(k).and_then(Value::as_bool);
    let email = text("email").map(|e| EmailAddress::parse(e).map_err(|e| ApiError::invalid("email", e))).transpose()?;
    let phone = text("phone_number")
        .map(|p| PhoneNumber::parse(p, None).map_err(|e| ApiError::invalid("phone_number", e)))
        .transpose()?;
    if email.is_none() && phone.is_none() {
        return Err(ApiError::invalid("email", "a user needs an email address or a phone number"));
    }
    let mut profile = Vec::new();
    // This API's format keeps the claims in `profile` (the address as an object); Auth0's at the top.
    if let Some(Value::Object(claims)) = m.get("profile") {
        for (k, v) in claims {
            match v {
                Value::String(s) => profile.push((k.clone(), s.clone())),
                Value::Object(address) if k == "address" => profile.extend(
                    address.iter().filter_map(|(ak, av)| Some((format!("address.{ak}"), av.as_str()?.to_owned()))),
                ),
                _ => {}
            }
        }
    }
    profile.extend(AUTH0_CLAIMS.iter().filter_map(|k| Some((k.to_string(), text(k)?.to_owned()))));
    Ok(Imported {
        email,
        email_verified: flag("email_verified"),
        phone,
        phone_verified: flag("phone_verified"),
        profile,
        is_admin: flag("is_admin"),
    })
}

async fn import_one(
    admin: &Admin,
    value: Value,
    actor: Actor,
    ip: std::net::IpAddr,
) -> Result<(&'static str, UserId), ApiError> {
    let user = parse(value)?;
    let mut profile = Profile::default();
    let existing = existing(admin, &user).await?;
    if let Some(current) = &existing {
        profile = current.profile.clone();
    }
    for (k, v) in &user.profile {
        profile.set(k, Some(v)).map_err(|e| ApiError::invalid(&format!("profile.{k}"), e))?;
    }
    let now = admin.clock.now();
    let Some(current) = existing else {
        let new = NewUser {
            email: user.email,
            email_verified: user.email_verified.unwrap_or(false),
            phone: user.phone,
            phone_verified: user.phone_verified.unwrap_or(false),
            profile,
            is_admin: user.is_admin.unwrap_or(false),
        };
        // The source system vouched for the flags it exported; the entry says where they came from.
        let reason = Some("imported".to_owned());
        let audit =
            Box::new(move |after: &User| AdminAudit::UserCreated { actor, ip, reason, after: user_json(after) });
        return match admin.store.create_user(new, now, audit).await.map_err(|e| ApiError::storage("import", &e))? {
            Created::Created(u) => Ok(("created", u.id)),
            Created::Taken(_) => {
                Err(ApiError::Conflict { field: "email".into(), description: "taken meanwhile".into() })
            }
        };
    };
    // A flag applies only to the address or number the account ends up with, never to another one.
    let email = current.email.clone().or(user.email.clone());
    let phone = current.phone.clone().or(user.phone.clone());
    let change = UserChange {
        profile: (profile != current.profile).then_some(profile),
        email: user.email.clone().filter(|_| current.email.is_none()).map(Some),
        email_verified: user
            .email_verified
            .filter(|v| *v != current.email_verified && user.email.is_some() && user.email == email),
        phone: user.phone.clone().filter(|_| current.phone.is_none()).map(Some),
        phone_verified: user
            .phone_verified
            .filter(|v| *v != current.phone_verified && user.phone.is_some() && user.phone == phone),
        is_admin: user.is_admin.filter(|v| *v != current.is_admin),
    };
    let unchanged = change.profile.is_none()
        && change.email.is_none()
        && change.email_verified.is_none()
        && change.phone.is_none()
        && change.phone_verified.is_none()
        && change.is_admin.is_none();
    if unchanged {
        return Ok(("unchanged", current.id));
    }
    let audit = Box::new(move |before: &User, after: &User| AdminAudit::UserUpdated {
        actor,
        ip,
        reason: Some("imported".to_owned()),
        before: user_json(before),
        after: user_json(after),
    });
    match admin.store.change_user(&current.id, current.version, change, now, audit).await {
        Ok(Saved::Saved { after, .. }) => Ok(("updated", after.id)),
        Ok(Saved::Taken(_)) => {
            Err(ApiError::Conflict { field: "phone_number".into(), description: "another account holds it".into() })
        }
        Ok(Saved::Stale(_) | Saved::NotFound | Saved::NoContact) => Err(ApiError::Conflict {
            field: "email".into(),
            description: "the account changed during the import".into(),
        }),
        Err(e) => Err(ApiError::storage("import", &e)),
    }
}

/// The account the user's email address names, else the one its phone number names; two
/// different accounts for the two is a conflict.
async fn existing(admin: &Admin, user: &Imported) -> Result<Option<User>, ApiError> {
    let store = |e| ApiError::storage("import lookup", &e);
    let by_email = match &user.email {
        Some(e) => admin.store.user_by_email(e).await.map_err(store)?,
        None => None,
    };
    let by_phone = match &user.phone {
        Some(p) => admin.store.user_by_phone(p).await.map_err(store)?,
        None => None,
    };
    match (by_email, by_phone) {
        (Some(a), Some(b)) if a.id != b.id => Err(ApiError::Conflict {
            field: "phone_number".into(),
            description: "the email address and the phone number belong to two different accounts".into(),
        }),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

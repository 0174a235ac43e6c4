//! `/api/admin/v1/users`: find, read, create and change accounts.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::{EmailAddress, PhoneNumber, Profile, User, UserId};
use serde_json::{Value, json};

use super::{ApiError, authenticate, check_if_match, etag, json_body, run};
use crate::storage::{AdminAudit, Contact, Created, NewUser, Saved, UserChange, UserQuery};
use crate::{Admin, paths};

/// The default and the largest page of the user list.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

/// A user as the API shows it.
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id.as_str(),
        "email": u.email.as_ref().map(EmailAddress::as_str),
        "email_verified": u.email_verified,
        "phone_number": u.phone.as_ref().map(PhoneNumber::as_str),
        "phone_verified": u.phone_verified,
        "is_admin": u.is_admin,
        "blocked": u.is_blocked(),
        "blocked_at": u.blocked_at,
        "linked_to": u.linked_to.as_ref().map(domain::UserId::as_str),
        "profile": u.profile,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
        "version": u.version,
    })
}

/// One user, with its `ETag`.
pub(super) fn user_response(mut res: actix_web::HttpResponseBuilder, u: &User) -> HttpResponse {
    res.insert_header((header::ETAG, etag(u.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(user_json(u))
}

/// `GET /users?q=&limit=&cursor=`: a page of users in id order, and the cursor of the next page
/// (`null` on the last one).
pub async fn list(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let query = list_query(req.query_string())?;
        let limit = query.limit;
        let mut users = admin
            .store
            .find_users(&UserQuery { limit: limit + 1, ..query })
            .await
            .map_err(|e| ApiError::storage("user list", &e))?;
        let next = (users.len() as i64 > limit).then(|| {
            users.truncate(limit as usize);
            users.last().map(|u| u.id.to_string())
        });
        let body = json!({ "users": users.iter().map(user_json).collect::<Vec<_>>(), "next_cursor": next.flatten() });
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
    })
    .await
}

fn list_query(raw: &str) -> Result<UserQuery, ApiError> {
    let params = web::Query::<HashMap<String, String>>::from_query(raw)
        .map_err(|_| ApiError::Malformed { field: None, description: "the query string is malformed".into() })?;
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| ApiError::invalid("limit", format!("limit must be a number from 1 to {MAX_LIMIT}")))?,
    };
    let after = match params.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(UserId::parse(c).ok_or_else(|| ApiError::malformed("cursor", "not a cursor this API gave"))?),
    };
    let q = params.get("q").map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.len() > 320 || q.chars().any(char::is_control)) {
        return Err(ApiError::invalid("q", "q is at most 320 characters, without control characters"));
    }
    Ok(UserQuery { q, limit, after })
}

/// `GET /users/{id}`.
pub async fn get(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        Ok(user_response(HttpResponse::Ok(), &user))
    })
    .await
}

pub(super) async fn find(admin: &Admin, id: &str) -> Result<User, ApiError> {
    let id = UserId::parse(id).ok_or(ApiError::NotFound)?;
    admin.store.user(&id).await.map_err(|e| ApiError::storage("user lookup", &e))?.ok_or(ApiError::NotFound)
}

/// `POST /users`: 201 with the account, its `Location` and its `ETag`.
pub async fn create(req: HttpRequest, body: web::Payload, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let fields = Fields::read(json_body(&req, body).await?)?;
        let mut profile = Profile::default();
        fields.apply_profile(&mut profile)?;
        let new = NewUser {
            email: fields.email.flatten(),
            email_verified: fields.email_verified.unwrap_or(false),
            phone: fields.phone.flatten(),
            phone_verified: fields.phone_verified.unwrap_or(false),
            profile,
            is_admin: fields.is_admin.unwrap_or(false),
        };
        if new.email.is_none() && new.phone.is_none() {
            return Err(ApiError::invalid("email", "an account needs an email address or a phone number"));
        }
        // An admin who vouches for an address or number says why (it is recorded).
        if (new.email_verified || new.phone_verified) && fields.reason.is_none() {
            return Err(ApiError::invalid("reason", "say why you vouch for the address or number"));
        }
        let (ip, reason) = (web_layer::RequestOrigin::of(&req).ip.ip(), fields.reason.clone());
        let audit =
            Box::new(move |after: &User| AdminAudit::UserCreated { actor, ip, reason, after: user_json(after) });
        match admin.store.create_user(new, admin.clock.now(), audit).await {
            Ok(Created::Created(user)) => {
                let mut res = HttpResponse::Created();
                res.insert_header((header::LOCATION, paths::user(&user.id)));
                Ok(user_response(res, &user))
            }
            Ok(Created::Taken(field)) => Err(taken(field)),
            Err(e) => Err(ApiError::storage("user create", &e)),
        }
    })
    .await
}

/// `PATCH /users/{id}` with `If-Match`: changes the members the body names (RFC 7396-style: a
/// member set to `null` is removed).
pub async fn patch(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    admin: web::Data<Admin>,
) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let current = find(&admin, &path).await?;
        check_if_match(&req, current.version).map_err(|e| e.with_current(user_json(&current)))?;
        let fields = Fields::read(json_body(&req, body).await?)?;
        let mut change = UserChange {
            email: fields.email.clone(),
            email_verified: fields.email_verified,
            phone: fields.phone.clone(),
            phone_verified: fields.phone_verified,
            is_admin: fields.is_admin,
            profile: None,
        };
        if !fields.profile.is_empty() {
            let mut profile = current.profile.clone();
            fields.apply_profile(&mut profile)?;
            change.profile = Some(profile);
        }
        // An admin who marks a new address or number verified says why (it is recorded).
        let vouches = vouched(&change.email, change.email_verified, &current.email, current.email_verified)
            || vouched(&change.phone, change.phone_verified, &current.phone, current.phone_verified);
        if vouches && fields.reason.is_none() {
            return Err(ApiError::invalid("reason", "say why you vouch for the new address or number"));
        }
        let (ip, reason) = (web_layer::RequestOrigin::of(&req).ip.ip(), fields.reason.clone());
        let audit = Box::new(move |before: &User, after: &User| AdminAudit::UserUpdated {
            actor,
            ip,
            reason,
            before: user_json(before),
            after: user_json(after),
        });
        let saved = admin.store.change_user(&current.id, current.version, change, admin.clock.now(), audit).await;
        match saved.map_err(|e| ApiError::storage("user change", &e))? {
            Saved::Saved { before, after } => {
                notify_contact_changes(&admin, &before, &after).await;
                Ok(user_response(HttpResponse::Ok(), &after))
            }
            Saved::Stale(now) => Err(ApiError::PreconditionFailed(Some(Box::new(user_json(&now))))),
            Saved::NotFound => Err(ApiError::NotFound),
            Saved::Taken(field) => Err(taken(field)),
            Saved::NoContact => Err(ApiError::invalid("email", "an account needs an email address or a phone number")),
        }
    })
    .await
}

/// Whether a change marks an address or number verified on the admin's word: a new one, or the
/// current one while it is unverified.
pub(crate) fn vouched<T: PartialEq>(
    new: &Option<Option<T>>,
    verified: Option<bool>,
    old: &Option<T>,
    old_verified: bool,
) -> bool {
    let kept = match new {
        None => old.is_some(),
        Some(None) => false,
        Some(Some(n)) => Some(n) == old.as_ref(),
    };
    let replaced = matches!(new, Some(Some(_))) && !kept;
    verified == Some(true) && (replaced || (kept && !old_verified))
}

/// Tells the owner at every address or number the change replaced or removed. The change is made
/// by then; a notice that cannot be queued is logged, not undone.
pub(crate) async fn notify_contact_changes(admin: &Admin, before: &User, after: &User) {
    use domain::Destination;
    let emails = (before.email.clone().map(Destination::Email), after.email.clone().map(Destination::Email));
    let phones = (before.phone.clone().map(Destination::Phone), after.phone.clone().map(Destination::Phone));
    for (old, new) in [emails, phones] {
        if let Some(old) = old.filter(|o| new.as_ref() != Some(o)) {
            let zone = after.profile.zoneinfo.clone();
            let notice = domain::ports::ContactChanged { old, new, at: admin.clock.now(), undo_url: None, zone };
            let _ = admin.notices.contact_changed(notice).await;
        }
    }
}

fn taken(field: Contact) -> ApiError {
    let (field, what) = match field {
        Contact::Email => ("email", "email address"),
        Contact::PhoneNumber => ("phone_number", "phone number"),
    };
    ApiError::Conflict { field: field.into(), description: format!("another account already uses this {what}") }
}

/// The members of a user body, checked one by one so a refusal names its field.
#[derive(Default)]
struct Fields {
    email: Option<Option<EmailAddress>>,
    email_verified: Option<bool>,
    phone: Option<Option<PhoneNumber>>,
    phone_verified: Option<bool>,
    is_admin: Option<bool>,
    /// Profile claims to set (`Some`) or remove (`None`).
    profile: Vec<(String, Option<String>)>,
    /// Why the admin vouches for a new address or number.
    reason: Option<String>,
}

impl Fields {
    fn read(body: Value) -> Result<Self, ApiError> {
        let Value::Object(members) = body else {
            return Err(ApiError::Malformed { field: None, description: "the body must be a JSON object".into() });
        };
        let mut f = Fields::default();
        for (name, value) in members {
            match name.as_str() {
                "email" => {
                    f.email = Some(
                        nullable_text(&name, &value)?
                            .map(|t| EmailAddress::parse(t).map_err(|e| ApiError::invalid(&name, e)))
                            .transpose()?,
                    )
                }
                "phone_number" => {
                    f.phone = Some(
                        nullable_text(&name, &value)?
                            .map(|t| PhoneNumber::parse(t, None).map_err(|e| ApiError::invalid(&name, e)))
                            .transpose()?,
                    )
                }
                "email_verified" => f.email_verified = Some(boolean(&name, &value)?),
                "phone_verified" => f.phone_verified = Some(boolean(&name, &value)?),
                "is_admin" => f.is_admin = Some(boolean(&name, &value)?),
                "profile" => f.profile = profile_edits(&value)?,
                "reason" => f.reason = super::reason(nullable_text(&name, &value)?)?,
                // Read-only members may be sent back as they were read.
                "id" | "created_at" | "updated_at" | "version" | "blocked" | "blocked_at" | "linked_to" => {}
                _ => return Err(ApiError::malformed(&name, format!("{name} is not a member of a user"))),
            }
        }
        Ok(f)
    }

    fn apply_profile(&self, profile: &mut Profile) -> Result<(), ApiError> {
        for (key, value) in &self.profile {
            profile.set(key, value.as_deref()).map_err(|e| ApiError::invalid(&format!("profile.{key}"), e))?;
        }
        Ok(())
    }
}

fn nullable_text<'v>(name: &str, value: &'v Value) -> Result<Option<&'v str>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(ApiError::malformed(name, format!("{name} must be a string or null"))),
    }
}

fn boolean(name: &str, value: &Value) -> Result<bool, ApiError> {
    value.as_bool().ok_or_else(|| ApiError::malformed(name, format!("{name} must be true or false")))
}

/// `profile`: an object of claims (OIDC Core §5.1, `address.*` for the address), each a string to
/// set or `null` to remove.
fn profile_edits(value: &Value) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let Value::Object(claims) = value else {
        return Err(ApiError::malformed("profile", "profile must be an object"));
    };
    let mut flat = Vec::new();
    for (k, v) in claims {
        match v {
            // The address as `GET` shows it: an object of its members.
            Value::Object(members) if k == "address" => {
                flat.extend(members.iter().map(|(m, v)| (format!("address.{m}"), v)));
            }
            _ => flat.push((k.clone(), v)),
        }
    }
    flat.into_iter()
        .map(|(k, v)| Ok((k.clone(), nullable_text(&format!("profile.{k}"), v)?.map(str::to_owned))))
        .collect::<Result<_, ApiError>>()
        .map(|mut edits: Vec<_>| {
            edits.sort();
            edits
        })
}

//! `POST /users/{id}/block` and `/unblock`: an admin stops an account at once, or lets it back in.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::User;
use serde::Deserialize;

use super::users::{find, user_response};
use super::{ApiError, authenticate, json_body, optional_json_body, run};
use crate::Admin;
use crate::storage::{AdminAudit, Blocked, Linked};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BlockRequest {
    reason: Option<String>,
}

/// `POST /users/{id}/block`, with an optional `{"reason": "…"}`: ends every session of the account
/// and revokes every grant (refresh tokens then get `invalid_grant`), and refuses its sign-ins from
/// now on. 200 with the user.
pub async fn block(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    admin: web::Data<Admin>,
) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let request: BlockRequest = optional_json_body(&req, body).await?;
        let reason = super::reason(request.reason.as_deref())?;
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audit = Box::new(move |b: &Blocked| AdminAudit::UserBlocked {
            actor,
            ip,
            reason,
            sessions_ended: b.sessions_ended,
            grants_revoked: b.grants_revoked,
        });
        let blocked = admin.store.set_blocked(&user.id, true, admin.clock.now(), audit).await;
        answer(blocked.map_err(|e| ApiError::storage("user block", &e))?)
    })
    .await
}

/// `POST /users/{id}/unblock`: the account may sign in again (its ended sessions stay ended).
pub async fn unblock(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let was_blocked = user.is_blocked();
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audit = Box::new(move |_: &Blocked| AdminAudit::UserUnblocked { actor, ip, unblocked: was_blocked });
        let unblocked = admin.store.set_blocked(&user.id, false, admin.clock.now(), audit).await;
        answer(unblocked.map_err(|e| ApiError::storage("user unblock", &e))?)
    })
    .await
}

/// `DELETE /users/{id}`: erases the account; 204. Its `sub` is never reused: a later sign-in with
/// the same address makes a new account.
pub async fn erase(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let erased = admin.store.erase_user(&user.id, admin.clock.now(), AdminAudit::UserErased { actor, ip }).await;
        match erased.map_err(|e| ApiError::storage("user erase", &e))? {
            true => Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish()),
            false => Err(ApiError::NotFound),
        }
    })
    .await
}

/// `POST /users/{id}/factors/reset`: removes the account's authenticator and recovery codes (a
/// lost phone); the next sign-in that needs a second factor sets one up. 204, or 404 when the user
/// does not exist; 204 too when there was nothing to remove.
pub async fn reset_factors(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let reset =
            admin.store.reset_factors(&user.id, admin.clock.now(), AdminAudit::FactorsReset { actor, ip }).await;
        reset.map_err(|e| ApiError::storage("factor reset", &e))?;
        Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish())
    })
    .await
}

fn answer(outcome: Option<Blocked>) -> Result<HttpResponse, ApiError> {
    let user: Box<User> = outcome.ok_or(ApiError::NotFound)?.user;
    Ok(user_response(HttpResponse::Ok(), &user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    user_id: String,
}

/// `GET /users/{id}/links`: `{"links": [User, …]}`, the accounts linked to this one.
pub async fn links(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let linked = admin.store.linked_to(&user.id).await.map_err(|e| ApiError::storage("links", &e))?;
        let body = serde_json::json!({ "links": linked.iter().map(super::users::user_json).collect::<Vec<_>>() });
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
    })
    .await
}

/// `POST /users/{id}/links` with `{"user_id": other}`: links the other account to this one, so
/// signing in with either one's address or number gives this one's `sub`. The other account's
/// sessions end and its grants are revoked. 200 with `{"links": [...]}`.
pub async fn link(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let answer = run(async {
        let actor = authenticate(&req, &admin).await?;
        let primary = find(&admin, &path).await?;
        let request: LinkRequest = json_body(&req, body).await?;
        let secondary =
            domain::UserId::parse(&request.user_id).ok_or_else(|| ApiError::invalid("user_id", "not a user id"))?;
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audit = AdminAudit::AccountsLinked {
            actor,
            ip,
            primary: primary.id.clone(),
            secondary: secondary.clone(),
            linked: true,
        };
        let linked = admin.store.link_users(&primary.id, &secondary, admin.clock.now(), audit).await;
        let refused = |why: &str| ApiError::Conflict { field: "user_id".into(), description: why.into() };
        match linked.map_err(|e| ApiError::storage("link", &e))? {
            Linked::Linked => Ok(HttpResponse::NoContent().finish()),
            Linked::NotFound => Err(ApiError::invalid("user_id", "no such user")),
            Linked::Same => Err(refused("an account cannot be linked to itself")),
            Linked::Chained => Err(refused("links are one level deep: unlink the accounts involved first")),
        }
    })
    .await;
    if answer.status().is_success() { links(req, path, admin).await } else { answer }
}

/// `DELETE /users/{id}/links/{other}`: the other account is its own again; 204, or 404 when it
/// was not linked to this one.
pub async fn unlink(req: HttpRequest, path: web::Path<(String, String)>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let (primary, secondary) = path.into_inner();
        let primary = find(&admin, &primary).await?;
        let secondary = domain::UserId::parse(&secondary).ok_or(ApiError::NotFound)?;
        let ip = web_layer::RequestOrigin::of(&req).ip.ip();
        let audit = AdminAudit::AccountsLinked {
            actor,
            ip,
            primary: primary.id.clone(),
            secondary: secondary.clone(),
            linked: false,
        };
        match admin.store.unlink_users(&primary.id, &secondary, admin.clock.now(), audit).await {
            Ok(true) => Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish()),
            Ok(false) => Err(ApiError::NotFound),
            Err(e) => Err(ApiError::storage("unlink", &e)),
        }
    })
    .await
}

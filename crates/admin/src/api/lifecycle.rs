//! `POST /users/{id}/block` and `/unblock`: an admin stops an account at once, or lets it back in.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::User;
use serde::Deserialize;

use super::users::{find, user_response};
use super::{ApiError, authenticate, json_body, run};
use crate::Admin;
use crate::storage::{AdminAudit, Blocked};

/// The longest reason kept with a block.
const MAX_REASON: usize = 500;

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
        let has_body = req.headers().get(actix_web::http::header::CONTENT_LENGTH).is_some_and(|v| v != "0")
            || req.headers().contains_key(actix_web::http::header::TRANSFER_ENCODING);
        let request: BlockRequest = if has_body { json_body(&req, body).await? } else { BlockRequest::default() };
        let reason = request.reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON || r.chars().any(char::is_control)) {
            return Err(ApiError::invalid("reason", format!("at most {MAX_REASON} characters on one line")));
        }
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

fn answer(outcome: Option<Blocked>) -> Result<HttpResponse, ApiError> {
    let user: Box<User> = outcome.ok_or(ApiError::NotFound)?.user;
    Ok(user_response(HttpResponse::Ok(), &user))
}

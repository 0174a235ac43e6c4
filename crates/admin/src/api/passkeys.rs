//! A user's passkeys: `GET /users/{id}/passkeys` and `DELETE /users/{id}/passkeys/{passkey}` (a
//! lost device). A removal is audited with the API client as the actor, and the owner is emailed.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::spec::Operation;
use super::users::find;
use super::{ApiError, authenticate, run};
use crate::storage::Actor;
use crate::{Admin, paths};

/// Removes one of `user`'s passkeys, audited (`by`: the admin or API client; none for the owner),
/// and tells the owner by email in `lang` (a failure to queue it is logged: the removal stands).
/// False when the account has no such passkey, or passkeys are off.
pub(crate) async fn remove_and_tell(
    admin: &Admin,
    user: &domain::User,
    passkey: &str,
    by: Option<String>,
    client: Option<domain::ClientId>,
    lang: String,
    product: Option<String>,
) -> Result<bool, domain::StorageError> {
    let Some(passkeys) = &admin.passkeys else { return Ok(false) };
    let Some(removed) = passkeys.remove(&user.id, passkey, by, client).await? else { return Ok(false) };
    if let Some(to) = user.email.clone() {
        let zone = user.profile.zoneinfo.clone();
        let notice = domain::ports::PasskeyChanged { to, name: removed.name, added: false, lang, product, zone };
        if let Err(e) = admin.notices.passkey_changed(notice).await {
            tracing::error!(error = %e, "the removed passkey's notice");
        }
    }
    Ok(true)
}

/// The routes, for the one table of the API (`spec.rs`).
pub(super) fn operations() -> Vec<Operation> {
    vec![
        Operation {
            method: "get",
            path: paths::USER_PASSKEYS,
            summary: "A user's passkeys, oldest first: name, times, synced or device-bound, transports, AAGUID",
            body: None,
            answers: &[(200, "The passkeys", Some("PasskeyList")), (404, "No such user", Some("Error"))],
            route: web::get().to(list),
        },
        Operation {
            method: "delete",
            path: paths::USER_PASSKEY,
            summary: "Remove one of a user's passkeys: it no longer signs in (the owner is emailed)",
            body: None,
            answers: &[(204, "Removed", None), (404, "No such user, or no such passkey of theirs", Some("Error"))],
            route: web::delete().to(remove),
        },
    ]
}

/// `GET /users/{id}/passkeys`: `{"passkeys": [...]}`; empty when passkeys are off.
pub async fn list(req: HttpRequest, path: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        authenticate(&req, &admin).await?;
        let user = find(&admin, &path).await?;
        let list = match &admin.passkeys {
            Some(passkeys) => passkeys.list(&user.id).await.map_err(|e| ApiError::storage("passkey list", &e))?,
            None => Vec::new(),
        };
        let list: Vec<_> = list
            .iter()
            .map(|p| {
                json!({
                    "id": p.id, "name": p.name, "created_at": p.created_at, "last_used_at": p.last_used_at,
                    "synced": p.synced(), "backed_up": p.backed_up, "transports": p.transports, "aaguid": p.aaguid,
                })
            })
            .collect();
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(json!({ "passkeys": list })))
    })
    .await
}

/// `DELETE /users/{id}/passkeys/{passkey}`: 204, or 404.
pub async fn remove(req: HttpRequest, path: web::Path<(String, String)>, admin: web::Data<Admin>) -> HttpResponse {
    run(async {
        let actor = authenticate(&req, &admin).await?;
        let (id, passkey) = path.into_inner();
        let user = find(&admin, &id).await?;
        let by = match actor {
            Actor::Client { client_id } => Some(client_id.to_string()),
            Actor::Admin { user_id } => Some(user_id.to_string()),
            Actor::Owner => None,
        };
        let lang = user.profile.locale.clone().unwrap_or_default();
        let removed = remove_and_tell(&admin, &user, &passkey, by, None, lang, None).await;
        if !removed.map_err(|e| ApiError::storage("passkey removal", &e))? {
            return Err(ApiError::NotFound);
        }
        Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish())
    })
    .await
}

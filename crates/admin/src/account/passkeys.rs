//! Passkeys on the account page: the list (name, when made and last used, synced or on this
//! device only), adding one, renaming one, removing one. Adding and removing need a login younger
//! than [`super::FRESH`]; each is audited (`passkey.added`, `passkey.removed`) and emailed to the
//! owner. The ceremony is the passkeys crate's, bound to the account and the browser.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::StorageError;
use domain::ports::PasskeyChanged;
use passkeys::{Asker, Ceremony, PasskeyError};
use serde::Deserialize;
use serde_json::{Value, json};
use web_layer::BrowserBinding;

use super::Visit;
use super::home::{overview, when};
use crate::{Admin, paths};

/// The owner's passkeys as the overview lists them.
pub(super) async fn listed(visit: &Visit<'_>) -> Result<Vec<Value>, StorageError> {
    let Some(passkeys) = &visit.admin.passkeys else { return Ok(Vec::new()) };
    let lang = visit.lang();
    let t = |key: &str| visit.admin.catalog.text(&lang, key).to_owned();
    let (synced, device) = (t("account_passkey_synced"), t("account_passkey_device"));
    Ok(passkeys
        .list(&visit.user.id)
        .await?
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "created": when(p.created_at),
                "last_used": p.last_used_at.map(when),
                "kind": if p.synced() { &synced } else { &device },
                "rename": visit.link(&paths::account_passkey_rename(&p.id)),
                "remove": visit.link(&paths::account_passkey_remove(&p.id)),
            })
        })
        .collect())
}

fn asker<'a>(visit: &Visit<'_>, browser: &'a BrowserBinding) -> Asker<'a> {
    Asker { browser: &browser.0, ip: Some(visit.ip().to_string()), client: visit.from.as_ref().map(|c| c.id.clone()) }
}

/// Tells the owner by email (a failure is logged: the change stands).
async fn tell(visit: &Visit<'_>, name: String, added: bool) {
    let Some(to) = visit.user.email.clone() else { return };
    let product = Some(visit.product().to_owned());
    let zone = visit.user.profile.zoneinfo.clone();
    let notice = PasskeyChanged { to, name, added, lang: visit.lang(), product, zone };
    if let Err(e) = visit.admin.notices.passkey_changed(notice).await {
        tracing::error!(error = %e, "the passkey notice");
    }
}

/// `GET /account/passkeys`: a login recent enough to add a passkey (signing in again when it is
/// not), then back to the overview, where the button works.
pub async fn prepare(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    match Visit::fresh(&req, &admin, paths::ACCOUNT_PASSKEYS).await {
        Ok(visit) => web_layer::see_other(&visit.link(paths::ACCOUNT)),
        Err(answer) => answer,
    }
}

/// `POST /account/passkeys/options`: the options of a new passkey (JSON, for the page's script).
pub async fn options(req: HttpRequest, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::fresh(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let (Some(passkeys), Some(browser)) = (&admin.passkeys, BrowserBinding::of(&req)) else {
        return HttpResponse::NotFound().finish();
    };
    let ceremony = Ceremony::AccountEnroll(visit.user.id.as_str());
    match passkeys.enroll_options(ceremony, &asker(&visit, &browser), &visit.user).await {
        Ok(options) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(options),
        Err(e) => visit.unavailable("passkey options", &e),
    }
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    credential: String,
}

/// `POST /account/passkeys`: the browser's new passkey, named after the device it was made on.
pub async fn add(req: HttpRequest, form: web::Form<AddForm>, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::fresh(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let (Some(passkeys), Some(browser)) = (&admin.passkeys, BrowserBinding::of(&req)) else {
        return overview(&visit, Some(("error", "account_passkey_failed")), StatusCode::NOT_FOUND).await;
    };
    let ceremony = Ceremony::AccountEnroll(visit.user.id.as_str());
    let name = web_layer::RequestOrigin::of(&req).device.unwrap_or_else(|| "Passkey".into());
    match passkeys.enroll(ceremony, &asker(&visit, &browser), &visit.user, &form.credential, &name).await {
        Ok(added) => {
            tell(&visit, added.name, true).await;
            overview(&visit, Some(("saved", "account_passkey_added")), StatusCode::OK).await
        }
        Err(PasskeyError::Refused(_)) => {
            overview(&visit, Some(("error", "account_passkey_failed")), StatusCode::BAD_REQUEST).await
        }
        Err(e) => visit.unavailable("passkey", &e),
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    name: String,
}

/// `POST /account/passkeys/{id}/rename`.
pub async fn rename(
    req: HttpRequest,
    id: web::Path<String>,
    form: web::Form<RenameForm>,
    admin: web::Data<Admin>,
) -> HttpResponse {
    let visit = match Visit::of(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let Some(passkeys) = &admin.passkeys else { return HttpResponse::NotFound().finish() };
    match passkeys.rename(&visit.user.id, &id, &form.name).await {
        Ok(true) => overview(&visit, Some(("saved", "account_passkey_renamed")), StatusCode::OK).await,
        Ok(false) => overview(&visit, Some(("error", "account_passkey_gone")), StatusCode::NOT_FOUND).await,
        Err(e) => visit.unavailable("passkey rename", &e),
    }
}

/// `POST /account/passkeys/{id}/remove`: the passkey no longer signs in; audited and emailed.
pub async fn remove(req: HttpRequest, id: web::Path<String>, admin: web::Data<Admin>) -> HttpResponse {
    let visit = match Visit::fresh(&req, &admin, paths::ACCOUNT).await {
        Ok(visit) => visit,
        Err(answer) => return answer,
    };
    let (client, lang, product) = (visit.from.as_ref().map(|c| c.id.clone()), visit.lang(), visit.product().to_owned());
    match crate::api::passkeys::remove_and_tell(&admin, &visit.user, &id, None, client, lang, Some(product)).await {
        Ok(true) => overview(&visit, Some(("saved", "account_passkey_removed")), StatusCode::OK).await,
        Ok(false) => overview(&visit, Some(("error", "account_passkey_gone")), StatusCode::NOT_FOUND).await,
        Err(e) => visit.unavailable("passkey removal", &e),
    }
}

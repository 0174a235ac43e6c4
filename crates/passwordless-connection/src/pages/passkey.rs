//! Signing in with a passkey on the login page: no address, no code. The page's script asks for
//! options (`POST /login/{interaction}/passkey/options`, answered in JSON), the browser lets the
//! user pick a passkey (from the email field's autofill, or after the `passkey-sign-in` button),
//! and the answer is posted as a form (`POST /login/{interaction}/passkey`). A passkey with user
//! verification is multi-factor on its own; step-up still weighs the sign-in and resumes it.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Interaction;
use passkeys::{Asker, Ceremony, PasskeyError, Passkeys};
use serde::Deserialize;
use web_layer::{BrowserBinding, RequestOrigin};

use super::{Live, PageError, answer, resume};
use crate::PasswordlessConnection;

/// The passkeys, when this deployment offers them (an issuer with a host name).
fn offered(conn: &PasswordlessConnection) -> Option<&Passkeys> {
    conn.passkeys.as_deref()
}

/// The browser and the place, as the ceremony binds and audits them.
fn asker<'a>(req: &HttpRequest, browser: &'a BrowserBinding, interaction: &Interaction) -> Asker<'a> {
    Asker {
        browser: &browser.0,
        ip: Some(RequestOrigin::of(req).ip.to_string()),
        client: Some(interaction.client_id.clone()),
    }
}

/// `POST /login/{interaction}/passkey/options`: the options of a usernameless sign-in, kept for
/// this sign-in in this browser.
pub async fn passkey_options(
    req: HttpRequest,
    Live(interaction): Live,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let (Some(passkeys), Some(browser)) = (offered(&conn), BrowserBinding::of(&req)) else {
        return HttpResponse::NotFound().finish();
    };
    match passkeys.sign_in_options(Ceremony::SignIn(&interaction.id), &asker(&req, &browser, &interaction)).await {
        Ok(options) => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(options),
        Err(e) => {
            tracing::error!(error = %e, "passkey sign-in options");
            let status = match &e {
                PasskeyError::Storage(e) => web_layer::failure_status(e),
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            HttpResponse::build(status).insert_header((header::CACHE_CONTROL, "no-store")).finish()
        }
    }
}

#[derive(Deserialize)]
pub struct PasskeyForm {
    /// The `PublicKeyCredential`, as JSON (WebAuthn §5.1, `toJSON()`).
    #[serde(default)]
    credential: String,
}

/// `POST /login/{interaction}/passkey`: checks the answer; the passkey's owner signs in, and
/// step-up goes on from there. A refused answer shows the login page again, with nothing said
/// about whose passkey it was.
pub async fn passkey_submit(
    req: HttpRequest,
    Live(interaction): Live,
    form: web::Form<PasskeyForm>,
    conn: web::Data<PasswordlessConnection>,
) -> HttpResponse {
    let result = sign_in(&conn, &req, &interaction, &form.credential).await;
    answer(&conn, &req, Some(&interaction), result)
}

async fn sign_in(
    conn: &PasswordlessConnection,
    req: &HttpRequest,
    interaction: &Interaction,
    credential: &str,
) -> Result<HttpResponse, PageError> {
    let (Some(passkeys), Some(browser)) = (offered(conn), BrowserBinding::of(req)) else {
        return Err(PageError::Expired);
    };
    // A blocked IP (an admin's block, or too many wrong codes across accounts) signs in to no
    // account; a passkey names its account only once it is checked, so the block for all counts.
    let ip = crate::challenge::Origin::of(req).ip.limit_key();
    match conn.store.is_blocked(&ip, "", conn.clock.now()).await {
        Ok(false) => {}
        Ok(true) => return Err(PageError::Refused(crate::abuse::Refusal::Blocked)),
        Err(e) => return Err(PageError::Unavailable("IP block check", e)),
    }
    let proof =
        match passkeys.sign_in(Ceremony::SignIn(&interaction.id), &asker(req, &browser, interaction), credential).await
        {
            Ok(proof) => proof,
            Err(PasskeyError::Refused(refusal)) => {
                metrics::counter!("ostiary_sign_ins_total", "channel" => "passkey", "result" => "refused").increment(1);
                tracing::info!(?refusal, "a passkey sign-in was refused");
                return Ok(super::login::passkey_refused(conn, req, interaction));
            }
            Err(PasskeyError::Storage(e)) => return Err(PageError::Unavailable("passkey sign-in", e)),
            Err(e @ PasskeyError::Broken(_)) => {
                return Err(PageError::Unavailable("passkey sign-in", domain::StorageError::Corrupt(e.to_string())));
            }
        };
    let now = conn.clock.now();
    match conn.store.record_first_factor(&interaction.id, &proof.login(now), now).await {
        Ok(true) => {
            metrics::counter!("ostiary_sign_ins_total", "channel" => "passkey", "result" => "success").increment(1);
            Ok(resume(interaction))
        }
        Ok(false) => Err(PageError::Expired),
        Err(e) => Err(PageError::Unavailable("first factor record", e)),
    }
}

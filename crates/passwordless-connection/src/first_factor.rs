//! The login a spent challenge stands for: the account it proves (found, or made when sign-ups
//! are open and the operator's `before_user_created` hook allows it), handed to step-up as the
//! first factor.

use domain::{Acr, Amr, AuthTime, Interaction, LoginResult};

use crate::PasswordlessConnection;
use crate::challenge::{Destination, Origin, VerifyError};
use crate::storage::{Challenge, SignIn};

/// Who asks to sign in: the client, and where from (the `before_user_created` hook is told).
pub(crate) struct Asking<'a> {
    pub client_id: &'a domain::ClientId,
    /// The client's choice of hooks.
    pub client_hooks: &'a domain::ClientHooks,
    pub client_name: Option<&'a str>,
    pub origin: &'a Origin,
}

/// The login a spent challenge stands for: the user (found, or created when sign-ups are open and
/// the operator's `before_user_created` hook, if any, allows it) and how they authenticated. `amr`
/// is `otp` for an emailed code or link (a single-use secret delivered to the mailbox) and `sms`
/// for a texted code (RFC 8176 §2).
pub(crate) async fn login_result(
    conn: &PasswordlessConnection,
    challenge: &Challenge,
    asking: &Asking<'_>,
) -> Result<LoginResult, VerifyError> {
    let now = conn.clock.now();
    let amr = match &challenge.destination {
        Destination::Email(_) => Amr::Otp,
        Destination::Phone(_) => {
            crate::abuse::record_sms_verified(conn).await;
            Amr::Sms
        }
    };
    // With the hook, an unknown address is looked up first and created only once it allows it.
    let hook = conn.hooks.for_client(hooks::Step::BeforeUserCreated, asking.client_hooks);
    let hooked = conn.config.signups_enabled && !matches!(hook, Ok(None));
    let mut found = sign_in(conn, &challenge.destination, conn.config.signups_enabled && !hooked, now).await?;
    if hooked && matches!(found, SignIn::NoAccount) {
        check_new_account(conn, &challenge.destination, asking).await?;
        found = sign_in(conn, &challenge.destination, true, now).await?;
    }
    let user = match found {
        SignIn::Existing(u) | SignIn::Created(u) => u,
        SignIn::NoAccount => return Err(VerifyError::Expired),
    };
    // Said only after the code or link proved the address: nobody learns of a block otherwise.
    if user.is_blocked() {
        return Err(VerifyError::AccountBlocked);
    }
    Ok(LoginResult { user_id: user.id, amr: vec![amr], acr: Acr::SingleFactor, auth_time: AuthTime(now) })
}

async fn sign_in(
    conn: &PasswordlessConnection,
    destination: &Destination,
    create: bool,
    now: i64,
) -> Result<SignIn, VerifyError> {
    Ok(match destination.clone() {
        Destination::Email(email) => conn.store.sign_in_by_email(&email, create, now).await?,
        Destination::Phone(phone) => conn.store.sign_in_by_phone(&phone, create, now).await?,
    })
}

/// The `before_user_created` hook, asked before an unknown address or number becomes an account:
/// a denial refuses the sign-up with the hook's message; a failure under `fail_closed` pauses it.
async fn check_new_account(
    conn: &PasswordlessConnection,
    destination: &Destination,
    asking: &Asking<'_>,
) -> Result<(), VerifyError> {
    let hook = match conn.hooks.for_client(hooks::Step::BeforeUserCreated, asking.client_hooks) {
        Ok(Some(hook)) => hook,
        Ok(None) => return Ok(()),
        Err(_) => return Err(VerifyError::Unavailable),
    };
    let destination = match destination {
        Destination::Email(e) => serde_json::json!({ "email": e.as_str() }),
        Destination::Phone(p) => serde_json::json!({ "phone_number": p.as_str() }),
    };
    let payload = serde_json::json!({
        "destination": destination,
        "client": { "id": asking.client_id.as_str(), "name": asking.client_name },
        "ip": asking.origin.ip.to_string(),
        "country": asking.origin.country,
    });
    match hook.decide(payload, conn.clock.now()).await {
        Ok(answer) if answer.decision == hooks::Decision::Deny => {
            Err(VerifyError::SignUpRefused(answer.shown_message()))
        }
        Ok(_) => Ok(()),
        Err(_) => Err(VerifyError::Unavailable),
    }
}

/// Hands the login a spent challenge stands for to step-up, which decides whether a second factor
/// is needed before the authorization server resumes.
pub(crate) async fn finish_login(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    challenge: &Challenge,
    origin: &Origin,
) -> Result<(), VerifyError> {
    let asking = Asking {
        client_id: &interaction.client_id,
        client_hooks: &interaction.client_settings.hooks,
        client_name: Some(&interaction.client_name),
        origin,
    };
    let result = login_result(conn, challenge, &asking).await?;
    if !conn.store.record_first_factor(&interaction.id, &result, conn.clock.now()).await? {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

//! The login a spent challenge stands for: the account it proves (found, or made when sign-ups
//! are open and the operator's `before_user_created` hook allows it), handed to step-up as the
//! first factor.

use domain::{Amr, Interaction, InteractionId, LoginResult, StorageError};

use crate::PasswordlessConnection;
use crate::challenge::{Destination, Origin, VerifyError};
use crate::storage::{Challenge, SignIn, SignInAs, SignedIn};

/// Who asks to sign in: the client, and where from (the `before_user_created` hook is told).
pub(crate) struct Asking<'a> {
    pub client_id: &'a domain::ClientId,
    /// The client's choice of hooks.
    pub client_hooks: &'a domain::ClientHooks,
    pub client_name: Option<&'a str>,
    pub origin: &'a Origin,
}

/// A first factor to conclude when its challenge is answered right: who asks and, for a
/// browser's sign-in, the interaction the login is recorded on.
pub(crate) struct FirstFactor<'a> {
    pub asking: Asking<'a>,
    pub record: Option<&'a InteractionId>,
}

impl<'a> FirstFactor<'a> {
    /// A sign-in on the login pages: the interaction's client, the login recorded on it.
    pub(crate) fn of(interaction: &'a Interaction, origin: &'a Origin) -> FirstFactor<'a> {
        let asking = Asking {
            client_id: &interaction.client_id,
            client_hooks: &interaction.client_settings.hooks,
            client_name: Some(&interaction.client_name),
            origin,
        };
        FirstFactor { asking, record: Some(&interaction.id) }
    }

    /// Whether an unknown address must wait for the operator's `before_user_created` hook before it
    /// becomes an account (a hook that cannot be found counts: it fails closed below).
    fn hooked(&self, conn: &PasswordlessConnection) -> bool {
        let hook = conn.hooks.for_client(hooks::Step::BeforeUserCreated, self.asking.client_hooks);
        conn.config.signups_enabled && !matches!(hook, Ok(None))
    }

    /// What the transaction that spends `challenge` does: the account found, or made at once when
    /// sign-ups are open and no hook must be asked first; the login recorded.
    pub(crate) fn plan(&self, conn: &PasswordlessConnection, challenge: &Challenge) -> SignInAs {
        SignInAs {
            create: conn.config.signups_enabled && !self.hooked(conn),
            record: self.record.cloned(),
            amr: amr(&challenge.destination),
        }
    }

    /// The login a spent challenge stands for, from what its transaction found at `now`. An unknown
    /// address under the `before_user_created` hook is made an account only once the hook allows it
    /// (then in a transaction of its own).
    pub(crate) async fn conclude(
        &self,
        conn: &PasswordlessConnection,
        challenge: &Challenge,
        signed: Option<Box<SignedIn>>,
        now: i64,
    ) -> Result<LoginResult, VerifyError> {
        let signed = signed.ok_or_else(|| StorageError::Corrupt("a sign-in was asked and not done".into()))?;
        let amr = amr(&challenge.destination);
        if amr == Amr::Sms {
            crate::abuse::record_sms_verified(conn).await;
        }
        let (user, recorded) = match signed.account {
            SignIn::Existing(user) | SignIn::Created(user) => (user, signed.recorded),
            SignIn::NoAccount if self.hooked(conn) => {
                check_new_account(conn, &challenge.destination, &self.asking).await?;
                let user = match sign_in(conn, &challenge.destination, true, now).await? {
                    SignIn::Existing(u) | SignIn::Created(u) => u,
                    SignIn::NoAccount => return Err(VerifyError::Expired),
                };
                let recorded = match self.record {
                    Some(id) if !user.is_blocked() => {
                        let login = LoginResult::single_factor(user.id.clone(), amr, now);
                        conn.store.record_first_factor(id, &login, now).await?
                    }
                    _ => false,
                };
                (user, recorded)
            }
            SignIn::NoAccount => return Err(VerifyError::Expired),
        };
        // Said only after the code or link proved the address: nobody learns of a block otherwise.
        if user.is_blocked() {
            return Err(VerifyError::AccountBlocked);
        }
        if self.record.is_some() && !recorded {
            return Err(VerifyError::Expired);
        }
        Ok(LoginResult::single_factor(user.id, amr, now))
    }
}

/// How a proved destination authenticated: `otp` for an emailed code or link (a single-use secret
/// delivered to the mailbox), `sms` for a texted code (RFC 8176 §2).
fn amr(destination: &Destination) -> Amr {
    match destination {
        Destination::Email(_) => Amr::Otp,
        Destination::Phone(_) => Amr::Sms,
    }
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

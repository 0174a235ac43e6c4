//! Passkeys: WebAuthn discoverable credentials, through webauthn-rs. Three ceremonies, each kept
//! in the database between the options the browser gets and the answer it sends (so that any
//! node can finish what another began), single use, short-lived, and bound to what started it and
//! to the browser:
//!
//! - **sign-in**, usernameless: the browser offers whichever passkey the user picks, and its user
//!   handle names the account (the login pages' first factor);
//! - **enrolment**: a new passkey for an account (after a sign-in by code or link, or on the
//!   account page);
//! - **step-up**: one of the account's own passkeys, as a second factor.
//!
//! Every ceremony demands user verification (WebAuthn §6.2.3), so a passkey proves possession of
//! the authenticator and the user's PIN or biometric: multi-factor on its own. Refusals go to the
//! audit log.
#![forbid(unsafe_code)]

mod ceremony;
pub mod storage;

use std::sync::Arc;

use domain::{Acr, Amr, AuthTime, Clock, LoginResult, StorageError, UserId};
use serde::Serialize;
use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder, WebauthnError};

pub use ceremony::{Asker, Ceremony};
pub use storage::{PasskeyAudit, PasskeyStorage, PasskeyStore, PendingCeremony, StoredPasskey};

/// How long a ceremony waits for the browser, in seconds: webauthn-rs's timeout for the
/// authenticator (WebAuthn §15.1 recommends 300 s for ceremonies with user verification).
pub const CEREMONY_TTL: i64 = 300;

/// Why a browser's answer was refused. Each is recorded in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// No ceremony waits under this key in this browser: it expired, was used already (a replay),
    /// or was started elsewhere.
    NoCeremony,
    /// The answer does not parse as a WebAuthn credential.
    Malformed,
    /// The credential is not registered (or not to this account).
    UnknownCredential,
    /// The account is blocked.
    AccountBlocked,
    /// The client data names another origin (WebAuthn §7.2 step 9).
    WrongOrigin,
    /// The authenticator data is for another relying party id (§7.2 step 15).
    WrongRpId,
    /// The authenticator did not verify the user (§7.2 step 17): no PIN or biometric.
    NoUserVerification,
    /// The signature counter did not move forward (§7.2 step 22): a cloned authenticator, or
    /// an answer replayed.
    CounterWentBack,
    /// The client data is for another challenge or another kind of ceremony (§7.2 steps 8, 10).
    WrongChallenge,
    /// The signature does not verify with the stored public key (§7.2 step 21).
    BadSignature,
    /// The credential is registered already (§7.1 step 26).
    AlreadyRegistered,
    /// Anything else webauthn-rs refuses.
    Invalid,
}

impl Refusal {
    /// What webauthn-rs's refusal means here.
    fn of(e: &WebauthnError) -> Refusal {
        use WebauthnError as E;
        match e {
            E::InvalidRPOrigin | E::CredentialCrossOrigin => Refusal::WrongOrigin,
            E::InvalidRPIDHash => Refusal::WrongRpId,
            E::UserNotVerified | E::UserNotPresent | E::InconsistentUserVerificationPolicy => {
                Refusal::NoUserVerification
            }
            E::CredentialPossibleCompromise => Refusal::CounterWentBack,
            E::MismatchedChallenge | E::ChallengeNotFound | E::InvalidClientDataType => Refusal::WrongChallenge,
            E::AuthenticationFailure | E::SignatureInvalid => Refusal::BadSignature,
            E::CredentialAlreadyExists | E::CredentialExcludedFromRequest => Refusal::AlreadyRegistered,
            E::ParseBase64Failure(_)
            | E::ParseCBORFailure(_)
            | E::ParseJSONFailure(_)
            | E::ParseNOMFailure
            | E::ParseInsufficientBytesAvailable
            | E::InvalidUserUniqueId => Refusal::Malformed,
            _ => Refusal::Invalid,
        }
    }
}

/// Why a ceremony did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The browser's answer was refused (and the refusal audited).
    #[error("passkey refused: {0:?}")]
    Refused(Refusal),
    /// The storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// webauthn-rs could not start a ceremony, or its state could not be kept: our side.
    #[error("passkey ceremony failed: {0}")]
    Broken(String),
}

/// The configuration is not one WebAuthn can work with.
#[derive(Debug, thiserror::Error)]
#[error("passkeys cannot be set up for the issuer {issuer}: {reason}")]
pub struct ConfigError {
    issuer: String,
    reason: String,
}

/// A passkey proved: whose, which, and what kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    pub user_id: UserId,
    pub passkey: String,
    pub synced: bool,
}

impl Proof {
    /// The `amr` of a passkey with user verification (RFC 8176 §2): `hwk` for a device-bound
    /// key, `swk` for a synced one (its private key leaves the hardware to sync), `user` for the
    /// verification of the user the authenticator did, and `mfa`, since possession and that
    /// verification are two factors.
    pub fn amr(&self) -> Vec<Amr> {
        let key = if self.synced { Amr::Swk } else { Amr::Hwk };
        vec![key, Amr::User, Amr::Mfa]
    }

    /// The login a passkey sign-in stands for: multi-factor on its own.
    pub fn login(&self, now: i64) -> LoginResult {
        LoginResult { user_id: self.user_id.clone(), amr: self.amr(), acr: Acr::MultiFactor, auth_time: AuthTime(now) }
    }
}

/// The passkey ceremonies for one issuer.
pub struct Passkeys {
    webauthn: Webauthn,
    store: Arc<dyn PasskeyStorage>,
    clock: Arc<dyn Clock>,
}

impl Passkeys {
    /// The relying-party id is the issuer's host and the only origin is the issuer itself
    /// (WebAuthn §5.1.3, §13.4.9). Browsers refuse IP addresses as RP ids, so an issuer must be
    /// a host name (`localhost` included).
    pub fn new(
        issuer: &str,
        rp_name: &str,
        store: Arc<dyn PasskeyStorage>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let fail = |reason: String| ConfigError { issuer: issuer.to_owned(), reason };
        let origin = Url::parse(issuer).map_err(|e| fail(e.to_string()))?;
        let host = origin.host_str().ok_or_else(|| fail("it has no host".into()))?.to_owned();
        let webauthn = WebauthnBuilder::new(&host, &origin)
            .and_then(|b| b.rp_name(rp_name).build())
            .map_err(|e| fail(e.to_string()))?;
        Ok(Passkeys { webauthn, store, clock })
    }

    /// An account's passkeys, oldest first.
    pub async fn list(&self, user: &UserId) -> Result<Vec<StoredPasskey>, StorageError> {
        self.store.passkeys(user).await
    }

    /// Whether the account has a passkey.
    pub async fn has_any(&self, user: &UserId) -> Result<bool, StorageError> {
        Ok(!self.store.passkeys(user).await?.is_empty())
    }

    /// Renames one of the account's passkeys (trimmed, at most 64 characters).
    pub async fn rename(&self, user: &UserId, id: &str, name: &str) -> Result<bool, StorageError> {
        self.store.rename_passkey(user, id, &ceremony::clean_name(name, "Passkey")).await
    }

    /// Removes one of the account's passkeys, by its owner or (`actor`) an admin; audited. The
    /// passkey removed, or none when the account has no such passkey.
    pub async fn remove(
        &self,
        user: &UserId,
        id: &str,
        actor: Option<String>,
        client: Option<domain::ClientId>,
    ) -> Result<Option<StoredPasskey>, StorageError> {
        let Some(passkey) = self.store.passkeys(user).await?.into_iter().find(|p| p.id == id) else {
            return Ok(None);
        };
        let what = PasskeyAudit::Removed { passkey: passkey.id.clone(), name: passkey.name.clone(), actor };
        let audit = domain::audit::AuditEntry { what, user: Some(user.clone()), client, at: self.clock.now() };
        Ok(self.store.remove_passkey(user, id, audit).await?.then_some(passkey))
    }
}

#[cfg(test)]
mod tests;

//! The ceremonies: options out to the browser, its answer back. The state between the two is kept
//! in the database under the ceremony's key, for the browser that asked, for [`CEREMONY_TTL`]
//! seconds, and taken (deleted) by the first answer, right or wrong.

use domain::audit::AuditEntry;
use domain::{ClientId, InteractionId, User, UserId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use webauthn_rs::prelude::{
    AuthenticationResult, Credential, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};

use crate::storage::PasskeyUse;
use crate::{CEREMONY_TTL, PasskeyAudit, PasskeyError, Passkeys, PendingCeremony, Proof, Refusal, StoredPasskey};

/// What a ceremony is for, and what it is bound to.
#[derive(Clone, Copy, Debug)]
pub enum Ceremony<'a> {
    /// A usernameless sign-in on the login page of this interaction.
    SignIn(&'a InteractionId),
    /// A new passkey, offered after this interaction's sign-in.
    Enroll(&'a InteractionId),
    /// A new passkey from the account page, under the page's ticket.
    AccountEnroll(&'a str),
    /// A passkey as the second factor of this interaction.
    StepUp(&'a InteractionId),
}

impl Ceremony<'_> {
    fn key(&self) -> String {
        match self {
            Ceremony::SignIn(i) => format!("sign_in:{i}"),
            Ceremony::Enroll(i) => format!("enroll:{i}"),
            Ceremony::AccountEnroll(ticket) => format!("account:{ticket}"),
            Ceremony::StepUp(i) => format!("step_up:{i}"),
        }
    }

    /// Its name in the audit log and the metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Ceremony::SignIn(_) => "sign_in",
            Ceremony::Enroll(_) | Ceremony::AccountEnroll(_) => "enroll",
            Ceremony::StepUp(_) => "step_up",
        }
    }
}

/// Who asks: the browser (the keyed hash of its cookie), and for the audit log its IP and the
/// client it signs in to.
#[derive(Clone, Debug)]
pub struct Asker<'a> {
    pub browser: &'a [u8],
    pub ip: Option<String>,
    pub client: Option<ClientId>,
}

/// A passkey's name as kept: trimmed, without control characters, at most 64 characters;
/// `fallback` when nothing is left.
pub(crate) fn clean_name(name: &str, fallback: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    match cleaned.trim() {
        "" => fallback.chars().take(64).collect(),
        trimmed => trimmed.to_owned(),
    }
}

/// The authenticator's AAGUID, read from the attestation object's authenticator data (WebAuthn
/// §6.1: rpIdHash, 32 bytes; flags, 1; signCount, 4; then, with the AT flag 0x40, the attested
/// credential data, which begins with the 16-byte AAGUID, §6.5.1). None when absent or all zero
/// (browsers may zero it when no attestation is asked for).
fn aaguid(attestation_object: &[u8]) -> Option<String> {
    use serde_cbor_2::Value as Cbor;
    let Ok(Cbor::Map(map)) = serde_cbor_2::from_slice::<Cbor>(attestation_object) else { return None };
    let Some(Cbor::Bytes(auth)) = map.get(&Cbor::Text("authData".into())) else { return None };
    let id = auth.get(37..53).filter(|_| auth[32] & 0x40 != 0)?;
    if id.iter().all(|b| *b == 0) {
        return None;
    }
    Uuid::from_slice(id).ok().map(|u| u.to_string())
}

fn to_json<T: Serialize>(value: &T) -> Result<String, PasskeyError> {
    serde_json::to_string(value).map_err(|e| PasskeyError::Broken(e.to_string()))
}

fn broken(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Broken(e.to_string())
}

impl Passkeys {
    /// Options for a usernameless sign-in: an empty `allowCredentials`, so the browser offers
    /// every passkey it holds for this relying party (WebAuthn §5.4.5), and conditional
    /// mediation, so it may offer them in the email field's autofill.
    pub async fn sign_in_options(&self, c: Ceremony<'_>, asker: &Asker<'_>) -> Result<Value, PasskeyError> {
        let (options, state) = self.webauthn.start_discoverable_authentication().map_err(broken)?;
        self.keep(c, asker, None, &state).await?;
        serde_json::to_value(&options).map_err(broken)
    }

    /// Checks a usernameless sign-in's answer: the credential its user handle and id name, the
    /// origin, the RP id, the challenge, the user verification, the signature and the counter.
    pub async fn sign_in(&self, c: Ceremony<'_>, asker: &Asker<'_>, answer: &str) -> Result<Proof, PasskeyError> {
        let state: DiscoverableAuthentication = self.take(c, asker, None).await?;
        let credential: PublicKeyCredential = self.parse(c, asker, answer).await?;
        let (handle, credential_id) = match self.webauthn.identify_discoverable_authentication(&credential) {
            Ok(found) => found,
            Err(_) => return Err(self.refuse(c, asker, None, None, Refusal::Malformed).await),
        };
        let stored = self.store.passkey_by_credential(credential_id).await?;
        let owner = self.store.user_by_handle(&handle.to_string()).await?;
        let (stored, owner) = match (stored, owner) {
            (Some(s), Some(o)) if s.user_id == o.id => (s, o),
            _ => return Err(self.refuse(c, asker, None, None, Refusal::UnknownCredential).await),
        };
        if owner.is_blocked() {
            return Err(self.refuse(c, asker, Some(&owner.id), Some(&stored.id), Refusal::AccountBlocked).await);
        }
        let passkey: Passkey = serde_json::from_str(&stored.credential).map_err(broken)?;
        match self.webauthn.finish_discoverable_authentication_v2(&credential, state, &passkey) {
            Ok(result) => self.used(c, asker, stored, passkey, &result).await,
            Err(e) => Err(self.refuse(c, asker, Some(&owner.id), Some(&stored.id), Refusal::of(&e)).await),
        }
    }

    /// Options for a new passkey for `user`: discoverable (`residentKey: required`, WebAuthn
    /// §5.4.6), user verification required, the account's passkeys excluded (§5.4.3), under the
    /// account's random user handle.
    pub async fn enroll_options(&self, c: Ceremony<'_>, asker: &Asker<'_>, user: &User) -> Result<Value, PasskeyError> {
        let handle = self.store.user_handle(&user.id, &Uuid::new_v4().to_string()).await?;
        let handle = Uuid::parse_str(&handle).map_err(broken)?;
        let exclude = self.store.passkeys(&user.id).await?.into_iter().map(|p| p.credential_id).collect();
        let name = user.shown();
        let display = user.profile.name.clone().unwrap_or_else(|| name.clone());
        let (options, state) =
            self.webauthn.start_passkey_registration(handle, &name, &display, Some(exclude)).map_err(broken)?;
        let mut options = serde_json::to_value(&options).map_err(broken)?;
        if let Some(public_key) = options.get_mut("publicKey").and_then(Value::as_object_mut) {
            let selection =
                public_key.entry("authenticatorSelection").or_insert_with(|| Value::Object(Default::default()));
            if let Some(selection) = selection.as_object_mut() {
                selection.insert("residentKey".into(), "required".into());
                selection.insert("requireResidentKey".into(), true.into());
            }
        }
        self.keep(c, asker, Some(&user.id), &state).await?;
        Ok(options)
    }

    /// Checks a new passkey's answer and keeps it, named `name` (audited, `passkey.added`).
    pub async fn enroll(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        user: &User,
        answer: &str,
        name: &str,
    ) -> Result<StoredPasskey, PasskeyError> {
        let state: PasskeyRegistration = self.take(c, asker, Some(&user.id)).await?;
        let credential: RegisterPublicKeyCredential = self.parse(c, asker, answer).await?;
        let passkey = match self.webauthn.finish_passkey_registration(&credential, &state) {
            Ok(p) => p,
            Err(e) => return Err(self.refuse(c, asker, Some(&user.id), None, Refusal::of(&e)).await),
        };
        let inner: Credential = passkey.clone().into();
        let transports = credential.response.transports.iter().flatten();
        let stored = StoredPasskey {
            id: domain::secret::random_token(12),
            user_id: user.id.clone(),
            credential_id: inner.cred_id.to_vec(),
            credential: to_json(&passkey)?,
            sign_count: inner.counter,
            backup_eligible: inner.backup_eligible,
            backed_up: inner.backup_state,
            transports: transports
                .filter_map(|t| serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)))
                .collect(),
            aaguid: aaguid(&credential.response.attestation_object),
            name: clean_name(name, "Passkey"),
            created_at: self.clock.now(),
            last_used_at: None,
        };
        let what =
            PasskeyAudit::Added { passkey: stored.id.clone(), name: stored.name.clone(), synced: stored.synced() };
        let audit =
            AuditEntry { what, user: Some(user.id.clone()), client: asker.client.clone(), at: stored.created_at };
        if !self.store.add_passkey(stored.clone(), audit).await? {
            return Err(self.refuse(c, asker, Some(&user.id), None, Refusal::AlreadyRegistered).await);
        }
        metrics::counter!("ostiary_passkey_ceremonies_total", "ceremony" => c.name(), "outcome" => "ok").increment(1);
        Ok(stored)
    }

    /// Options for proving one of `user`'s passkeys; none when the account has none.
    pub async fn step_up_options(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        user: &User,
    ) -> Result<Option<Value>, PasskeyError> {
        let stored = self.store.passkeys(&user.id).await?;
        if stored.is_empty() {
            return Ok(None);
        }
        let passkeys = stored
            .iter()
            .map(|p| serde_json::from_str::<Passkey>(&p.credential))
            .collect::<Result<Vec<_>, _>>()
            .map_err(broken)?;
        let (options, state) = self.webauthn.start_passkey_authentication(&passkeys).map_err(broken)?;
        self.keep(c, asker, Some(&user.id), &state).await?;
        serde_json::to_value(&options).map(Some).map_err(broken)
    }

    /// Checks the answer to [`Passkeys::step_up_options`]: one of `user`'s own passkeys.
    pub async fn step_up(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        user: &User,
        answer: &str,
    ) -> Result<Proof, PasskeyError> {
        let state: PasskeyAuthentication = self.take(c, asker, Some(&user.id)).await?;
        let credential: PublicKeyCredential = self.parse(c, asker, answer).await?;
        let stored = match self.store.passkey_by_credential(credential.get_credential_id()).await? {
            Some(s) if s.user_id == user.id => s,
            _ => return Err(self.refuse(c, asker, Some(&user.id), None, Refusal::UnknownCredential).await),
        };
        let passkey: Passkey = serde_json::from_str(&stored.credential).map_err(broken)?;
        match self.webauthn.finish_passkey_authentication(&credential, &state) {
            Ok(result) => self.used(c, asker, stored, passkey, &result).await,
            Err(e) => Err(self.refuse(c, asker, Some(&user.id), Some(&stored.id), Refusal::of(&e)).await),
        }
    }

    /// A verified assertion: the counter and flags are kept, only if the counter moved forward
    /// (WebAuthn §7.2 step 22; checked again in the write, so that two answers racing cannot both
    /// pass).
    async fn used(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        stored: StoredPasskey,
        mut passkey: Passkey,
        result: &AuthenticationResult,
    ) -> Result<Proof, PasskeyError> {
        if !result.user_verified() {
            return Err(self
                .refuse(c, asker, Some(&stored.user_id), Some(&stored.id), Refusal::NoUserVerification)
                .await);
        }
        passkey.update_credential(result);
        let used = PasskeyUse {
            id: stored.id.clone(),
            credential: to_json(&passkey)?,
            sign_count: result.counter(),
            backed_up: result.backup_state(),
            at: self.clock.now(),
        };
        if !self.store.record_use(used).await? {
            return Err(self.refuse(c, asker, Some(&stored.user_id), Some(&stored.id), Refusal::CounterWentBack).await);
        }
        metrics::counter!("ostiary_passkey_ceremonies_total", "ceremony" => c.name(), "outcome" => "ok").increment(1);
        let synced = stored.backup_eligible || result.backup_eligible();
        Ok(Proof { user_id: stored.user_id, passkey: stored.id, synced })
    }

    async fn keep<S: Serialize>(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        user: Option<&UserId>,
        state: &S,
    ) -> Result<(), PasskeyError> {
        let pending = PendingCeremony {
            key: c.key(),
            user_id: user.cloned(),
            browser_hash: asker.browser.to_vec(),
            state: to_json(state)?,
            expires_at: self.clock.now() + CEREMONY_TTL,
        };
        Ok(self.store.put_ceremony(pending).await?)
    }

    /// The ceremony's state, taken: only by the browser that asked, and (enrolment, step-up) for
    /// the same account.
    async fn take<S: DeserializeOwned>(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        user: Option<&UserId>,
    ) -> Result<S, PasskeyError> {
        match self.store.take_ceremony(&c.key(), self.clock.now()).await? {
            Some(p)
                if domain::secret::constant_time_eq(&p.browser_hash, asker.browser) && p.user_id.as_ref() == user =>
            {
                serde_json::from_str(&p.state).map_err(broken)
            }
            _ => Err(self.refuse(c, asker, user, None, Refusal::NoCeremony).await),
        }
    }

    async fn parse<S: DeserializeOwned>(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        answer: &str,
    ) -> Result<S, PasskeyError> {
        match serde_json::from_str(answer) {
            Ok(parsed) => Ok(parsed),
            Err(_) => Err(self.refuse(c, asker, None, None, Refusal::Malformed).await),
        }
    }

    /// Records a refusal in the audit log (a failure to write it is logged, not hidden behind
    /// the refusal) and counts it.
    async fn refuse(
        &self,
        c: Ceremony<'_>,
        asker: &Asker<'_>,
        user: Option<&UserId>,
        passkey: Option<&str>,
        refusal: Refusal,
    ) -> PasskeyError {
        let outcome =
            serde_json::to_value(refusal).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        metrics::counter!("ostiary_passkey_ceremonies_total", "ceremony" => c.name(), "outcome" => outcome)
            .increment(1);
        let what = PasskeyAudit::Refused {
            refusal,
            ceremony: c.name(),
            passkey: passkey.map(str::to_owned),
            ip: asker.ip.clone(),
        };
        let entry = AuditEntry { what, user: user.cloned(), client: asker.client.clone(), at: self.clock.now() };
        if let Err(e) = self.store.record(entry).await {
            tracing::error!(error = %e, "the passkey refusal could not be written to the audit log");
        }
        PasskeyError::Refused(refusal)
    }
}

//! The ceremonies against webauthn-rs's software authenticator, with the storage in memory: every
//! refusal the issue lists, and the answers that pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use domain::{Acr, Amr, Clock, EmailAddress, InteractionId, User, UserId};
use serde_json::{Value, json};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use super::*;

mod memory;
use memory::MemoryStore;

const ISSUER: &str = "https://id.example.com";

struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Setup {
    passkeys: Passkeys,
    store: Arc<MemoryStore>,
    clock: Arc<TestClock>,
    user: User,
    interaction: InteractionId,
}

fn user(email: &str) -> User {
    User {
        id: UserId::generate(),
        email: EmailAddress::parse(email).ok(),
        email_verified: true,
        created_at: 1,
        phone: None,
        phone_verified: false,
        profile: Default::default(),
        updated_at: 1,
        is_admin: false,
        version: 1,
        blocked_at: None,
        linked_to: None,
    }
}

fn setup() -> Setup {
    let store = Arc::new(MemoryStore::default());
    let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000)));
    let passkeys = Passkeys::new(ISSUER, "Ostiary", store.clone(), clock.clone()).expect("passkeys");
    let user = user("ada@example.com");
    store.with(|m| m.users.push(user.clone()));
    Setup { passkeys, store, clock, user, interaction: InteractionId::generate() }
}

const BROWSER: &[u8] = b"browser-one";

fn asker(browser: &[u8]) -> Asker<'_> {
    Asker { browser, ip: Some("203.0.113.9".into()), client: None }
}

fn origin() -> Url {
    Url::parse(ISSUER).expect("origin")
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Registers a passkey for the setup's user with `authenticator`; its credential id.
async fn enroll(s: &Setup, authenticator: &mut SoftPasskey) -> Vec<u8> {
    let c = Ceremony::Enroll(&s.interaction);
    let options = s.passkeys.enroll_options(c, &asker(BROWSER), &s.user).await.expect("options");
    assert_eq!(options["publicKey"]["authenticatorSelection"]["residentKey"], "required");
    let options = for_soft_authenticator(options);
    let answer = authenticator.do_registration(origin(), options).expect("registration");
    let answer = serde_json::to_string(&answer).expect("json");
    let stored = s.passkeys.enroll(c, &asker(BROWSER), &s.user, &answer, "My laptop").await.expect("enrolled");
    assert_eq!((stored.name.as_str(), &stored.user_id), ("My laptop", &s.user.id));
    stored.credential_id
}

/// Creation options the software authenticator takes: it keeps no resident keys, so it is not
/// asked for one (the answer does not say whether the key is resident).
fn for_soft_authenticator(mut options: Value) -> CreationChallengeResponse {
    options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
    options["publicKey"]["authenticatorSelection"]["residentKey"] = json!("discouraged");
    serde_json::from_value(options).expect("creation options")
}

/// A usernameless sign-in's options, made answerable by a software authenticator that keeps no
/// resident keys: the credential is named in `allowCredentials` (the browser would find it by
/// itself), and its answer carries the account's user handle as a resident key's would (the user
/// handle is not signed, WebAuthn §6.3.3).
async fn sign_in_answer(
    s: &Setup,
    authenticator: &mut SoftPasskey,
    credential_id: &[u8],
    edit: impl FnOnce(&mut Value),
    origin: Url,
) -> Result<String, String> {
    let c = Ceremony::SignIn(&s.interaction);
    let mut options = s.passkeys.sign_in_options(c, &asker(BROWSER)).await.expect("options");
    assert_eq!(options["publicKey"]["allowCredentials"], json!([]));
    options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": b64(credential_id)}]);
    edit(&mut options);
    let options: RequestChallengeResponse = serde_json::from_value(options).expect("request options");
    let mut answer: PublicKeyCredential =
        authenticator.perform_auth(origin, options.public_key, 60_000).map_err(|e| format!("{e:?}"))?;
    let handle = s.store.with(|m| m.handles.get(&s.user.id).cloned()).expect("handle");
    let handle = webauthn_rs::prelude::Uuid::parse_str(&handle).expect("uuid");
    answer.response.user_handle = Some(handle.as_bytes().to_vec());
    Ok(serde_json::to_string(&answer).expect("json"))
}

async fn sign_in(s: &Setup, answer: &str) -> Result<Proof, PasskeyError> {
    s.passkeys.sign_in(Ceremony::SignIn(&s.interaction), &asker(BROWSER), answer).await
}

fn refused(result: Result<Proof, PasskeyError>) -> Refusal {
    match result {
        Err(PasskeyError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn last_refusal(s: &Setup) -> Option<Refusal> {
    s.store.with(|m| {
        m.audit.iter().rev().find_map(|a| match a {
            PasskeyAudit::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        })
    })
}

#[tokio::test]
async fn a_new_passkey_signs_in_without_a_name_and_is_multi_factor() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    let proof = sign_in(&s, &answer).await.expect("signed in");
    assert_eq!(proof.user_id, s.user.id);
    let login = proof.login(42);
    assert_eq!(login.acr, Acr::MultiFactor);
    assert!(login.amr.contains(&Amr::Mfa) && login.amr.contains(&Amr::User), "{:?}", login.amr);
    assert!(login.amr.contains(&Amr::Hwk) || login.amr.contains(&Amr::Swk));
    let stored = s.store.with(|m| m.passkeys[0].clone());
    assert_eq!((stored.sign_count, stored.last_used_at), (1, Some(s.clock.now())));
    let handle = s.store.with(|m| m.handles[&s.user.id].clone());
    assert!(!handle.contains("ada"), "the user handle is random, never the address");
}

#[tokio::test]
async fn a_replayed_answer_is_refused_because_its_challenge_is_spent() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    sign_in(&s, &answer).await.expect("first use");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::NoCeremony);
    assert_eq!(last_refusal(&s), Some(Refusal::NoCeremony));
}

#[tokio::test]
async fn an_answer_from_another_browser_or_too_late_is_refused() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    let elsewhere = s.passkeys.sign_in(Ceremony::SignIn(&s.interaction), &asker(b"browser-two"), &answer).await;
    assert_eq!(refused(elsewhere), Refusal::NoCeremony);
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    s.clock.0.fetch_add(CEREMONY_TTL, Ordering::SeqCst);
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::NoCeremony);
}

#[tokio::test]
async fn a_wrong_origin_is_refused_and_audited() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    let evil = Url::parse("https://id.example.com.evil.test").expect("url");
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, evil).await.expect("answer");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::WrongOrigin);
    let audited = s.store.with(|m| m.audit.last().cloned());
    assert!(
        matches!(audited, Some(PasskeyAudit::Refused { refusal: Refusal::WrongOrigin, ceremony: "sign_in", ref ip, .. }) if ip.as_deref() == Some("203.0.113.9")),
        "{audited:?}"
    );
}

#[tokio::test]
async fn a_wrong_rp_id_is_refused() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    let answer =
        sign_in_answer(&s, &mut authenticator, &id, |o| o["publicKey"]["rpId"] = json!("example.org"), origin())
            .await
            .expect("answer");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::WrongRpId);
}

#[tokio::test]
async fn an_answer_without_user_verification_is_refused() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    // The authenticator is asked not to verify the user, as a security key without a PIN would.
    let answer = sign_in_answer(
        &s,
        &mut authenticator,
        &id,
        |o| o["publicKey"]["userVerification"] = json!("discouraged"),
        origin(),
    )
    .await
    .expect("answer");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::NoUserVerification);
}

#[tokio::test]
async fn a_counter_that_goes_back_is_refused() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    sign_in(&s, &answer).await.expect("first use");
    // A clone of the authenticator has been used meanwhile: the stored counter is ahead of it.
    s.store.with(|m| m.passkeys[0].sign_count = 50);
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::CounterWentBack);
    assert_eq!(last_refusal(&s), Some(Refusal::CounterWentBack));
    // And when webauthn-rs's own copy of the counter is ahead too.
    s.store.with(|m| {
        let mut credential: Value = serde_json::from_str(&m.passkeys[0].credential).expect("credential");
        credential["cred"]["counter"] = json!(50);
        m.passkeys[0].credential = credential.to_string();
    });
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::CounterWentBack);
}

#[tokio::test]
async fn a_removed_passkey_and_a_blocked_account_are_refused() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let id = enroll(&s, &mut authenticator).await;
    s.store.with(|m| m.users[0].blocked_at = Some(1));
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::AccountBlocked);
    s.store.with(|m| m.users[0].blocked_at = None);
    let passkey = s.passkeys.list(&s.user.id).await.expect("list").remove(0);
    let removed = s.passkeys.remove(&s.user.id, &passkey.id, None, None).await.expect("removed");
    assert_eq!(removed.map(|p| p.id), Some(passkey.id.clone()));
    assert!(!s.passkeys.has_any(&s.user.id).await.expect("list"));
    let answer = sign_in_answer(&s, &mut authenticator, &id, |_| {}, origin()).await.expect("answer");
    assert_eq!(refused(sign_in(&s, &answer).await), Refusal::UnknownCredential);
}

#[tokio::test]
async fn garbage_is_refused_as_malformed() {
    let s = setup();
    let c = Ceremony::SignIn(&s.interaction);
    for garbage in ["", "{}", "not json", r#"{"id":"x","rawId":"!!","response":{},"type":"public-key"}"#] {
        s.passkeys.sign_in_options(c, &asker(BROWSER)).await.expect("options");
        assert_eq!(refused(sign_in(&s, garbage).await), Refusal::Malformed, "{garbage}");
    }
}

#[tokio::test]
async fn step_up_takes_only_the_accounts_own_passkey() {
    let s = setup();
    let mut mine = SoftPasskey::new(true);
    enroll(&s, &mut mine).await;
    let c = Ceremony::StepUp(&s.interaction);
    let options = s.passkeys.step_up_options(c, &asker(BROWSER), &s.user).await.expect("options").expect("has one");
    let options: RequestChallengeResponse = serde_json::from_value(options).expect("request options");
    let answer = mine.do_authentication(origin(), options).expect("assertion");
    let proof = s
        .passkeys
        .step_up(c, &asker(BROWSER), &s.user, &serde_json::to_string(&answer).expect("json"))
        .await
        .expect("proved");
    assert_eq!(proof.user_id, s.user.id);

    // Someone else's passkey, offered for this account, is refused.
    let other = user("bob@example.com");
    s.store.with(|m| m.users.push(other.clone()));
    let mut theirs = SoftPasskey::new(true);
    let options =
        s.passkeys.enroll_options(Ceremony::Enroll(&s.interaction), &asker(BROWSER), &other).await.expect("o");
    let registered = theirs.do_registration(origin(), for_soft_authenticator(options)).expect("r");
    let registered = serde_json::to_string(&registered).expect("json");
    let added = s
        .passkeys
        .enroll(Ceremony::Enroll(&s.interaction), &asker(BROWSER), &other, &registered, "")
        .await
        .expect("added");
    assert_eq!(added.name, "Passkey", "an empty name falls back");
    let mut options = s.passkeys.step_up_options(c, &asker(BROWSER), &s.user).await.expect("o").expect("has one");
    options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": b64(&added.credential_id)}]);
    let options: RequestChallengeResponse = serde_json::from_value(options).expect("request options");
    let answer = theirs.do_authentication(origin(), options).expect("assertion");
    let result = s.passkeys.step_up(c, &asker(BROWSER), &s.user, &serde_json::to_string(&answer).expect("j")).await;
    assert_eq!(refused(result), Refusal::UnknownCredential);
    assert!(s.passkeys.step_up_options(c, &asker(BROWSER), &user("carol@example.com")).await.expect("o").is_none());
}

#[tokio::test]
async fn an_enrolment_is_bound_to_its_account() {
    let s = setup();
    let mut authenticator = SoftPasskey::new(true);
    let c = Ceremony::Enroll(&s.interaction);
    let options = s.passkeys.enroll_options(c, &asker(BROWSER), &s.user).await.expect("options");
    let answer = authenticator.do_registration(origin(), for_soft_authenticator(options)).expect("r");
    let answer = serde_json::to_string(&answer).expect("json");
    let other = user("eve@example.com");
    let result = s.passkeys.enroll(c, &asker(BROWSER), &other, &answer, "x").await;
    assert!(matches!(result, Err(PasskeyError::Refused(Refusal::NoCeremony))), "{result:?}");
    assert!(s.store.with(|m| m.passkeys.is_empty()));
}

#[test]
fn names_are_trimmed_and_bounded() {
    assert_eq!(ceremony::clean_name("  Work\u{7} key  ", "Passkey"), "Work key");
    assert_eq!(ceremony::clean_name(&"x".repeat(100), "Passkey").chars().count(), 64);
    assert_eq!(ceremony::clean_name(" \n ", "Passkey"), "Passkey");
}

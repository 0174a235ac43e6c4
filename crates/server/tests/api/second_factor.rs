//! A second factor proves what it claims (issue 9, item 3): step-up's code on the other channel is
//! accepted only from a challenge step-up itself started, to the user's own verified address; and
//! no first-factor challenge can be created once the first factor is recorded. The race that made
//! this exploitable is driven step by step through the store, in the order that used to win.

use authorization_server::Alg;
use domain::{
    Acr, Amr, AuthTime, ClientSettings, Clock, InteractionId, LoginResult, StepUp, StepUpPolicy, WithoutFactor,
};
use passwordless_connection::storage::{Answer, ChallengeStore, InteractionStore, NewChallenge, Purpose, Spend, Spent};
use testkit::{Db, TestApp, both_backends, csrf_of, location, spawn_app_with};

use crate::oidc::authorize_url;
use crate::{all_methods, unique_email, unique_phone};

/// A challenge to `destination` for `interaction` whose code the test knows ("123456").
fn challenge(app: &TestApp, interaction: &InteractionId, destination: &str, purpose: Purpose) -> NewChallenge {
    let id = domain::ChallengeId::sortable();
    let now = app.clock.now();
    NewChallenge {
        code_hash: app.master.hasher().hash(&format!("challenge-code:{id}"), "123456").0,
        link_hash: app.master.hasher().hash("challenge-link", id.as_str()).0,
        id,
        interaction_id: interaction.clone(),
        destination: domain::Destination::Email(domain::EmailAddress::parse(destination).unwrap()),
        max_attempts: 3,
        created_at: now,
        expires_at: now + 300,
        client_id: domain::ClientId::parse("test-client").unwrap(),
        origin: "203.0.113.66".into(),
        purpose,
    }
}

both_backends!(step_up_accepts_only_its_own_code_to_the_users_own_address, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.step_up.notify_new_sign_ins = false).await;
    let settings = ClientSettings {
        step_up: StepUp { policy: StepUpPolicy::Always, without_factor: WithoutFactor::Deny },
        ..all_methods()
    };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    // The user's account: a verified email (the second factor) and a verified phone.
    let email = unique_email();
    let phone = unique_phone();
    let user = app.store.create_user(&domain::EmailAddress::parse(&email).unwrap(), 0).await.unwrap();
    let update = store::users::UserUpdate {
        profile: None,
        phone: Some(Some(domain::PhoneNumber::parse(&phone, None).unwrap())),
        phone_verified: Some(true),
        ..Default::default()
    };
    app.store.update_user(&user.id, update, 0).await.unwrap();

    // Someone with the phone starts a sign-in by text in their browser.
    let browser = app.browser();
    let code_page = app.start_login_with(&browser, &authorize_url(&app, &client, &[]), ("phone", &phone)).await;
    let interaction = InteractionId::parse(code_page.split('/').nth(2).unwrap()).unwrap();
    let sms = app.store.latest_challenge(&interaction).await.unwrap().unwrap();

    // The race, in the order that used to win: the texted code is spent, then a challenge to an
    // address of the attacker's is started for the same sign-in, then the first factor is recorded.
    let now = app.clock.now();
    let spend = Spend { challenge: sms.id.clone(), answer: Answer::Link { approved: false }, now, sign_in: None };
    assert!(matches!(app.store.spend_challenge(spend).await.unwrap(), Spent::Right(None)));
    let attacker = unique_email();
    let planted = challenge(&app, &interaction, &attacker, Purpose::FirstFactor);
    assert!(app.store.create_challenge(planted, None).await.unwrap(), "no first factor yet: allowed");
    let first =
        LoginResult { user_id: user.id.clone(), amr: vec![Amr::Sms], acr: Acr::SingleFactor, auth_time: AuthTime(now) };
    assert!(app.store.record_first_factor(&interaction, &first, now).await.unwrap());

    // Once the first factor is recorded, no first-factor challenge can be created for the sign-in.
    let late = challenge(&app, &interaction, &attacker, Purpose::FirstFactor);
    assert!(!app.store.create_challenge(late, None).await.unwrap(), "refused in the same transaction");
    // Nor through the login page.
    let login = format!("/login/{interaction}");
    let page = browser.get(&login).await;
    assert_eq!(page.status(), 400);

    // Step-up asks for a code by email. The planted first-factor code is refused...
    let step_up = format!("/step-up/{interaction}");
    let html = browser.get(&step_up).await.text().await.unwrap();
    let csrf = csrf_of(&html);
    let code_path = format!("{step_up}/code");
    let resp = browser.post_form(&code_path, &[("csrf", csrf.as_str()), ("code", "123456")]).await;
    assert_eq!(resp.status(), 400, "a first-factor challenge is not step-up's");
    // ...and so is a second-factor challenge to any address but the user's own verified one.
    let wrong_address = challenge(&app, &interaction, &attacker, Purpose::SecondFactor);
    assert!(app.store.create_challenge(wrong_address, None).await.unwrap());
    let resp = browser.post_form(&code_path, &[("csrf", csrf.as_str()), ("code", "123456")]).await;
    assert_eq!(resp.status(), 400, "a code to another address proves nothing about this user");
    let interaction_now = app.store.interaction(&interaction).await.unwrap().unwrap().0;
    assert!(interaction_now.result.is_none(), "the sign-in is not complete");

    // The real second factor still works: the code step-up sends to the user's own address.
    let seen = app.message_ids_to(&email).await;
    let resp = browser.post_form(&format!("{step_up}/send"), &[("csrf", csrf.as_str())]).await;
    assert_eq!(resp.status(), 200);
    let sent = app.new_message_to(&email, &seen).await.code();
    let resp = browser.post_form(&code_path, &[("csrf", csrf.as_str()), ("code", &sent)]).await;
    assert_eq!(resp.status(), 303);
    assert!(location(&resp).starts_with("/authorize/resume/"));
});

/// The authenticator secret shown on an enrolment page.
fn enrolment_secret(html: &str) -> totp_rs::Totp {
    let secret: String = html.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().replace(' ', "");
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&secret).unwrap())
        .with_account_name("test")
        .build()
        .unwrap()
}

// A pending authenticator belongs to the sign-in that created it (issue 9): another sign-in of the
// same account, someone else's with the first factor say, never sees or confirms that secret.
both_backends!(a_pending_authenticator_belongs_to_its_own_sign_in, |db: Db| async move {
    let app = spawn_app_with(db, |_| {}).await;
    let settings = ClientSettings {
        step_up: StepUp { policy: StepUpPolicy::Always, without_factor: WithoutFactor::Enroll },
        ..Default::default()
    };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let email = unique_email();
    // Two sign-ins of one account are under way; the first opens its enrolment page.
    let (first, second) = (app.browser(), app.browser());
    let second_login = location(&second.get(&authorize_url(&app, &client, &[])).await);
    let step_up = crate::stepup::first_factor(&app, &first, &authorize_url(&app, &client, &[]), &email).await;
    let first_enrol = location(&first.get(&step_up).await);
    let first_page = first.get(&first_enrol).await.text().await.unwrap();
    let first_secret = enrolment_secret(&first_page);
    // The second sign-in reaches enrolment too: it gets a secret of its own, not the first one's.
    app.clock.advance(61);
    let html = second.get(&second_login).await.text().await.unwrap();
    let seen = app.message_ids_to(&email).await;
    let resp = second.post_form(&second_login, &[("csrf", &csrf_of(&html)), ("email", &email)]).await;
    let code = app.new_message_to(&email, &seen).await.code();
    let resp = app.submit_code(&second, &location(&resp), &code).await;
    let second_enrol = location(&second.get(&location(&resp)).await);
    let second_page = second.get(&second_enrol).await.text().await.unwrap();
    let second_secret = enrolment_secret(&second_page);
    assert_ne!(
        second_secret.secret().to_base32(),
        first_secret.secret().to_base32(),
        "the first sign-in secret is not shown"
    );
    // The first sign-in's secret can no longer be confirmed: the pending one is the second's now.
    let now = domain::Clock::now(&app.clock) as u64;
    let stolen = first_secret.generate(now).to_string();
    let resp = second.post_form(&second_enrol, &[("csrf", &csrf_of(&second_page)), ("code", &stolen)]).await;
    assert_eq!(resp.status(), 400, "a code of another sign-in's secret does not turn it on");
    let own = second_secret.generate(now).to_string();
    let resp = second.post_form(&second_enrol, &[("csrf", &csrf_of(&second_page)), ("code", &own)]).await;
    assert_eq!(resp.status(), 200, "the second sign-in's own secret works");
    // The first sign-in's secret never became the account's authenticator.
    let resp = first.post_form(&first_enrol, &[("csrf", &csrf_of(&first_page)), ("code", &stolen)]).await;
    assert_ne!(resp.status(), 200, "the replaced secret confirms nothing");
});

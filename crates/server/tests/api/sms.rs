//! Sign-in by text message: numbers parsed to E.164, one page for email and phone, the methods
//! each client enables, allowed countries and per-prefix velocity (SMS pumping defence).

use authorization_server::Alg;
use domain::{ClientSettings, LoginMethod};
use testkit::{Db, TestApp, TestClient, both_backends, location, spawn_app, spawn_app_with};

use crate::oidc::{authorize_url, authorize_url_with, exchange};
use crate::{all_methods, jwt_parts, unique_phone};

async fn sms_client(app: &TestApp) -> TestClient {
    app.register_client_with(false, Alg::RS256, all_methods()).await
}

/// The login page of a new sign-in for `client`: (browser, its path, its HTML).
async fn login_page(app: &TestApp, client: &TestClient) -> (testkit::Browser, String, String) {
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(app, client, &[])).await);
    let html = browser.get(&login).await.text().await.unwrap();
    (browser, login, html)
}

both_backends!(a_texted_code_signs_in_and_the_tokens_say_sms, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = sms_client(&app).await;
    let phone = unique_phone();
    let browser = app.browser();
    let url = authorize_url_with(&app, &client, &["scope"], &[("scope", "openid phone")]);
    // Typed the way people do: spaces, and the number normalised to E.164.
    let spaced = format!("{} {} {}", &phone[..3], &phone[3..7], &phone[7..]);
    let code_page = app.start_login_with(&browser, &url, ("phone", &spaced)).await;
    let page = browser.get(&code_page).await.text().await.unwrap();
    assert!(page.contains("Check your phone"), "{page}");
    assert!(!page.contains(&phone), "the page shows the number masked: {page}");
    let message = app.message_to(&phone).await;
    assert_eq!(message.channel, "sms");
    assert!(message.text.ends_with(&format!("#{}", message.code())), "WebOTP line: {}", message.text);
    let resp = app.submit_code(&browser, &code_page, &message.code()).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&browser, &location(&resp)).await;
    let tokens = exchange(&app, &client, &back).await;
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["sms"]));
    assert_eq!(claims["phone_number"], phone.as_str());
    assert_eq!(claims["phone_number_verified"], true);
});

both_backends!(one_page_offers_email_and_phone_as_the_client_enables_them, |db: Db| async move {
    let app = spawn_app(db).await;
    let both = sms_client(&app).await;
    let (_, _, html) = login_page(&app, &both).await;
    assert!(html.contains("id=\"email-form\"") && html.contains("id=\"phone-form\""), "{html}");
    assert!(html.contains("autocomplete=\"tel\"") && html.contains("type=\"tel\""));

    let email_only = app.register_client(false, Alg::RS256).await;
    let (browser, login, html) = login_page(&app, &email_only).await;
    assert!(html.contains("id=\"email-form\"") && !html.contains("id=\"phone-form\""), "{html}");
    // A number posted anyway is refused, not texted.
    let resp = app.submit_login(&browser, &login, ("phone", &unique_phone())).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("not available"));

    let sms_only = ClientSettings { login_methods: vec![LoginMethod::SmsCode], ..Default::default() };
    let sms_only = app.register_client_with(false, Alg::RS256, sms_only).await;
    let (_, _, html) = login_page(&app, &sms_only).await;
    assert!(!html.contains("id=\"email-form\"") && html.contains("id=\"phone-form\""), "{html}");

    // Without an SMS provider, no client is offered texts.
    let app = spawn_app_with(db, |s| s.delivery.sms = vec![]).await;
    let both = sms_client(&app).await;
    let (_, _, html) = login_page(&app, &both).await;
    assert!(!html.contains("id=\"phone-form\""), "{html}");
});

both_backends!(invalid_numbers_and_other_countries_get_a_clear_message, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.passwordless.sms.allowed_countries = vec!["GB".into()]).await;
    let client = sms_client(&app).await;
    let (browser, login, _) = login_page(&app, &client).await;
    let resp = app.submit_login(&browser, &login, ("phone", "12")).await;
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap();
    assert!(html.contains("phone number") && html.contains("aria-invalid"), "{html}");
    let resp = app.submit_login(&browser, &login, ("phone", "+1 201 555 0123")).await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("cannot send text messages to numbers in this country"));
    assert!(app.outbox().await.is_empty(), "nothing was sent");
});

both_backends!(texts_to_one_number_prefix_are_limited_per_hour, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.passwordless.sms.sends_per_prefix_per_hour = 2).await;
    let client = sms_client(&app).await;
    // Three numbers in the same range (+44 7400 12…), as SMS pumping buys them.
    for (i, number) in ["+447400120001", "+447400120002", "+447400120003"].into_iter().enumerate() {
        let (browser, login, _) = login_page(&app, &client).await;
        let resp = app.submit_login(&browser, &login, ("phone", number)).await;
        if i < 2 {
            assert_eq!(resp.status(), 303, "{number}");
        } else {
            assert_eq!(resp.status(), 429, "the third text to the prefix waits");
            assert!(resp.headers().get("retry-after").is_some());
        }
    }
    // Another prefix is unaffected.
    let (browser, login, _) = login_page(&app, &client).await;
    assert_eq!(app.submit_login(&browser, &login, ("phone", "+447400999999")).await.status(), 303);
});

both_backends!(the_code_page_offers_the_other_channel, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = sms_client(&app).await;
    let browser = app.browser();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &crate::unique_email()).await;
    let html = browser.get(&code_page).await.text().await.unwrap();
    assert!(html.contains("Use my phone instead") && html.contains("?use=sms"), "{html}");
    let login = code_page.trim_end_matches("/code");
    let html = browser.get(&format!("{login}?use=sms")).await.text().await.unwrap();
    let phone_input = html.split("id=\"phone\"").nth(1).unwrap().split('>').next().unwrap();
    assert!(phone_input.contains("autofocus"), "the phone field is focused: {html}");
    // A second start with the phone retires the emailed code (one live challenge per sign-in).
    let first = app.message_to(&app.outbox().await[0].to).await;
    let phone = unique_phone();
    let resp = app.submit_login(&browser, login, ("phone", &phone)).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(app.submit_code(&browser, &code_page, &first.code()).await.status(), 400);
    let text = app.message_to(&phone).await;
    assert_eq!(app.submit_code(&browser, &code_page, &text.code()).await.status(), 303);
});

both_backends!(
    a_number_without_its_country_code_is_read_in_the_clients_then_the_browsers_region,
    |db: Db| async move {
        let app = spawn_app(db).await;
        let phone = unique_phone(); // +447400…: a UK mobile, typed as 07400…
        let national = format!("0{}", &phone[3..]);
        let submit = |client: TestClient, accept_language: &'static str, typed: String| {
            let app = &app;
            async move {
                let browser = app.browser();
                let login = location(&browser.get(&authorize_url(app, &client, &[])).await);
                let page = browser.client.get(app.url(&login)).header("accept-language", accept_language).send().await;
                let html = page.unwrap().text().await.unwrap();
                let csrf = testkit::csrf_of(&html);
                let form = [("csrf", csrf.as_str()), ("phone", typed.as_str())];
                let post = browser.client.post(app.url(&login)).header("accept-language", accept_language).form(&form);
                (html, post.send().await.unwrap().status().as_u16())
            }
        };
        // The client's region wins.
        let gb = ClientSettings { phone_region: Some("GB".into()), ..all_methods() };
        let client = app.register_client_with(false, Alg::RS256, gb).await;
        let (html, status) = submit(client, "fr-FR", national.clone()).await;
        assert!(html.contains("numéro GB (+44)"), "the prefix assumed is shown, in the page's language: {html}");
        assert!(html.contains("<option value=\"GB\" selected>+44 GB</option>"), "and chosen beside the field");
        assert_eq!(status, 303);
        assert_eq!(app.message_to(&phone).await.channel, "sms");
        // Without one (and no deployment default), the region the browser's language names.
        let client = sms_client(&app).await;
        let second = unique_phone();
        let (html, status) = submit(client.clone(), "en-GB,en;q=0.8", format!("0{}", &second[3..])).await;
        assert!(html.contains("GB (+44)"), "{html}");
        assert_eq!(status, 303);
        assert_eq!(app.message_to(&second).await.channel, "sms");
        // A language that names no region: the country code is needed, and the page says so.
        let id = domain::ClientId::parse(&client.id).unwrap();
        let (html, status) = submit(client, "en", format!("0{}", &unique_phone()[3..])).await;
        assert!(html.contains("With the country code"), "{html}");
        assert!(html.contains("<option value=\"\" selected>+…</option>"), "no country assumed: {html}");
        assert_eq!(status, 400);
        // The country picked beside the number wins over the one assumed.
        let browser = app.browser();
        let client = sms_client(&app).await;
        let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
        let html = browser.get(&login).await.text().await.unwrap();
        let tail = &unique_phone()[7..];
        let typed = format!("06 12 {tail}");
        let form = [("csrf", testkit::csrf_of(&html)), ("phone", typed), ("region", "fr".to_owned())];
        let resp = browser.post_form(&login, &form.each_ref().map(|(k, v)| (*k, v.as_str()))).await;
        assert_eq!(resp.status(), 303);
        assert_eq!(app.message_to(&format!("+33612{tail}")).await.channel, "sms");
        // A client's region must be one.
        let mut record = app.store.client(&id).await.unwrap().unwrap();
        record.settings.phone_region = Some("XX".into());
        assert!(domain::client_rules::check_metadata(&record).is_err(), "XX is no region");
    }
);

// Issue 16: without a client's region, the deployment's (`sms.default_region`) comes before the
// browser's language.
both_backends!(the_deployments_region_comes_before_the_browsers, |db: Db| async move {
    let app = spawn_app_with(db, |s| s.passwordless.sms.default_region = Some("GB".into())).await;
    let client = sms_client(&app).await;
    let phone = unique_phone(); // +447400…, typed as 07400… by someone whose browser says French
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let page = browser.client.get(app.url(&login)).header("accept-language", "fr-FR").send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("numéro GB (+44)"), "the deployment's region is assumed: {html}");
    let form = [("csrf", testkit::csrf_of(&html)), ("phone", format!("0{}", &phone[3..]))];
    let post = browser.client.post(app.url(&login)).header("accept-language", "fr-FR").form(&form);
    assert_eq!(post.send().await.unwrap().status(), 303);
    assert_eq!(app.message_to(&phone).await.channel, "sms");
});

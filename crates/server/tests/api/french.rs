//! Every page a user can meet, rendered in French, carries no English sentence of the catalog
//! (issue 9): texts come from the language tables, never from the code.

use authorization_server::Alg;
use domain::{ClientSettings, StepUp, StepUpPolicy, WithoutFactor};
use testkit::{Browser, Db, TestApp, TestClient, both_backends, csrf_of, location, spawn_app_with};

use crate::oidc::authorize_url;
use crate::{all_methods, api_methods, unique_email};

/// The English texts that a French page must not contain: every English value that French
/// translates differently, cut at its `{placeholders}`, in pieces long enough to be sentences.
fn english_sentences() -> Vec<String> {
    let parse = |text: &str| -> std::collections::BTreeMap<String, String> { toml::from_str(text).unwrap() };
    let en = parse(include_str!("../../../../templates/i18n/en.toml"));
    let fr = parse(include_str!("../../../../templates/i18n/fr.toml"));
    let mut out = Vec::new();
    for (key, value) in &en {
        if fr.get(key) == Some(value) {
            continue;
        }
        let mut piece = String::new();
        let mut in_placeholder = false;
        for c in value.chars().chain(std::iter::once('{')) {
            match c {
                '{' => {
                    in_placeholder = true;
                    if piece.trim().chars().count() >= 12 {
                        out.push(piece.trim().to_owned());
                    }
                    piece.clear();
                }
                '}' => in_placeholder = false,
                _ if !in_placeholder => piece.push(c),
                _ => {}
            }
        }
    }
    out
}

/// Whether `page` contains `sentence` as a phrase of its own (not inside a longer word), as
/// written or HTML-escaped.
fn contains_phrase(page: &str, sentence: &str) -> bool {
    let escaped = sentence.replace('&', "&amp;").replace('\'', "&#x27;").replace('"', "&quot;");
    [sentence.to_owned(), escaped].iter().any(|s| {
        page.match_indices(s.as_str()).any(|(i, _)| {
            let before = page[..i].chars().next_back().is_none_or(|c| !c.is_alphabetic());
            let after = page[i + s.len()..].chars().next().is_none_or(|c| !c.is_alphabetic());
            before && after
        })
    })
}

/// Collects French pages and checks each.
struct Pages {
    english: Vec<String>,
    seen: usize,
}

impl Pages {
    async fn check(&mut self, what: &str, resp: reqwest::Response) -> String {
        let html = resp.text().await.unwrap();
        assert!(html.contains("lang=\"fr\""), "{what} is not in French: {html}");
        for sentence in &self.english {
            assert!(!contains_phrase(&html, sentence), "{what} shows the English {sentence:?}:\n{html}");
        }
        self.seen += 1;
        html
    }

    async fn get(&mut self, what: &str, browser: &Browser, path: &str) -> String {
        let resp = browser.get(path).await;
        self.check(what, resp).await
    }
}

async fn french_app(db: Db) -> TestApp {
    spawn_app_with(db, |s| {
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.passwordless.limits.sends_per_destination_per_minute = 1;
    })
    .await
}

/// The code page's path after typing `email` on the login page (both checked).
async fn to_code_page(app: &TestApp, pages: &mut Pages, browser: &Browser, client: &TestClient, email: &str) -> String {
    let login = location(&browser.get(&authorize_url(app, client, &[])).await);
    let html = pages.get("the login page", browser, &login).await;
    let resp = browser.post_form(&login, &[("csrf", &csrf_of(&html)), ("email", email)]).await;
    let code_page = location(&resp);
    pages.get("the code page", browser, &code_page).await;
    code_page
}

both_backends!(every_page_in_french_shows_no_english_sentence, |db: Db| async move {
    let app = french_app(db).await;
    let mut pages = Pages { english: english_sentences(), seen: 0 };
    assert!(pages.english.len() > 100, "the catalog is read");
    let client = app.register_client_with(false, Alg::RS256, all_methods()).await;
    let fr = || app.browser_speaking("fr");

    // Sign-in pages: login, code, a wrong code, a resend too soon, the dead code, field errors.
    let browser = fr();
    let email = unique_email();
    let code_page = to_code_page(&app, &mut pages, &browser, &client, &email).await;
    let message = app.message_to(&email).await;
    let csrf = csrf_of(&browser.get(&code_page).await.text().await.unwrap());
    let wrong = format!("{:06}", (message.code().parse::<u32>().unwrap() + 1) % 1_000_000);
    let resp = browser.post_form(&code_page, &[("csrf", &csrf), ("code", &wrong)]).await;
    pages.check("a wrong code", resp).await;
    let resp = browser.post_form(&code_page.replace("/code", "/resend"), &[("csrf", &csrf)]).await;
    pages.check("a resend too soon", resp).await;
    for _ in 0..2 {
        browser.post_form(&code_page, &[("csrf", &csrf), ("code", &wrong)]).await;
    }
    let resp = browser.post_form(&code_page, &[("csrf", &csrf), ("code", &wrong)]).await;
    pages.check("a dead code", resp).await;
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let html = browser.get(&login).await.text().await.unwrap();
    let resp = browser.post_form(&login, &[("csrf", &csrf_of(&html)), ("email", "not-an-address")]).await;
    pages.check("an email error", resp).await;
    let resp = browser.post_form(&login, &[("csrf", &csrf_of(&html)), ("phone", "12")]).await;
    pages.check("a phone error", resp).await;

    // Magic links: in the same browser, elsewhere (approval), a wrong number, approved, expired.
    let laptop = fr();
    let email = unique_email();
    to_code_page(&app, &mut pages, &laptop, &client, &email).await;
    let link = app.message_to(&email).await.link();
    pages.get("the link page", &laptop, &link).await;
    let phone = fr();
    let html = pages.get("the approval page", &phone, &link).await;
    let token = link.rsplit('/').next().unwrap();
    let form = [("csrf", csrf_of(&html)), ("token", token.to_owned()), ("number", "00".to_owned())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    pages.check("a wrong number", phone.post_form("/login/link/approve", &form).await).await;
    pages.get("an expired link", &phone, "/login/link/nothing-here").await;
    let strict = app
        .register_client_with(false, Alg::RS256, ClientSettings { cross_device_approval: false, ..Default::default() })
        .await;
    let email = unique_email();
    to_code_page(&app, &mut pages, &fr(), &strict, &email).await;
    pages.get("a link opened elsewhere", &fr(), &app.message_to(&email).await.link()).await;

    // Errors of the login pages and of the authorization endpoint.
    pages.get("an expired sign-in", &fr(), "/login/AAAAAAAAAAAAAAAAAAAAAA").await;
    let login = location(&fr().get(&authorize_url(&app, &client, &[])).await);
    pages.get("another browser's sign-in", &fr(), &login).await;
    pages.get("an unknown application", &fr(), "/authorize?client_id=nobody&response_type=code").await;
    let bad_redirect = authorize_url(&app, &client, &[]).replace("127.0.0.1%3A9", "evil.example");
    pages.get("an unregistered redirect URI", &fr(), &bad_redirect).await;
    pages.get("a repeated parameter", &fr(), &format!("{}&state=again", authorize_url(&app, &client, &[]))).await;
    pages.get("an expired resume", &fr(), "/authorize/resume/AAAAAAAAAAAAAAAAAAAAAA").await;
    pages.get("the unblock link, dead", &fr(), "/unblock/nothing-here").await;
    pages.get("the not-me link, dead", &fr(), "/not-me/nothing-here").await;
    pages.get("a page that does not exist", &fr(), "/no/such/page").await;
    let resp = fr().post_form(&login, &[("email", "x@example.com")]).await;
    pages.check("a form without its CSRF token", resp).await;

    // Signed in: form_post, the sign-out question, signed out, a refused sign-out.
    let browser = fr();
    let email = unique_email();
    app.sign_in(&browser, &authorize_url(&app, &client, &[]), &email).await;
    pages.get("the form_post page", &browser, &authorize_url(&app, &client, &[("response_mode", "form_post")])).await;
    let html = pages.get("the sign-out question", &browser, "/logout").await;
    let resp = browser.post_form("/logout/confirm", &[("csrf", &csrf_of(&html))]).await;
    pages.check("signed out", resp).await;
    pages.get("a refused sign-out", &fr(), "/logout?id_token_hint=forged").await;
    pages.get("a sign-out for an unknown app", &fr(), "/logout?client_id=nobody").await;

    // Step-up: enrolment, the recovery codes, the factor page, a wrong code.
    let enrolling = ClientSettings {
        step_up: StepUp { policy: StepUpPolicy::Always, without_factor: WithoutFactor::Enroll },
        ..Default::default()
    };
    let client = app.register_client_with(false, Alg::RS256, enrolling).await;
    let browser = fr();
    let email = unique_email();
    let step_up = crate::stepup::first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &email).await;
    let enroll = location(&browser.get(&step_up).await);
    let html = pages.get("the enrolment page", &browser, &enroll).await;
    let secret: String = html.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().replace(' ', "");
    assert!(html.contains("Ouvrir dans votre application"), "{html}");
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(&secret).unwrap())
        .with_account_name("test")
        .build()
        .unwrap();
    let code = totp.generate(domain::Clock::now(&app.clock) as u64).to_string();
    let resp = browser.post_form(&enroll, &[("csrf", &csrf_of(&html)), ("code", "000000")]).await;
    pages.check("a wrong enrolment code", resp).await;
    let resp = browser.post_form(&enroll, &[("csrf", &csrf_of(&html)), ("code", &code)]).await;
    pages.check("the recovery codes", resp).await;
    app.clock.advance(61);
    let browser = fr();
    let step_up = crate::stepup::first_factor(&app, &browser, &authorize_url(&app, &client, &[]), &email).await;
    let html = pages.get("the step-up page", &browser, &step_up).await;
    let resp = browser.post_form(&format!("{step_up}/totp"), &[("csrf", &csrf_of(&html)), ("code", "000000")]).await;
    pages.check("a wrong second factor", resp).await;

    // A link sent by the API to a browser signed in as someone else: "switch account?".
    let api = app.register_client_with(false, Alg::RS256, api_methods()).await;
    let browser = fr();
    app.sign_in(&browser, &authorize_url(&app, &api, &[]), &unique_email()).await;
    let other = unique_email();
    let body = serde_json::json!({
        "client_id": api.id, "client_secret": api.secret, "connection": "email", "email": other, "send": "link",
        "authParams": { "redirect_uri": api.redirect_uri, "scope": "openid", "code_challenge": crate::oidc::CHALLENGE,
                        "code_challenge_method": "S256" },
    });
    assert_eq!(app.api.post(app.url("/passwordless/start")).json(&body).send().await.unwrap().status(), 200);
    let link = app.message_to(&other).await.link();
    let html = pages.get("a link of the API", &browser, &link).await;
    let token = link.rsplit('/').next().unwrap();
    let resp = browser.post_form("/login/link", &[("csrf", &csrf_of(&html)), ("token", token)]).await;
    let resume = location(&browser.get(&location(&resp)).await);
    pages.get("switch account?", &browser, &resume).await;

    assert!(pages.seen >= 35, "{} pages checked", pages.seen);
});

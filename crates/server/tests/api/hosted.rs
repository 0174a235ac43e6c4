//! The hosted pages beyond the basic flow: a magic link approved on another device, languages
//! (`ui_locales`, then `Accept-Language`), and a client's branding.

use authorization_server::Alg;
use domain::{Branding, ClientSettings};
use testkit::{Db, both_backends, csrf_of, location, query_param, spawn_app};

use crate::oidc::authorize_url;
use crate::unique_email;

both_backends!(a_link_approved_on_another_device_signs_in_the_waiting_browser, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let laptop = app.browser();
    let email = unique_email();
    let code_page = app.start_login(&laptop, &authorize_url(&app, &client, &[]), &email).await;
    let waiting = laptop.get(&code_page).await.text().await.unwrap();
    let number = waiting
        .split("class=\"match\"")
        .nth(1)
        .unwrap()
        .split('>')
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(number.len(), 2, "a two-digit matching number: {waiting}");
    // Hidden until the link is opened on another device, so nobody types it as the code.
    let approval_tag = |page: &str| page.split("id=\"approval\"").nth(1).unwrap().split('>').next().unwrap().to_owned();
    assert!(approval_tag(&waiting).contains("hidden"), "{waiting}");
    let status = code_page.replace("/code", "/status");
    let state = |body: serde_json::Value| body["state"].as_str().unwrap().to_owned();
    assert_eq!(state(laptop.get(&status).await.json().await.unwrap()), "waiting");

    // The phone opens the link: it shows where the sign-in started, never the number, and asks
    // for the number the laptop shows.
    let phone = app.browser();
    let link = app.message_to(&email).await.link();
    let page = phone.get(&link).await.text().await.unwrap();
    assert!(!page.contains(&format!(">{number}<")), "the number is shown only on the laptop: {page}");
    assert!(page.contains("name=\"number\""), "{page}");
    assert!(page.contains("127.0.0.1"), "where the sign-in started: {page}");
    // The laptop now shows its number (polling sees `opened`; a reload shows it too).
    assert_eq!(state(laptop.get(&status).await.json().await.unwrap()), "opened");
    let shown = laptop.get(&code_page).await.text().await.unwrap();
    assert!(!approval_tag(&shown).contains("hidden") && shown.contains(&format!(">{number}<")), "{shown}");
    // The laptop cannot continue before the approval.
    let approved_path = code_page.replace("/code", "/approved");
    let resp = laptop.post_form(&approved_path, &[("csrf", &csrf_of(&waiting))]).await;
    assert_eq!(resp.status(), 409);
    let token = link.rsplit('/').next().unwrap();
    // A mail scanner that submits the form as it finds it approves nothing; nor does a wrong number.
    let resp = phone.post_form("/login/link/approve", &[("csrf", &csrf_of(&page)), ("token", token)]).await;
    assert_eq!(resp.status(), 400);
    let wrong = format!("{}", 10 + (number.parse::<u32>().unwrap() - 10 + 1) % 90);
    let resp = phone
        .post_form("/login/link/approve", &[("csrf", &csrf_of(&page)), ("token", token), ("number", &wrong)])
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("Nothing was approved"));
    assert_eq!(state(laptop.get(&status).await.json().await.unwrap()), "opened");
    let resp = phone
        .post_form("/login/link/approve", &[("csrf", &csrf_of(&page)), ("token", token), ("number", &number)])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("Sign-in approved"));
    // Approving twice does nothing more, and the phone got no session.
    let again = phone
        .post_form("/login/link/approve", &[("csrf", &csrf_of(&page)), ("token", token), ("number", &number)])
        .await;
    assert_eq!(again.status(), 400);
    let resp = phone.get(&authorize_url(&app, &client, &[("prompt", "none")])).await;
    assert_eq!(query_param(&url::Url::parse(&location(&resp)).unwrap(), "error").as_deref(), Some("login_required"));

    // The laptop, polling, sees the approval and continues signed in.
    assert_eq!(state(laptop.get(&status).await.json().await.unwrap()), "approved");
    let resp = laptop.post_form(&approved_path, &[("csrf", &csrf_of(&waiting))]).await;
    assert_eq!(resp.status(), 303);
    let back = app.resume(&laptop, &location(&resp)).await;
    assert!(query_param(&back, "code").is_some());
    // The status of another browser's sign-in is not readable.
    assert_eq!(state(phone.get(&status).await.json().await.unwrap()), "expired");
});

both_backends!(pages_and_messages_follow_ui_locales_then_accept_language, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    // ui_locales from the application.
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[("ui_locales", "de fr-CA")])).await);
    let html = browser.get(&login).await.text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\">") && html.contains("Se connecter"), "{html}");
    let email = unique_email();
    let resp = app.submit_login(&browser, &login, ("email", &email)).await;
    assert_eq!(resp.status(), 303);
    let message = app.message_to(&email).await;
    assert!(message.subject.starts_with("Votre code de connexion"), "{}", message.subject);
    assert!(message.text.contains("mot de passe"), "{}", message.text);

    // Accept-Language when the application says nothing; English otherwise.
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let french =
        browser.client.get(app.url(&login)).header("accept-language", "fr-FR,fr;q=0.9,en;q=0.5").send().await.unwrap();
    assert!(french.text().await.unwrap().contains("<html lang=\"fr\">"));
    let english = browser.get(&login).await.text().await.unwrap();
    assert!(english.contains("<html lang=\"en\">") && english.contains("Sign in to Test app"), "{english}");

    // Field errors and the authorization server's own pages are translated too.
    let unknown = app.url("/authorize?client_id=unknown");
    let page = browser.client.get(unknown).header("accept-language", "fr").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Application inconnue"), "{page}");
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[("ui_locales", "fr")])).await);
    let resp = app.submit_login(&browser, &login, ("email", "not-an-address")).await;
    assert!(resp.text().await.unwrap().contains("Cela ne ressemble pas à une adresse e-mail"));
});

both_backends!(a_clients_branding_reaches_its_pages, |db: Db| async move {
    let app =
        testkit::spawn_app_with(db, |s| s.passwordless.email_subject = "{product}: sign in to {client}".into()).await;
    let branding = Branding {
        product_name: Some("Acme ID".into()),
        primary_color: Some("#0a7".into()),
        logo_url: Some("https://cdn.acme.example/logo.svg".into()),
        css_url: Some("https://static.acme.example/login.css".into()),
        ..Default::default()
    };
    let client = app.register_client_with(false, Alg::RS256, ClientSettings { branding, ..Default::default() }).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let resp = browser.get(&login).await;
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("img-src 'self' data: https://cdn.acme.example;"), "{csp}");
    assert!(csp.contains("style-src 'self' https://static.acme.example;"), "{csp}");
    // Tera escapes `/` in attributes as `&#x2F;`, which browsers read back as `/`.
    let html = resp.text().await.unwrap().replace("&#x2F;", "/");
    assert!(html.contains(&format!("href=\"/brand/{}.css\"", client.id)), "{html}");
    assert!(html.contains("src=\"https://cdn.acme.example/logo.svg\""));
    assert!(html.contains("href=\"https://static.acme.example/login.css\""));
    assert!(html.contains("Acme ID"));
    let css = browser.get(&format!("/brand/{}.css", client.id)).await;
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    // #0a7 is too light for white text (3:1): black on the buttons; links take the page's text
    // colour on the white card, and the brand colour on the dark one, where it reads (WCAG AA).
    assert_eq!(
        css.text().await.unwrap().trim(),
        ":root { --accent: #0a7; --on-accent: #000; --link: #1b1f24; }\n\
         @media (prefers-color-scheme: dark) { :root { --link: #0a7; } }"
    );
    // Unbranded clients get no brand stylesheet.
    let plain = app.register_client(false, Alg::RS256).await;
    assert_eq!(browser.get(&format!("/brand/{}.css", plain.id)).await.status(), 404);
    // Messages carry the branded product name too.
    let email = unique_email();
    assert_eq!(app.submit_login(&browser, &login, ("email", &email)).await.status(), 303);
    let message = app.message_to(&email).await;
    assert!(message.text.contains("Acme ID never asks"));
    assert_eq!(message.subject, "Acme ID: sign in to Test app", "the configured subject");
    // The HTML email is headed by the logo and, for mail clients that block images, the name.
    let html = message.html.as_deref().unwrap().replace("&#x2F;", "/");
    let header = html.split("<strong").nth(1).map(|rest| rest.split("</div>").next().unwrap()).unwrap_or_default();
    assert!(html.contains("<img src=\"https://cdn.acme.example/logo.svg\" alt=\"\""), "{html}");
    assert!(header.contains(">Acme ID</strong>"), "{html}");
});

both_backends!(a_client_can_turn_cross_device_approval_off, |db: Db| async move {
    let app = spawn_app(db).await;
    let settings = ClientSettings { cross_device_approval: false, ..Default::default() };
    let client = app.register_client_with(false, Alg::RS256, settings).await;
    let laptop = app.browser();
    let email = unique_email();
    let code_page = app.start_login(&laptop, &authorize_url(&app, &client, &[]), &email).await;
    let waiting = laptop.get(&code_page).await.text().await.unwrap();
    assert!(!waiting.contains("id=\"approval\"") && !waiting.contains("class=\"match\""), "{waiting}");
    // The link opened elsewhere only says where to open it; an approval is refused.
    let phone = app.browser();
    let link = app.message_to(&email).await.link();
    let page = phone.get(&link).await.text().await.unwrap();
    assert!(!page.contains("/login/link/approve"), "{page}");
    let token = link.rsplit('/').next().unwrap();
    // (The phone's CSRF token, from a page of its own.)
    let login = location(&phone.get(&authorize_url(&app, &client, &[])).await);
    let csrf = csrf_of(&phone.get(&login).await.text().await.unwrap());
    let resp = phone.post_form("/login/link/approve", &[("csrf", &csrf), ("token", token), ("number", "42")]).await;
    assert_eq!(resp.status(), 403);
    // The laptop still signs in with the code.
    let code = app.message_to(&email).await.code();
    assert_eq!(app.submit_code(&laptop, &code_page, &code).await.status(), 303);
});

both_backends!(error_pages_give_a_code_and_the_request_id_to_look_up, |db: Db| async move {
    let app = spawn_app(db).await;
    let browser = app.browser();
    let resp = browser.get("/login/link/not-a-real-token").await;
    assert_eq!(resp.status(), 400);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!("Error code: link_expired · request {id}")), "{html}");
    // In the page's language; and a page that is no error has no code.
    let french = browser
        .client
        .get(app.url("/login/link/not-a-real-token"))
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    assert!(french.text().await.unwrap().contains("Code d’erreur : link_expired"));
    let client = app.register_client(false, Alg::RS256).await;
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    assert!(!browser.get(&login).await.text().await.unwrap().contains("id=\"error-code\""));
    // An unknown application at /authorize: its own code.
    let unknown = browser.get("/authorize?client_id=unknown").await.text().await.unwrap();
    assert!(unknown.contains("Error code: unknown_app"), "{unknown}");
});

both_backends!(pages_load_static_files_by_versioned_urls, |db: Db| async move {
    let app = spawn_app(db).await;
    let client = app.register_client(false, Alg::RS256).await;
    let browser = app.browser();
    let login = location(&browser.get(&authorize_url(&app, &client, &[])).await);
    let email = unique_email();
    let code_page = app.start_login(&browser, &authorize_url(&app, &client, &[]), &email).await;
    for (page, file) in [(login, "ostiary.css"), (code_page, "login.js")] {
        let html = browser.get(&page).await.text().await.unwrap().replace("&#x2F;", "/");
        // A browser that cached an older version fetches the new one after an upgrade.
        let url = html
            .split(&format!("\"/static/{file}?v="))
            .nth(1)
            .map(|rest| format!("/static/{file}?v={}", rest.split('"').next().unwrap()))
            .unwrap_or_else(|| panic!("{file} by a versioned URL: {html}"));
        let resp = browser.get(&url).await;
        assert_eq!(resp.status(), 200, "{url}");
        assert!(!resp.text().await.unwrap().is_empty());
    }
});

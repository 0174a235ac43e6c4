//! The console's client pages (create, edit with the login page's preview, rotate, disable), and
//! the rule that a non-admin is refused on every console page with nothing about anyone.

use testkit::{Db, both_backends, csrf_of, location};

use crate::admin_console::{console_admin, make_admin};
use crate::stepup::{enrol, first_factor};
use crate::unique_email;

fn form<'a>(fields: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

both_backends!(admins_create_edit_rotate_disable_and_preview_clients_in_the_console, |db: Db| async move {
    let app = testkit::spawn_app(db).await;
    let (browser, _) = console_admin(&app).await;
    let list = browser.get("/admin/clients").await;
    assert_eq!(list.status(), 200);
    let html = list.text().await.unwrap();
    assert!(
        !html.contains("admin-console") && !html.contains("/admin/clients/account"),
        "the server's own are not listed"
    );
    let fields =
        [("csrf", csrf_of(&html)), ("name", "Acme".into()), ("redirect_uris", "https://acme.example/cb\n".into())];
    let made = browser.post_form("/admin/clients", &form(&fields)).await;
    assert_eq!(made.status(), 201);
    let html = made.text().await.unwrap();
    let id = html.split("id=\"client-id\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let secret = html.split("id=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let client = app.store.client(&domain::ClientId::parse(&id).unwrap()).await.unwrap().unwrap();
    assert!(
        domain::client_rules::secret_matches(&client, &secret, &app.master.hasher(), 0),
        "the secret shown is the client's"
    );
    // A bad redirect URI is refused with the rule's words.
    let bad = [("csrf", csrf_of(&html)), ("name", "Bad".into()), ("redirect_uris", "javascript:alert(1)".into())];
    assert_eq!(browser.post_form("/admin/clients", &form(&bad)).await.status(), 422);

    // Edit: methods, API login, step-up, branding; the preview follows.
    let path = format!("/admin/clients/{id}");
    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("id=\"preview\"") && page.contains("/static/admin.js"), "{page}");
    let edit = |version: i64, colour: &str| {
        vec![
            ("csrf", csrf_of(&page)),
            ("version", version.to_string()),
            ("name", "Acme Cloud".into()),
            ("redirect_uris", "https://acme.example/cb\nhttps://acme.example/cb2".into()),
            ("post_logout_redirect_uris", "https://acme.example/bye".into()),
            ("login_methods", "email_code".into()),
            ("login_methods", "sms_code".into()),
            ("api_login", "on".into()),
            ("refresh_tokens", "never".into()),
            ("step_up_policy", "always".into()),
            ("without_factor", "enroll".into()),
            ("product_name", "Acme".into()),
            ("primary_color", colour.into()),
            ("logo_url", "".into()),
            ("css_url", "".into()),
            ("policy_url", "https://acme.example/privacy".into()),
        ]
    };
    let wrong_colour = edit(client.version, "red; }");
    assert_eq!(browser.post_form(&path, &form(&wrong_colour)).await.status(), 422);
    let good = edit(client.version, "#123456");
    let saved = browser.post_form(&path, &form(&good)).await;
    assert_eq!(saved.status(), 200);
    let now = app.store.client(&client.id).await.unwrap().unwrap();
    let s = &now.settings;
    assert_eq!(now.name, "Acme Cloud");
    assert_eq!(now.redirect_uris.len(), 2);
    assert_eq!(s.login_methods, vec![domain::LoginMethod::EmailCode, domain::LoginMethod::SmsCode]);
    assert!(s.api_login && !s.cross_device_approval);
    assert_eq!(s.step_up.policy, domain::StepUpPolicy::Always);
    assert_eq!(s.branding.primary_color.as_deref(), Some("#123456"));
    assert_eq!(s.branding.policy_url.as_deref(), Some("https://acme.example/privacy"));
    assert_eq!(s.branding.client_url, None);
    // The same form again, from the old version: both versions, nothing saved.
    let stale = browser.post_form(&path, &form(&edit(client.version, "#654321"))).await;
    assert_eq!(stale.status(), 409);
    assert!(stale.text().await.unwrap().contains("id=\"conflict\""));
    assert_eq!(
        app.store.client(&client.id).await.unwrap().unwrap().settings.branding.primary_color.as_deref(),
        Some("#123456")
    );

    // The login page as users see it: its product name and colour.
    let preview = browser.get(&format!("{path}/preview")).await;
    assert_eq!(preview.status(), 200);
    let html = preview.text().await.unwrap().replace("&#x2F;", "/");
    assert!(
        html.contains("Acme") && html.contains(&format!("/brand/{id}.css")) && html.contains("id=\"phone\""),
        "{html}"
    );

    // A new secret; the old one keeps working through the grace period.
    let page = browser.get(&path).await.text().await.unwrap();
    let rotated = browser.post_form(&format!("{path}/secret"), &[("csrf", &csrf_of(&page))]).await;
    assert_eq!(rotated.status(), 200);
    let new_secret =
        rotated.text().await.unwrap().split("id=\"secret\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let client = app.store.client(&client.id).await.unwrap().unwrap();
    let now = domain::Clock::now(&app.clock);
    assert!(domain::client_rules::secret_matches(&client, &new_secret, &app.master.hasher(), now));
    assert!(
        domain::client_rules::secret_matches(&client, &secret, &app.master.hasher(), now),
        "the old one, for a day"
    );

    // Disable, then enable.
    let page = browser.get(&path).await.text().await.unwrap();
    let off = browser.post_form(&format!("{path}/status"), &[("csrf", &csrf_of(&page)), ("disabled", "true")]).await;
    assert_eq!(off.status(), 200);
    assert!(app.store.client(&client.id).await.unwrap().unwrap().disabled_at.is_some());
    let on = browser.post_form(&format!("{path}/status"), &[("csrf", &csrf_of(&page)), ("disabled", "false")]).await;
    assert_eq!(on.status(), 200);
    assert!(app.store.client(&client.id).await.unwrap().unwrap().disabled_at.is_none());

    // The server's own clients have no page here.
    assert_eq!(browser.get("/admin/clients/admin-console").await.status(), 404);
    assert_eq!(browser.get("/admin/clients/account").await.status(), 404);
});

both_backends!(a_non_admin_is_refused_on_every_console_page_with_nothing_in_the_body, |db: Db| async move {
    let app = testkit::spawn_app(db).await;
    // Something to find: an admin and a client.
    let admin = unique_email();
    make_admin(&app, &admin).await;
    let admin_id = app.store.user_by_email(&domain::EmailAddress::parse(&admin).unwrap()).await.unwrap().unwrap().id;
    let client = app.register_client(false, authorization_server::Alg::RS256).await;
    // A user who is not an admin, signed in with two factors.
    let user = unique_email();
    let browser = app.browser();
    let authorize = location(&browser.get("/admin").await);
    let step_up = first_factor(&app, &browser, &authorize, &user).await;
    let (_, _, back) = enrol(&app, &browser, &step_up).await;
    browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    let csrf = csrf_of(&browser.get("/account").await.text().await.unwrap_or_default());
    let mut refused = 0;
    for endpoint in admin::Admin::endpoints() {
        if !endpoint.path.starts_with("/admin") || endpoint.path == "/admin/callback" {
            continue;
        }
        let path = endpoint
            .path
            .replace("{id}", if endpoint.path.starts_with("/admin/clients") { &client.id } else { admin_id.as_str() })
            .replace("{sid}", "some-session");
        for resp in [browser.get(&path).await, browser.post_form(&path, &[("csrf", &csrf)]).await] {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap();
            assert!([403, 404, 405].contains(&status), "{path}: {status} {body}");
            assert!(!body.contains(&admin) && !body.contains(&client.id) && !body.contains(&user), "{path}: {body}");
            refused += usize::from(status == 403);
        }
    }
    assert!(refused >= 20, "every console page answered (refused {refused})");
});

both_backends!(admins_create_users_and_read_alerts_and_deliveries_in_the_console, |db: Db| async move {
    let app = testkit::spawn_app(db).await;
    let (browser, _) = console_admin(&app).await;
    // A new user, vouched for with a reason: verified, audited.
    let email = unique_email();
    let html = browser.get("/admin/users").await.text().await.unwrap();
    let fields =
        [("csrf", csrf_of(&html)), ("email", email.clone()), ("name", "Grace".into()), ("reason", "ticket 7".into())];
    let made = browser.post_form("/admin/users", &form(&fields)).await;
    assert_eq!(made.status(), 303);
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    assert!(user.email_verified && user.profile.name.as_deref() == Some("Grace"));
    assert_eq!(location(&made), format!("/admin/users/{}", user.id));
    let again = browser.post_form("/admin/users", &form(&fields)).await;
    assert_eq!(again.status(), 422, "the address is taken");
    let none = [("csrf", csrf_of(&html)), ("name", "Nobody".into())];
    assert_eq!(browser.post_form("/admin/users", &form(&none)).await.status(), 422, "an address or a number is needed");
    let audit = app.store.audit_of(&user.id, 5).await.unwrap();
    assert_eq!(audit[0].kind, domain::audit::AuditKind::AdminUserCreated);
    assert_eq!(audit[0].detail["reason"], "ticket 7");

    // A message the provider refused, and an alert: both on the security page.
    use domain::audit::AuditLog;
    use passwordless_connection::storage::{ConnectionAudit, MessageStore};
    let id = domain::MessageId::sortable();
    let message = domain::message::OutgoingMessage {
        id: id.clone(),
        channel: domain::Channel::Email,
        recipient: "bounce@example.com".into(),
        subject: "Your code".into(),
        text_body: "sealed".into(),
        html_body: None,
        leased_until: None,
    };
    let now = domain::Clock::now(&app.clock);
    MessageStore::enqueue_message(&app.store, message, now).await.unwrap();
    app.store.mark_message_failed(&id, "SendGrid 400: The to address is invalid", None).await.unwrap();
    let alert =
        ConnectionAudit::Alert { subject: "The sign-in failure budget was crossed".into(), text: "guessing".into() };
    app.store.record(domain::audit::AuditEntry { what: alert, user: None, client: None, at: now }).await.unwrap();
    let html = browser.get("/admin/security").await.text().await.unwrap();
    let failing = html.split("id=\"failing\"").nth(1).expect("a table of failed deliveries");
    assert!(
        failing.contains("bounce@example.com") && failing.contains("SendGrid 400: The to address is invalid"),
        "{html}"
    );
    let alerts = html.split("id=\"alerts\"").nth(1).expect("a table of alerts");
    assert!(alerts.contains("failure budget"), "{html}");

    // The user's page shows their devices (none yet) beside sessions and sign-ins.
    let activity = browser.get(&format!("/admin/users/{}/activity", user.id)).await.text().await.unwrap();
    assert!(activity.contains("Devices"), "{activity}");

    // The audit log filtered by actor and days.
    let me = app.store.audit_of(&user.id, 1).await.unwrap()[0].detail["actor"]["user_id"].as_str().unwrap().to_owned();
    let day = domain::clock::rfc3339(now)[..10].to_owned();
    let page = browser.get(&format!("/admin/audit?actor={me}&since={day}&until={day}")).await.text().await.unwrap();
    assert!(page.contains("<td>admin.user_created</td>"), "{page}");
    let later = browser.get(&format!("/admin/audit?actor={me}&since=2999-01-01")).await.text().await.unwrap();
    assert!(!later.contains("<td>admin.user_created</td>"), "{later}");
});

both_backends!(
    admins_link_unlink_and_erase_accounts_in_the_console_and_every_form_needs_its_csrf_token,
    |db: Db| async move {
        let app = testkit::spawn_app(db).await;
        let (browser, admin_email) = console_admin(&app).await;
        let (personal, work) = (unique_email(), unique_email());
        for email in [&personal, &work] {
            app.store.create_user(&domain::EmailAddress::parse(email).unwrap(), 0).await.unwrap();
        }
        let find = |email: String| {
            let store = app.store.clone();
            async move { store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap() }
        };
        let (primary, secondary) = (find(personal.clone()).await, find(work.clone()).await);
        let path = format!("/admin/users/{}", primary.id);
        let html = browser.get(&path).await.text().await.unwrap();
        // Link the work address to the personal account, by typing it.
        let linked = browser.post_form(&format!("{path}/links"), &[("csrf", &csrf_of(&html)), ("other", &work)]).await;
        assert_eq!(linked.status(), 303);
        assert_eq!(find(work.clone()).await.linked_to.as_ref(), Some(&primary.id));
        let page = browser.get(&path).await.text().await.unwrap().replace("&#x2F;", "/");
        assert!(page.contains(&format!("{path}/links/{}/unlink", secondary.id)), "{page}");
        let nobody = browser
            .post_form(&format!("{path}/links"), &[("csrf", &csrf_of(&html)), ("other", "nobody@example.com")])
            .await;
        assert_eq!(nobody.status(), 422);
        let itself =
            browser.post_form(&format!("{path}/links"), &[("csrf", &csrf_of(&html)), ("other", &personal)]).await;
        assert_eq!(itself.status(), 422);
        let unlinked =
            browser.post_form(&format!("{path}/links/{}/unlink", secondary.id), &[("csrf", &csrf_of(&html))]).await;
        assert_eq!(unlinked.status(), 303);
        assert!(find(work.clone()).await.linked_to.is_none());

        // Erasing needs the address typed again; then the account is gone and its trail anonymised.
        let wrong =
            browser.post_form(&format!("{path}/erase"), &[("csrf", &csrf_of(&html)), ("confirm", "someone")]).await;
        assert_eq!(wrong.status(), 422);
        let erased =
            browser.post_form(&format!("{path}/erase"), &[("csrf", &csrf_of(&html)), ("confirm", &personal)]).await;
        assert_eq!(erased.status(), 200);
        assert!(app.store.user_by_email(&domain::EmailAddress::parse(&personal).unwrap()).await.unwrap().is_none());
        let trail = app.store.audit_of(&primary.id, 10).await.unwrap();
        assert_eq!(trail[0].kind, domain::audit::AuditKind::AdminUserErased);
        assert!(!trail.iter().any(|e| e.detail.to_string().contains(&personal)), "{trail:?}");

        // Every form of the console and of the account page refuses a post without its CSRF token.
        let me = app.store.user_by_email(&domain::EmailAddress::parse(&admin_email).unwrap()).await.unwrap().unwrap();
        let client = app.register_client(false, authorization_server::Alg::RS256).await;
        let mut checked = 0;
        for endpoint in admin::Admin::endpoints() {
            if !(endpoint.path.starts_with("/admin") || endpoint.path.starts_with("/account")) {
                continue;
            }
            let path = endpoint
                .path
                .replace("{id}", if endpoint.path.starts_with("/admin/clients") { &client.id } else { me.id.as_str() })
                .replace("{sid}", "some-session")
                .replace("{other}", secondary.id.as_str())
                .replace("{field}", "email")
                .replace("{token}", "some-token");
            let resp =
                browser.post_form(&path, &[("value", "x"), ("confirm", &admin_email), ("disabled", "true")]).await;
            let status = resp.status().as_u16();
            // A path that takes no POST answers 404; every form answers 403 without its token.
            assert!([403, 404].contains(&status), "{path}: {status}");
            checked += usize::from(status == 403);
        }
        assert!(checked >= 25, "every form was tried ({checked})");
        assert!(app.store.user(&me.id).await.unwrap().is_some(), "nothing was done");

        // An admin cannot erase their own account, and is told so in those words.
        let mine = format!("/admin/users/{}", me.id);
        let html = browser.get(&mine).await.text().await.unwrap();
        let refused =
            browser.post_form(&format!("{mine}/erase"), &[("csrf", &csrf_of(&html)), ("confirm", &admin_email)]).await;
        assert_eq!(refused.status(), 422);
        assert!(refused.text().await.unwrap().contains("You cannot erase your own account"));
        assert!(app.store.user(&me.id).await.unwrap().is_some(), "still there");
    }
);

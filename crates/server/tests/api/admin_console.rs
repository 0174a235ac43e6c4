//! The admin console's gate: only an admin, signed in with a second factor and recently, sees a
//! console page; everyone else is sent to sign in or refused with nothing about anyone.

use testkit::{Db, TestApp, both_backends, location, spawn_app};

use crate::stepup::{enrol, first_factor};
use crate::unique_email;

pub(crate) async fn make_admin(app: &TestApp, email: &str) {
    let user = app.store.create_user(&domain::EmailAddress::parse(email).unwrap(), 0).await.unwrap();
    let update = store::users::UserUpdate { is_admin: Some(true), ..Default::default() };
    app.store.update_user(&user.id, update, 0).await.unwrap();
}

both_backends!(only_a_recent_multi_factor_admin_session_opens_the_console, |db: Db| async move {
    let app = spawn_app(db).await;
    let admin = unique_email();
    make_admin(&app, &admin).await;
    let browser = app.browser();
    // No session: off to sign in, demanding a second factor and a recent login.
    let resp = browser.get("/admin").await;
    assert_eq!(resp.status(), 303);
    let authorize = location(&resp);
    let url = url::Url::parse(&app.url(&authorize)).unwrap();
    let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(url.path(), "/authorize");
    assert_eq!(params["acr_values"], domain::Acr::MultiFactor.as_str());
    assert_eq!(params["max_age"], "43200");
    assert_eq!(params["client_id"], "admin-console");
    // The admin signs in; with no factor yet, sets one up; comes back signed in with two.
    let step_up = first_factor(&app, &browser, &authorize, &admin).await;
    let (_, _, back) = enrol(&app, &browser, &step_up).await;
    assert_eq!(back.path(), "/admin/callback");
    let resp = browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    assert_eq!((resp.status().as_u16(), location(&resp).as_str()), (303, "/admin"));
    let home = browser.get("/admin").await;
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains(&admin), "{html}");
    // A callback whose state is not this browser's is refused (login CSRF); one that brings an
    // error back says the sign-in did not finish. The state is never the CSRF token itself.
    assert_eq!(browser.get("/admin/callback?state=forged&code=x").await.status(), 400);
    let failed = browser.get(&format!("/admin/callback?state={}&error=access_denied", params["state"])).await;
    assert_eq!(failed.status(), 403);
    let me = app.store.user_by_email(&domain::EmailAddress::parse(&admin).unwrap()).await.unwrap().unwrap();
    let form = browser.get(&format!("/admin/users/{}", me.id)).await.text().await.unwrap();
    assert_ne!(testkit::csrf_of(&form), params["state"], "the state is not the browser's CSRF token");
    // Past admin.max_session_age, sign in again.
    app.clock.advance(43_201);
    assert_eq!(browser.get("/admin").await.status(), 303);

    // Someone who is not an admin, even with two factors, is refused and learns nothing.
    let user = unique_email();
    let other = app.browser();
    let authorize = location(&other.get("/admin").await);
    let step_up = first_factor(&app, &other, &authorize, &user).await;
    let (_, _, back) = enrol(&app, &other, &step_up).await;
    other.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    let refused = other.get("/admin").await;
    assert_eq!(refused.status(), 403);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Not an administrator") && !html.contains(&admin) && !html.contains(&user), "{html}");
});

/// A browser signed in to the console as a new admin (its second factor set up on the way).
pub(crate) async fn console_admin(app: &TestApp) -> (testkit::Browser, String) {
    let admin = unique_email();
    make_admin(app, &admin).await;
    let browser = app.browser();
    let authorize = location(&browser.get("/admin").await);
    let step_up = first_factor(app, &browser, &authorize, &admin).await;
    let (_, _, back) = enrol(app, &browser, &step_up).await;
    browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    assert_eq!(browser.get("/admin").await.status(), 200);
    (browser, admin)
}

both_backends!(admins_find_and_edit_users_in_the_console_and_a_stale_save_shows_both_versions, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, _) = console_admin(&app).await;
    let (old, new) = (unique_email(), unique_email());
    let user = app.store.create_user(&domain::EmailAddress::parse(&old).unwrap(), 0).await.unwrap();
    let list = browser.get(&format!("/admin/users?q={}", old.split('@').next().unwrap())).await;
    assert_eq!(list.status(), 200);
    let html = list.text().await.unwrap();
    assert!(html.contains(&format!("/admin/users/{}", user.id)) && html.contains(&old), "{html}");
    // The same user opened twice, as two admins would.
    let path = format!("/admin/users/{}", user.id);
    let first = browser.get(&path).await.text().await.unwrap();
    let second = browser.get(&path).await.text().await.unwrap();
    assert!(first.contains("name=\"version\" value=\"1\""), "{first}");
    let save = |html: String, email: &str, name: &str| {
        let (browser, path, email, name) = (&browser, path.clone(), email.to_owned(), name.to_owned());
        async move {
            let csrf = testkit::csrf_of(&html);
            let form = [
                ("csrf", csrf.as_str()),
                ("version", "1"),
                ("email", &email),
                ("phone_number", ""),
                ("name", &name),
                ("reason", ""),
            ];
            browser.post_form(&path, &form).await
        }
    };
    let saved = save(first, &new, "Ann").await;
    assert_eq!(saved.status(), 200);
    assert!(saved.text().await.unwrap().contains("id=\"saved\""));
    assert!(app.message_to(&old).await.text.contains(&new), "the old address is told");
    let stored = app.store.user(&user.id).await.unwrap().unwrap();
    assert_eq!((stored.email.as_ref().map(|e| e.as_str()), stored.email_verified), (Some(new.as_str()), false));
    // The second save was made from version 1: nothing of it is written, both versions are shown.
    let conflict = save(second, &old, "Someone else").await;
    assert_eq!(conflict.status(), 409);
    let html = conflict.text().await.unwrap();
    assert!(html.contains("Changed by someone else since you opened it"), "{html}");
    assert!(html.contains("Someone else") && html.contains(&new), "both versions: {html}");
    assert_eq!(app.store.user(&user.id).await.unwrap().unwrap().email, stored.email);
    // A form without this browser's CSRF token is refused before anything runs.
    let forged = browser
        .post_form(&path, &[("version", "2"), ("email", &old), ("phone_number", ""), ("name", ""), ("reason", "")])
        .await;
    assert_eq!(forged.status(), 403);
    let audit = app.store.audit_of(&user.id, 5).await.unwrap();
    assert_eq!(audit[0].detail["actor"]["type"], "admin");

    // Someone signed in but not an admin sees none of it.
    let outsider = app.browser();
    let authorize = location(&outsider.get("/admin").await);
    let step_up = first_factor(&app, &outsider, &authorize, &unique_email()).await;
    let (_, _, back) = enrol(&app, &outsider, &step_up).await;
    outsider.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    for page in ["/admin/users".to_owned(), path.clone()] {
        let refused = outsider.get(&page).await;
        assert_eq!(refused.status(), 403, "{page}");
        let html = refused.text().await.unwrap();
        assert!(!html.contains(&new) && !html.contains(user.id.as_str()), "{html}");
    }
});

both_backends!(admins_block_users_lift_ip_blocks_and_read_the_audit_log_in_the_console, |db: Db| async move {
    use domain::Clock;
    use passwordless_connection::storage::{BlockScope, BlockStore, NewBlock};
    let app = spawn_app(db).await;
    let (browser, _admin) = console_admin(&app).await;
    // A user with a refresh token, blocked from the console.
    let rp = app.register_client(false, authorization_server::Alg::RS256).await;
    let email = unique_email();
    let url = crate::oidc::authorize_url_with(&app, &rp, &["scope"], &[("scope", "openid email offline_access")]);
    let tokens = crate::oidc::exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &email).await).await;
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let path = format!("/admin/users/{}", user.id);
    let html = browser.get(&path).await.text().await.unwrap();
    let csrf = testkit::csrf_of(&html);
    let blocked = browser.post_form(&format!("{path}/block"), &[("csrf", &csrf), ("reason", "chargeback fraud")]).await;
    assert_eq!((blocked.status().as_u16(), location(&blocked)), (303, path.clone()));
    assert!(browser.get(&path).await.text().await.unwrap().contains("id=\"blocked\""));
    let params = [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let resp = app.token_request(&params, Some((&rp.id, rp.secret.as_deref().unwrap()))).await;
    assert_eq!(resp.json::<serde_json::Value>().await.unwrap()["error"], "invalid_grant");
    let (me, _) = (app.store.user_by_email(&domain::EmailAddress::parse(&_admin).unwrap()).await.unwrap().unwrap(), ());
    let mine = format!("/admin/users/{}/block", me.id);
    assert_eq!(browser.post_form(&mine, &[("csrf", &csrf), ("reason", "oops")]).await.status(), 422, "not oneself");
    assert!(!app.store.user(&me.id).await.unwrap().unwrap().is_blocked());
    let unblocked = browser.post_form(&format!("{path}/unblock"), &[("csrf", &csrf)]).await;
    assert_eq!(unblocked.status(), 303);
    assert!(!app.store.user(&user.id).await.unwrap().unwrap().is_blocked());

    // An IP block, lifted with its button.
    let now = app.clock.now();
    let block = NewBlock {
        ip: "198.51.100.9".into(),
        scope: BlockScope::AllAccounts,
        reason: "too many wrong codes".into(),
        unblock_hash: None,
        created_at: now,
        expires_at: now + 3600,
    };
    let id = BlockStore::insert_block(&app.store, block).await.unwrap().unwrap();
    let html = browser.get("/admin/security").await.text().await.unwrap();
    assert!(html.contains("198.51.100.9") && html.contains(&format!("/admin/blocks/{id}/lift")), "{html}");
    let lifted = browser.post_form(&format!("/admin/blocks/{id}/lift"), &[("csrf", &testkit::csrf_of(&html))]).await;
    assert_eq!((lifted.status().as_u16(), location(&lifted).as_str()), (303, "/admin/security"));
    assert!(!browser.get("/admin/security").await.text().await.unwrap().contains("198.51.100.9"));
    assert!(!BlockStore::is_blocked(&app.store, "198.51.100.9", "", app.clock.now()).await.unwrap());

    // The audit log shows what the console did, and filters by kind.
    let html = browser.get("/admin/audit?kind=admin.user_blocked").await.text().await.unwrap();
    assert!(html.contains("chargeback fraud") && html.contains(user.id.as_str()), "{html}");
    assert!(!html.contains("admin.block_lifted</td>"), "filtered by kind");
    let html = browser.get("/admin/audit").await.text().await.unwrap();
    assert!(html.contains("admin.block_lifted") && html.contains("admin.user_unblocked"), "{html}");
});

both_backends!(admins_see_a_users_sessions_and_sign_ins_and_end_a_session_in_the_console, |db: Db| async move {
    let app = spawn_app(db).await;
    let (browser, _) = console_admin(&app).await;
    let rp = app.register_client(false, authorization_server::Alg::RS256).await;
    let email = unique_email();
    let url = crate::oidc::authorize_url(&app, &rp, &[]);
    let first = crate::oidc::exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &email).await).await;
    let second = crate::oidc::exchange(&app, &rp, &app.sign_in(&app.browser(), &url, &email).await).await;
    let user = app.store.user_by_email(&domain::EmailAddress::parse(&email).unwrap()).await.unwrap().unwrap();
    let activity = format!("/admin/users/{}/activity", user.id);
    let html = browser.get(&activity).await.text().await.unwrap();
    let sid = |tokens: &serde_json::Value| {
        crate::jwt_parts(tokens["id_token"].as_str().unwrap()).1["sid"].as_str().unwrap().to_owned()
    };
    let (first_sid, second_sid) = (sid(&first), sid(&second));
    assert!(
        html.contains(&format!("data-sid=\"{first_sid}\"")) && html.contains(&format!("data-sid=\"{second_sid}\"")),
        "{html}"
    );
    assert_eq!(html.matches("<tr><td>").count(), 4, "two sessions and two sign-ins: {html}");
    assert!(html.contains(&rp.id), "each sign-in names its application");
    let end = format!("/admin/users/{}/sessions/{first_sid}/end", user.id);
    let ended = browser.post_form(&end, &[("csrf", &testkit::csrf_of(&html))]).await;
    assert_eq!((ended.status().as_u16(), location(&ended)), (303, activity.clone()));
    let html = browser.get(&activity).await.text().await.unwrap();
    assert!(!html.contains(&first_sid) && html.contains(&second_sid), "{html}");
    let status = |tokens: serde_json::Value| {
        let app = &app;
        async move {
            let token = tokens["access_token"].as_str().unwrap().to_owned();
            app.api.get(app.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!((status(first).await, status(second).await), (401, 200), "signed out there only");
});

both_backends!(an_admin_resets_a_lost_authenticator_from_the_console_or_the_api, |db: Db| async move {
    use step_up::storage::FactorStore;
    let app = spawn_app(db).await;
    let (browser, admin) = console_admin(&app).await;
    let me = app.store.user_by_email(&domain::EmailAddress::parse(&admin).unwrap()).await.unwrap().unwrap();
    assert!(FactorStore::totp_factor(&app.store, &me.id).await.unwrap().is_some(), "set up on the way in");
    let path = format!("/admin/users/{}", me.id);
    let csrf = testkit::csrf_of(&browser.get(&path).await.text().await.unwrap());
    let reset = browser.post_form(&format!("{path}/factors/reset"), &[("csrf", &csrf)]).await;
    assert_eq!((reset.status().as_u16(), location(&reset)), (303, path.clone()));
    assert!(FactorStore::totp_factor(&app.store, &me.id).await.unwrap().is_none());
    assert_eq!(FactorStore::recovery_codes_left(&app.store, &me.id).await.unwrap(), 0);
    let audit = app.store.audit_of(&me.id, 1).await.unwrap();
    assert_eq!(audit[0].kind, domain::audit::AuditKind::AdminFactorsReset);
    // The API does the same (and answers 204 when there is nothing left to remove).
    let (_, token) = crate::admin::admin_token(&app).await;
    let api = app.api.post(app.url(&format!("/api/admin/v1/users/{}/factors/reset", me.id))).bearer_auth(&token);
    assert_eq!(api.send().await.unwrap().status(), 204);
});

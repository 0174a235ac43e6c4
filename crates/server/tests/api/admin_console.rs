//! The admin console's gate: only an admin, signed in with a second factor and recently, sees a
//! console page; everyone else is sent to sign in or refused with nothing about anyone.

use testkit::{Db, TestApp, both_backends, location, spawn_app};

use crate::stepup::{enrol, first_factor};
use crate::unique_email;

async fn make_admin(app: &TestApp, email: &str) {
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
    // A callback whose state is not this browser's is refused (login CSRF).
    assert_eq!(browser.get("/admin/callback?state=forged&code=x").await.status(), 400);
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

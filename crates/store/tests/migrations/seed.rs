//! Representative rows, written with the columns each table had when it was created (so the same
//! SQL seeds every later version too), and what the store must read back after the upgrade.

use authorization_server::storage::{GrantStore, IssuedToken, KeyStore, RefreshStore, SessionStore, TokenKind};
use domain::{Acr, Amr, ApplicationType, ClientId, EmailAddress, InteractionId, InteractionKind, UserId};
use store::Store;
use store::messages::MessageStatus;

use super::Conn;

/// Unix seconds the rows were written at; sessions and tokens live until 2100.
const THEN: i64 = 1_700_000_000;
const LATER: i64 = 4_102_444_800;

/// The migration (1-based, in order) that created each table seeded here.
const CREATED_BY: [(usize, &str); 17] = [
    (1, "users"),
    (1, "clients"),
    (1, "signing_keys"),
    (1, "interactions"),
    (1, "challenges"),
    (1, "messages"),
    (1, "sessions"),
    (1, "authorization_codes"),
    (1, "tokens"),
    (2, "refresh_tokens"),
    (5, "ip_blocks"),
    (6, "devices"),
    (6, "login_events"),
    (6, "recovery_codes"),
    (6, "audit_log"),
    (10, "account_codes"),
    (10, "contact_undos"),
];

/// Writes the rows of every table that exists at migration `upto`; returns each table and how many
/// rows it got.
pub fn seed(conn: &mut Conn, upto: usize) -> Vec<(&'static str, i64)> {
    let blob = |hex: &str| if conn.is_pg() { format!("'\\x{hex}'::bytea") } else { format!("X'{hex}'") };
    let (aa, one, two, three, four) = (blob("aa"), blob("01"), blob("02"), blob("03"), blob("04"));
    let request = r#"{"client_id":"client1","redirect_uri":"https://rp.example/cb","scope":["openid","email"],"state":"st","nonce":"n","code_challenge":null,"max_age":null,"acr_values":null}"#;
    let single = Acr::SingleFactor.as_str();
    let mut sql = vec![
        format!(
            "INSERT INTO users (id, email, email_verified, created_at) VALUES ('user1', 'ann@example.com', TRUE, {THEN})"
        ),
        format!(
            "INSERT INTO clients (id, name, secret_hash, is_public, redirect_uris, post_logout_redirect_uris, id_token_alg, created_at) VALUES ('client1', 'Seeded app', {aa}, FALSE, '[\"https://rp.example/cb\"]', '[]', 'RS256', {THEN})"
        ),
        format!(
            "INSERT INTO signing_keys (kid, alg, sealed_private, public_jwk, created_at) VALUES ('key1', 'ES256', {aa}, '{{}}', {THEN})"
        ),
        format!(
            "INSERT INTO interactions (id, client_id, redirect_uri, request, browser_hash, created_at, expires_at) VALUES ('interaction1', 'client1', 'https://rp.example/cb', '{request}', {aa}, {THEN}, {LATER})"
        ),
        format!(
            "INSERT INTO challenges (id, interaction_id, channel, destination, code_hash, link_hash, max_attempts, created_at, expires_at) VALUES ('challenge1', 'interaction1', 'email', 'ann@example.com', {aa}, {one}, 5, {THEN}, {LATER})"
        ),
        format!(
            "INSERT INTO messages (id, channel, recipient, subject, status, next_attempt_at, created_at, sent_at) VALUES ('message1', 'email', 'ann@example.com', 'Your code', 'sent', {THEN}, {THEN}, {THEN})"
        ),
        format!(
            "INSERT INTO sessions (id_hash, sid, user_id, amr, acr, auth_time, created_at, expires_at) VALUES ({one}, 'sid1', 'user1', '[\"otp\"]', '{single}', {THEN}, {THEN}, {LATER})"
        ),
    ];
    for (hash, grant, scope) in [(&two, "grant1", "openid email"), (&three, "grant2", "openid offline_access")] {
        sql.push(format!("INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, user_id, sid, scope, nonce, code_challenge, amr, acr, auth_time, created_at, expires_at) VALUES ({hash}, '{grant}', 'client1', 'https://rp.example/cb', 'user1', 'sid1', '{scope}', 'n', 'challenge', '[\"otp\"]', '{single}', {THEN}, {THEN}, {LATER})"));
    }
    sql.push(format!("INSERT INTO tokens (jti, grant_id, client_id, user_id, kind, expires_at) VALUES ('jti1', 'grant1', 'client1', 'user1', 'access', {LATER})"));
    if upto >= 2 {
        sql.push(format!("INSERT INTO refresh_tokens (token_hash, grant_id, client_id, user_id, sid, scope, amr, acr, auth_time, created_at, expires_at) VALUES ({four}, 'grant2', 'client1', 'user1', 'sid1', 'openid offline_access', '[\"otp\"]', '{single}', {THEN}, {THEN}, {LATER})"));
    }
    if upto >= 5 {
        sql.push(format!("INSERT INTO ip_blocks (id, ip, account, reason, created_at, expires_at) VALUES ('block1', '203.0.113.9', '', 'failures', {THEN}, {LATER})"));
    }
    if upto >= 6 {
        sql.push(format!("INSERT INTO devices (user_id, id_hash, description, created_at, last_seen_at) VALUES ('user1', {aa}, 'Firefox on Linux', {THEN}, {THEN})"));
        sql.push(format!("INSERT INTO login_events (id, user_id, client_id, created_at, ip, network, device_hash, device, amr, acr, reasons, outcome) VALUES ('event1', 'user1', 'client1', {THEN}, '203.0.113.9', '203.0.113.0/24', {aa}, 'Firefox on Linux', '[\"otp\"]', '{single}', '[]', 'allowed')"));
        sql.push(format!("INSERT INTO recovery_codes (code_hash, user_id, created_at) VALUES ({aa}, 'user1', {THEN})"));
        sql.push(format!("INSERT INTO audit_log (id, created_at, kind, user_id, client_id, detail) VALUES ('audit1', {THEN}, 'not_me', 'user1', 'client1', '{{}}')"));
    }
    if upto >= 10 {
        sql.push(format!("INSERT INTO account_codes (user_id, purpose, destination, code_hash, created_at, expires_at) VALUES ('user1', 'delete', 'ann@example.com', {aa}, {THEN}, {LATER})"));
        sql.push(format!("INSERT INTO contact_undos (token_hash, user_id, field, old_value, new_value, created_at, expires_at) VALUES ({aa}, 'user1', 'email', 'old@example.com', 'ann@example.com', {THEN}, {LATER})"));
    }
    conn.execute(&sql.join(";\n"));
    let mut seeded: Vec<(&'static str, i64)> =
        CREATED_BY.iter().filter(|(v, _)| *v <= upto).map(|(_, table)| (*table, 1)).collect();
    for (table, rows) in &mut seeded {
        if *table == "authorization_codes" {
            *rows = 2;
        }
    }
    seeded
}

/// What the store reads back from the rows [`seed`] wrote at migration `upto`, after the upgrade.
pub async fn read_back(store: &Store, upto: usize) {
    let from = format!("seeded at migration {upto}");
    let email = EmailAddress::parse("ann@example.com").unwrap();
    let user = store.user_by_email(&email).await.unwrap().unwrap_or_else(|| panic!("the user, {from}"));
    assert_eq!(user.id, UserId::parse("user1").unwrap(), "{from}");
    assert!(user.email_verified && !user.phone_verified && user.phone.is_none(), "{from}");
    assert!(!user.is_admin && user.blocked_at.is_none() && user.linked_to.is_none(), "{from}");
    assert_eq!(user.version, 1, "{from}");
    // Migration 4 dated every existing profile from the account's creation.
    assert_eq!(user.updated_at, if upto < 4 { THEN } else { 0 }, "{from}");

    let client = store.client(&ClientId::parse("client1").unwrap()).await.unwrap().unwrap();
    assert_eq!((client.application_type, client.version), (ApplicationType::Web, 1), "{from}");
    assert_eq!(client.redirect_uris, ["https://rp.example/cb"], "{from}");
    assert!(client.disabled_at.is_none() && client.previous_secret.is_none(), "{from}");
    assert_eq!(client.settings, domain::ClientSettings::default(), "{from}");

    let (interaction, request) =
        store.interaction(&InteractionId::parse("interaction1").unwrap()).await.unwrap().unwrap();
    assert_eq!(interaction.kind, InteractionKind::Hosted, "{from}");
    // Read in the same query as the interaction (a join).
    assert_eq!(interaction.client_name, "Seeded app", "{from}");
    assert!(interaction.requested_acr.is_empty(), "{from}");
    assert_eq!(request.unwrap().scope.to_string(), "openid email", "a scope stored as a list, {from}");

    let session = SessionStore::session(store, vec![0x01], THEN + 1).await.unwrap().unwrap();
    assert_eq!(
        (session.sid.as_str(), session.acr, session.amr.as_slice()),
        ("sid1", Acr::SingleFactor, &[Amr::Otp][..])
    );
    let code = GrantStore::authorization_code(store, vec![0x02]).await.unwrap().unwrap();
    assert!(code.ends_with_session && code.auth_after.is_none(), "{from}");
    // Migration 8 decided the grants issued before it by their scope: offline_access outlives the
    // session. Codes written since say so themselves, and a raw insert gets the default.
    let offline = GrantStore::authorization_code(store, vec![0x03]).await.unwrap().unwrap();
    assert_eq!(offline.ends_with_session, upto >= 8, "{from}");
    // A token issued before `jti` named its grant: read from its claims, it looks like a client's
    // own token; its row says whose grant it is, and that grant is live.
    let before = IssuedToken {
        jti: "jti1".into(),
        grant_id: None,
        client_id: ClientId::parse("client1").unwrap(),
        subject: "user1".into(),
        kind: TokenKind::Client,
        issued_at: THEN,
        expires_at: LATER,
    };
    assert!(GrantStore::token_is_active(store, &before, THEN + 1).await.unwrap(), "{from}");
    let refresh = RefreshStore::refresh_token(store, vec![0x04]).await.unwrap();
    assert_eq!(refresh.is_some(), upto >= 2, "{from}");
    if let Some(refresh) = refresh {
        assert!(RefreshStore::refresh_token_is_live(store, refresh.token_hash, THEN + 1).await.unwrap(), "{from}");
    }

    let keys = KeyStore::signing_keys(store).await.unwrap();
    assert!(keys.iter().any(|k| k.kid == "key1" && k.retired_at.is_none()), "{from}");
    let messages = store.recent_messages(10).await.unwrap();
    assert!(messages.iter().any(|m| m.id.as_str() == "message1" && m.status == MessageStatus::Sent), "{from}");
}

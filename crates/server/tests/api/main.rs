//! Integration tests: a real Ostiary per test (port 0, fresh database), driven over HTTP.
//! Every behaviour runs on SQLite and on PostgreSQL (+ Redis counters).
// A failed unwrap is a failed test with its message: that is what tests are for.
#![allow(clippy::unwrap_used)]

mod abuse;
mod account;
mod admin;
mod admin_clients;
mod admin_console;
mod admin_console_clients;
mod admin_spec;
mod api_login;
mod auth0;
mod backchannel;
mod certification;
mod claims;
mod cli;
mod client_auth;
mod delivery;
mod device;
mod dpop;
mod email_snapshots;
mod faults;
mod french;
mod guessing;
mod hooks;
mod hosted;
mod multinode;
mod oidc;
mod ops;
mod outages;
mod pairwise;
mod passkeys;
mod passwordless;
mod protocol;
mod providers;
mod refresh;
mod request_objects;
mod revocation;
mod second_factor;
mod sessions;
mod sms;
mod stepup;
mod token_exchange;
mod webhooks;

/// A fresh address per test.
pub fn unique_email() -> String {
    format!("user-{}@example.com", domain::secret::random_token(6).to_lowercase().replace(['-', '_'], "x"))
}

/// A fresh UK mobile number per test (+44 7400 xxxxxx), in E.164.
pub fn unique_phone() -> String {
    format!("+447400{}", domain::secret::numeric_code(6))
}

/// A client offering every sign-in method (email code and link, SMS code).
pub fn all_methods() -> domain::ClientSettings {
    domain::ClientSettings { login_methods: domain::LoginMethod::ALL.to_vec(), ..Default::default() }
}

/// A client offering every sign-in method, through the hosted pages and the passwordless API.
pub fn api_methods() -> domain::ClientSettings {
    domain::ClientSettings { api_login: true, ..all_methods() }
}

/// Header and claims of a compact JWS, unverified (for inspecting tokens the RP library verified).
pub fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    use base64::Engine;
    let mut parts = token.split('.');
    let mut decode = || {
        let part = parts.next().expect("JWS part");
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url"))
            .expect("json")
    };
    (decode(), decode())
}

/// Checks `instance` against the JSON Schema `docs/schemas/{file}` (draft 2020-12) with Python's
/// `jsonschema`, an implementation independent of ours.
pub fn assert_schema(file: &str, instance: &serde_json::Value) {
    use std::io::Write;
    let path = format!("{}/../../docs/schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    let script = "import json, sys, jsonschema\n\
        schema = json.load(open(sys.argv[1]))\n\
        jsonschema.Draft202012Validator.check_schema(schema)\n\
        jsonschema.Draft202012Validator(schema).validate(json.load(sys.stdin))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, &path])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test-deps.sh installs jsonschema)");
    child.stdin.take().unwrap().write_all(instance.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{file} refuses {instance:#}: {}", String::from_utf8_lossy(&out.stderr));
}

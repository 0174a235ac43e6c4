//! The settings: defaults, errors named by key, secrets never printed.

use super::*;

fn with(toml: &str) -> Result<Settings, ConfigErrors> {
    Settings::from_figment(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(toml)))
}

#[test]
fn defaults_are_valid() {
    with("").unwrap();
}

#[test]
fn every_problem_is_reported_with_its_key() {
    let errs =
        with("[server]\nbind = \"nope\"\nissuer = \"ftp://x\"\n[database]\nurl = \"mysql://db\"\n").unwrap_err().0;
    let text = errs.join("\n");
    assert!(text.contains("server.bind"), "{text}");
    assert!(text.contains("server.issuer"), "{text}");
    assert!(text.contains("database.url"), "{text}");
}

#[test]
fn type_errors_name_the_key() {
    let errs = with("[oidc]\ncode_ttl = \"soon\"\n").unwrap_err().0;
    assert!(errs[0].starts_with("oidc.code_ttl"), "{errs:?}");
}

#[test]
fn production_refuses_the_outbox_the_demo_and_plain_http() {
    let text = with("[server]\nprofile = \"production\"\n").unwrap_err().0.join("\n");
    for key in ["delivery.email", "demo.enabled", "server.issuer", "secrets.master_key"] {
        assert!(text.contains(key), "{key} missing in {text}");
    }
}

#[test]
fn issuers_must_be_a_bare_origin_with_a_lower_case_scheme() {
    assert!(with("[server]\nissuer = \"https://id.example.com/\"\n").is_ok(), "a trailing slash is kept");
    for bad in
        ["https://id.example.com/tenant", "HTTPS://id.example.com", "https://id.example.com?x=1", "id.example.com"]
    {
        let errs = with(&format!("[server]\nissuer = \"{bad}\"\n")).unwrap_err().0.join("\n");
        assert!(errs.contains("server.issuer"), "{bad}: {errs}");
    }
}

#[test]
fn tls_needs_both_a_certificate_and_a_key_that_exist() {
    let text = with("[server]\ntls_cert = \"/nonexistent/cert.pem\"\n").unwrap_err().0.join("\n");
    assert!(text.contains("server.tls_cert / server.tls_key"), "{text}");
    let text = with("[server]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n")
        .unwrap_err()
        .0
        .join("\n");
    assert!(text.contains("server.tls_cert") && text.contains("server.tls_key"), "{text}");
}

#[test]
fn no_secret_can_be_printed_by_debug() {
    let master = MasterKey::generate().to_base64();
    let secrets = [
        master.as_str(),
        "registration-token-registration-token",
        "smtp-password-1",
        "sendgrid-key-1",
        "twilio-token-1",
        "gateway-secret-gateway-secret-gateway-secret",
        "pgpassword1",
        "redispassword1",
    ];
    let settings = with(&format!(
        "[secrets]\nmaster_key = \"{}\"\n[oidc]\nregistration_token = \"{}\"\n\
         [delivery.smtp]\npassword = \"{}\"\n[delivery.sendgrid]\napi_key = \"{}\"\n\
         [delivery.twilio]\nauth_token = \"{}\"\n[delivery.gateway]\nsecret = \"{}\"\n\
         [database]\nurl = \"postgres://ostiary:{}@db/ostiary\"\n[redis]\nurl = \"redis://:{}@cache:6379\"\n",
        secrets[0], secrets[1], secrets[2], secrets[3], secrets[4], secrets[5], secrets[6], secrets[7]
    ))
    .unwrap();
    let printed = format!("{settings:?}");
    for secret in secrets {
        assert!(!printed.contains(secret), "{secret} is printed");
    }
    assert!(printed.contains("PostgreSQL at postgres://ostiary:***@db/ostiary"), "{printed}");
}

#[test]
fn unknown_keys_are_refused() {
    assert!(with("[server]\nbnid = \"x\"\n").is_err());
}

/// Issue 16: an unknown key does not hide the problems after it, and types are named in words.
#[test]
fn every_problem_is_listed_at_once_in_words() {
    let errs =
        with("[server]\nbnid = \"x\"\n[oidc]\ncode_ttl = \"soon\"\nmystery = 1\n[database]\nurl = \"mysql://db\"\n")
            .unwrap_err()
            .0;
    let text = errs.join("\n");
    assert!(text.contains("server.bnid: there is no such setting here (a typo?); the settings here are"), "{text}");
    assert!(text.contains("bind"), "the known settings are listed: {text}");
    assert!(text.contains("oidc.mystery: there is no such setting"), "{text}");
    assert!(text.contains("oidc.code_ttl: string \"soon\" is not a whole number"), "{text}");
    assert!(text.contains("database.url"), "the rules after the unknown keys are still checked: {text}");
    for rust in ["i64", "usize", "u64", "invalid type"] {
        assert!(!text.contains(rust), "no Rust type names: {text}");
    }
}

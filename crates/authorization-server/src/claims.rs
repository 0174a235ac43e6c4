//! OIDC Core §5.4: the claims each scope releases, in one place for `/userinfo` and the ID token.
//! Claims without a value are left out (OIDC Core §5.3.2).

use domain::{Scope, User};
use serde_json::{Map, Value, json};

/// The scopes that release user claims, beside `openid` and `offline_access`.
pub const CLAIM_SCOPES: [&str; 4] = ["profile", "email", "address", "phone"];

/// The claims `scope` (space-separated) releases about `user`, without `sub`.
pub fn scope_claims(user: &User, scope: &Scope) -> Map<String, Value> {
    let has = |s: &str| scope.contains(s);
    let mut out = Map::new();
    if has("profile") {
        if let Ok(Value::Object(profile)) = serde_json::to_value(&user.profile) {
            out.extend(profile.into_iter().filter(|(k, _)| k != "address"));
        }
        out.insert("updated_at".into(), json!(user.updated_at));
    }
    if has("email")
        && let Some(email) = &user.email
    {
        out.insert("email".into(), json!(email.as_str()));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    if has("address")
        && let Some(address) = &user.profile.address
    {
        out.insert("address".into(), json!(address));
    }
    if has("phone")
        && let Some(phone) = &user.phone
    {
        out.insert("phone_number".into(), json!(phone.as_str()));
        out.insert("phone_number_verified".into(), json!(user.phone_verified));
    }
    out
}

/// The claims about the sign-in itself (OIDC Core §2, and `sid` from Front-Channel Logout §3).
const SIGN_IN_CLAIMS: [&str; 11] =
    ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "sid"];
/// The standard claims (OIDC Core §5.1) that do not come from the profile.
const ACCOUNT_CLAIMS: [&str; 6] =
    ["updated_at", "email", "email_verified", "address", "phone_number", "phone_number_verified"];

/// Every claim this provider can put in an ID token or a userinfo response (`claims_supported`):
/// the profile's own are `Profile::KEYS`, with the address's members as the one `address` claim.
pub fn claims_supported() -> impl Iterator<Item = &'static str> {
    let profile = domain::Profile::KEYS.into_iter().filter(|k| !k.starts_with("address."));
    SIGN_IN_CLAIMS.into_iter().chain(profile).chain(ACCOUNT_CLAIMS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        let mut profile = domain::Profile::default();
        profile.set("name", Some("Ann Lee")).unwrap();
        profile.set("address.country", Some("FR")).unwrap();
        User {
            id: domain::UserId::generate(),
            email: Some(domain::EmailAddress::parse("ann@example.com").unwrap()),
            email_verified: true,
            created_at: 1,
            phone: Some(domain::PhoneNumber::parse("+447400123456", None).unwrap()),
            phone_verified: false,
            profile,
            updated_at: 7,
            is_admin: false,
            version: 1,
            blocked_at: None,
            linked_to: None,
        }
    }

    #[test]
    fn each_scope_releases_only_its_own_claims() {
        let u = user();
        let keys = |scope: &str| {
            let mut k: Vec<String> = scope_claims(&u, &Scope::parse(scope)).keys().cloned().collect();
            k.sort();
            k
        };
        assert!(keys("openid").is_empty());
        assert_eq!(keys("openid email"), ["email", "email_verified"]);
        assert_eq!(keys("openid profile"), ["name", "updated_at"]);
        assert_eq!(keys("openid address"), ["address"]);
        assert_eq!(keys("openid phone"), ["phone_number", "phone_number_verified"]);
        let all = scope_claims(&u, &Scope::parse("openid profile email address phone"));
        assert_eq!(all["address"], json!({ "country": "FR" }));
        assert_eq!(all["phone_number"], json!("+447400123456"));
        assert_eq!(all["phone_number_verified"], json!(false));
        assert_eq!(all["updated_at"], json!(7));
    }

    #[test]
    fn claims_without_a_value_are_left_out() {
        let mut u = user();
        u.email = None;
        u.phone = None;
        u.profile = domain::Profile::default();
        let c = scope_claims(&u, &Scope::parse("openid email phone address profile"));
        assert_eq!(c.keys().collect::<Vec<_>>(), ["updated_at"]);
    }

    #[test]
    fn every_supported_claim_is_named_once_and_the_address_is_one_claim() {
        let all: Vec<_> = claims_supported().collect();
        let distinct: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{all:?}");
        assert!(all.contains(&"address") && all.contains(&"locale") && all.contains(&"sid"), "{all:?}");
        assert!(!all.iter().any(|c| c.starts_with("address.")), "{all:?}");
    }
}

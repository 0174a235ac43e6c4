//! The claims released about a user, in one place for `/userinfo` and the ID token: those each
//! scope releases (OIDC Core §5.4), and those the `claims` parameter asks for one by one (OIDC Core
//! §5.5). Claims without a value are left out (OIDC Core §5.3.2).

use std::collections::BTreeMap;

use domain::{Scope, User};
use serde::{Deserialize, Serialize};
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

/// Every user claim one place (the ID token, or `/userinfo`) releases: those of the scope and those
/// the `claims` parameter asked for there (`names`, a [`ClaimsRequest`] list).
pub fn released(user: &User, scope: &Scope, names: &[String]) -> Map<String, Value> {
    let mut out = scope_claims(user, scope);
    out.extend(requested_claims(user, names));
    out
}

/// The claims `names` asks for about `user`, whatever the scope: the `claims` parameter asks for
/// them one by one (OIDC Core §5.5).
pub fn requested_claims(user: &User, names: &[String]) -> Map<String, Value> {
    if names.is_empty() {
        return Map::new();
    }
    let mut all = scope_claims(user, &Scope::from_tokens(CLAIM_SCOPES));
    all.retain(|name, _| names.iter().any(|n| n == name));
    all
}

/// The user claims a `claims` parameter asked for by name, for each place they go to: kept with
/// the request, its code and its refresh tokens, so that every ID token and userinfo answer of the
/// grant carries them. Only claims this provider can release are kept; `acr` and `sub`, which
/// constrain the sign-in itself, are read from [`ClaimsParameter`] when the request is checked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
}

impl ClaimsRequest {
    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty()
    }
}

/// A `claims` parameter (OIDC Core §5.5): for `userinfo` and `id_token`, each claim asked for,
/// `null` or with `essential`, `value` and `values` (§5.5.1). Members not understood are ignored,
/// as §5.5 requires; a member that is understood but has the wrong type makes the whole
/// parameter malformed.
#[derive(Debug, Default, Deserialize)]
pub struct ClaimsParameter {
    #[serde(default)]
    userinfo: BTreeMap<String, Option<Individual>>,
    #[serde(default)]
    id_token: BTreeMap<String, Option<Individual>>,
}

/// One claim's request (OIDC Core §5.5.1).
#[derive(Debug, Default, Deserialize)]
struct Individual {
    #[serde(default)]
    essential: bool,
    value: Option<Value>,
    values: Option<Vec<Value>>,
}

impl Individual {
    /// The values asked for: `value`, else `values`, as strings (`acr` and `sub` are strings).
    fn strings(&self) -> Option<Vec<&str>> {
        match (&self.value, &self.values) {
            (Some(v), _) => Some(v.as_str().into_iter().collect()),
            (None, Some(vs)) => Some(vs.iter().filter_map(Value::as_str).collect()),
            (None, None) => None,
        }
    }
}

/// The `claims` parameter is not a JSON claims request.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

impl ClaimsParameter {
    pub fn parse(raw: &str) -> Result<Self, Malformed> {
        let value: Value = serde_json::from_str(raw).map_err(|_| Malformed)?;
        // Objects all the way down to each claim's request: serde would also take an array for a
        // struct, which §5.5 does not allow.
        let object = value.as_object().ok_or(Malformed)?;
        for place in ["userinfo", "id_token"].into_iter().filter_map(|p| object.get(p)) {
            let claims = place.as_object().ok_or(Malformed)?;
            if claims.values().any(|c| !(c.is_null() || c.is_object())) {
                return Err(Malformed);
            }
        }
        serde_json::from_value(value).map_err(|_| Malformed)
    }

    /// The `acr` values demanded as essential for the ID token (§5.5.1.1), as sent.
    pub fn essential_acr(&self) -> Option<Vec<&str>> {
        let acr = self.id_token.get("acr")?.as_ref()?;
        if !acr.essential {
            return None;
        }
        acr.strings()
    }

    /// The user the ID token must be about (§5.5.1: "If the sub value is requested with a specific
    /// value for the ID Token…"). Malformed when the value is not a string.
    pub fn sub(&self) -> Result<Option<&str>, Malformed> {
        match self.id_token.get("sub").and_then(Option::as_ref).and_then(|s| s.value.as_ref()) {
            None => Ok(None),
            Some(Value::String(sub)) => Ok(Some(sub)),
            Some(_) => Err(Malformed),
        }
    }

    /// The user claims asked for, by name, that this provider can release. Essential or voluntary,
    /// a claim is released when the user has a value, and left out when not (§5.5.1: never an
    /// error); `value` and `values` do not filter it: the user's own value is what is true.
    pub fn requested(&self) -> ClaimsRequest {
        let releasable = |names: &BTreeMap<String, Option<Individual>>| -> Vec<String> {
            names.keys().filter(|n| is_user_claim(n)).cloned().collect()
        };
        ClaimsRequest { id_token: releasable(&self.id_token), userinfo: releasable(&self.userinfo) }
    }
}

/// A claim about the user (not about the sign-in), which a scope or the `claims` parameter releases.
fn is_user_claim(name: &str) -> bool {
    ACCOUNT_CLAIMS.contains(&name) || (domain::Profile::KEYS.contains(&name) && !name.starts_with("address."))
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
    fn the_claims_parameter_asks_for_single_claims_and_constrains_acr_and_sub() {
        let p = ClaimsParameter::parse(
            r#"{"userinfo": {"email": {"essential": true}, "name": null, "x-custom": null},
                "id_token": {"phone_number": {"value": "+1"}, "acr": {"essential": true, "values": ["a", "b"]},
                             "sub": {"value": "u1"}, "auth_time": {"essential": true}},
                "extension": 1}"#,
        )
        .unwrap();
        let wanted = p.requested();
        assert_eq!(wanted.userinfo, ["email", "name"], "unknown claims are ignored");
        assert_eq!(wanted.id_token, ["phone_number"], "claims about the sign-in are not user claims");
        assert_eq!(p.essential_acr(), Some(vec!["a", "b"]));
        assert_eq!(p.sub(), Ok(Some("u1")));
        let voluntary = ClaimsParameter::parse(r#"{"id_token": {"acr": {"value": "a"}}}"#).unwrap();
        assert_eq!(voluntary.essential_acr(), None);
        assert!(ClaimsParameter::parse("{}").unwrap().requested().is_empty());
        for bad in [
            "[]",
            "{not json",
            r#"{"id_token": []}"#,
            r#"{"userinfo": {"email": 1}}"#,
            r#"{"userinfo": {"email": {"essential": "yes"}}}"#,
            r#"{"id_token": {"acr": {"values": "a"}}}"#,
        ] {
            assert_eq!(ClaimsParameter::parse(bad).unwrap_err(), Malformed, "{bad}");
        }
        let bad_sub = ClaimsParameter::parse(r#"{"id_token": {"sub": {"value": 7}}}"#).unwrap();
        assert_eq!(bad_sub.sub(), Err(Malformed));
    }

    #[test]
    fn requested_claims_are_released_whatever_the_scope_and_only_with_a_value() {
        let mut u = user();
        u.phone = None;
        let names = ["email_verified", "address", "phone_number", "name"].map(String::from);
        let got = requested_claims(&u, &names);
        let mut keys: Vec<_> = got.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["address", "email_verified", "name"]);
        assert!(requested_claims(&u, &[]).is_empty());
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

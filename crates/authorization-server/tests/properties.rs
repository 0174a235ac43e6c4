//! Properties of the parts that read hostile input: `Params` (every `/authorize`, `/token` and
//! `/logout` request) and `jwt::verify` (every `id_token_hint` and access token).

use authorization_server::Alg;
use authorization_server::jwt::{sign, verify};
use authorization_server::keys::{KeyRing, generate_key};
use authorization_server::params::Params;
use proptest::prelude::*;

fn form(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

proptest! {
    /// Any bytes at all parse, without panicking.
    #[test]
    fn any_bytes_parse(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Params::parse(&raw);
        let _ = Params::from_json(&raw);
    }

    /// Distinct names with values come back as they were sent, and nothing is "repeated".
    #[test]
    fn distinct_parameters_round_trip(map in proptest::collection::btree_map("[a-z_]{1,12}", ".{1,40}", 0..8)) {
        let pairs: Vec<(String, String)> = map.into_iter().collect();
        let params = Params::parse(form(&pairs).as_bytes());
        prop_assert!(!params.duplicated);
        for (k, v) in &pairs {
            prop_assert_eq!(params.get(k), Some(v.as_str()));
        }
    }

    /// RFC 6749 §3.1: a parameter sent twice (with values) makes the request invalid, whatever
    /// else is sent and in whatever order.
    #[test]
    fn a_repeated_parameter_is_always_seen(
        name in "[a-z_]{1,12}",
        a in ".{1,20}",
        b in ".{1,20}",
        others in proptest::collection::vec(("[A-Z]{1,6}", ".{1,10}"), 0..5),
        at in 0usize..6,
    ) {
        let mut pairs: Vec<(String, String)> = others;
        pairs.insert(at.min(pairs.len()), (name.clone(), a));
        pairs.push((name, b));
        prop_assert!(Params::parse(form(&pairs).as_bytes()).duplicated);
    }
}

/// One key of each algorithm, made once (an RSA key takes a while).
fn ring() -> &'static KeyRing {
    static RING: std::sync::LazyLock<KeyRing> = std::sync::LazyLock::new(|| {
        let sealer = domain::MasterKey::generate().sealer();
        let stored = Alg::ALL.iter().map(|a| generate_key(*a, &sealer, 0).expect("key")).collect();
        KeyRing::open(stored, &sealer).expect("ring")
    });
    &RING
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// What we sign verifies; changing any one character of it never yields other claims, and
    /// another `typ` never verifies (RFC 8725 §3.11).
    #[test]
    fn only_our_untouched_tokens_verify(
        sub in "[a-zA-Z0-9]{1,30}",
        at in any::<prop::sample::Index>(),
        with in any::<char>(),
        alg in 0usize..3,
    ) {
        let ring = ring();
        let key = ring.active(Alg::ALL[alg], 0).expect("active key");
        let claims = serde_json::json!({ "sub": sub, "iss": "https://id.example" });
        let token = sign(key, "JWT", &claims).expect("sign");
        prop_assert_eq!(verify::<serde_json::Value>(ring, &token, "JWT", 0, 60), Some(claims.clone()));
        prop_assert_eq!(verify::<serde_json::Value>(ring, &token, "at+jwt", 0, 60), None);
        let mut chars: Vec<char> = token.chars().collect();
        let i = at.index(chars.len());
        if chars[i] != with {
            chars[i] = with;
            let tampered: String = chars.into_iter().collect();
            // Base64 can spell the same bytes two ways only in a final character's spare bits.
            let read = verify::<serde_json::Value>(ring, &tampered, "JWT", 0, 60);
            prop_assert!(read.is_none() || read == Some(claims), "{}", tampered);
        }
    }

    /// Anything that is not one of our tokens is refused, without panicking.
    #[test]
    fn strangers_never_verify(token in ".{0,600}") {
        let ring = ring();
        prop_assert_eq!(verify::<serde_json::Value>(ring, &token, "JWT", 0, 60), None);
    }
}

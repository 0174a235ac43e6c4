//! JWS compact serialisation (RFC 7515 §7.1), signed through a cached [`SigningKey`]:
//! `jsonwebtoken::encode` would re-parse the private key on every call.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys::{KeyError, KeyRing, SigningKey};

/// `typ` is `JWT` for ID tokens and `at+jwt` for access tokens (RFC 9068 §2.1).
pub fn sign<T: Serialize>(key: &SigningKey, typ: &str, claims: &T) -> Result<String, KeyError> {
    let header = serde_json::json!({ "alg": key.alg.as_str(), "typ": typ, "kid": key.kid });
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

#[derive(serde::Deserialize)]
struct Header {
    alg: String,
    kid: String,
    typ: Option<String>,
}

/// Verifies a token signed by one of our published keys and returns its claims. The header's `alg`
/// must be the key's own algorithm (no `none`, no algorithm confusion, RFC 8725 §3.1).
pub fn verify<T: DeserializeOwned>(ring: &KeyRing, token: &str, typ: &str, now: i64, retention: i64) -> Option<T> {
    if token.len() > 16 * 1024 {
        return None;
    }
    let mut parts = token.split('.');
    let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    let key = ring.verifying(&header.kid, now, retention)?;
    if header.alg != key.alg.as_str() || !header.typ.is_some_and(|t| t.eq_ignore_ascii_case(typ)) {
        return None;
    }
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let good = ring.verified(token.as_bytes(), || URL_SAFE_NO_PAD.decode(s).is_ok_and(|sig| key.verify(signed, &sig)));
    if !good {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
}

/// The claims of an ID token this provider signed, expired or not (an `id_token_hint`, OIDC Core
/// §3.1.2.1; RP-Initiated Logout §2). A signed UserInfo answer (Core §5.3.2) has the same header,
/// `iss`, `aud` and `sub`, but never `exp` and `iat`, which every ID token has (Core §2): it is no hint.
pub(crate) fn read_id_token(srv: &crate::AuthorizationServer, token: &str, now: i64) -> Option<serde_json::Value> {
    let claims: serde_json::Value =
        crate::jwt::verify(&srv.keys.ring(), token, "JWT", now, srv.config.key_retention())?;
    let is_id_token = claims["iss"] == srv.config.issuer.as_str() && claims["exp"].is_i64() && claims["iat"].is_i64();
    is_id_token.then_some(claims)
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use crate::keys::{KeyRing, generate_key};

    #[test]
    fn a_remembered_signature_is_the_very_token_verified_before() {
        let sealer = domain::MasterKey::generate().sealer();
        let stored = crate::Alg::ALL.iter().map(|a| generate_key(*a, &sealer, 0).expect("key")).collect();
        let ring = KeyRing::open(stored, &sealer).expect("ring");
        for alg in crate::Alg::ALL {
            let key = ring.active(alg, 0).expect("key");
            let token = super::sign(key, "at+jwt", &serde_json::json!({ "sub": "ann" })).expect("signed");
            for _ in 0..2 {
                let claims: serde_json::Value = super::verify(&ring, &token, "at+jwt", 1, 60).expect("verified");
                assert_eq!(claims["sub"], "ann");
            }
            // Verified once, remembered: a changed claim or signature is still checked, and refused.
            let (signed, sig) = token.rsplit_once('.').unwrap();
            let (header, _) = signed.split_once('.').unwrap();
            let forged_claims = format!("{header}.{}.{sig}", super::URL_SAFE_NO_PAD.encode(br#"{"sub":"bob"}"#));
            assert!(super::verify::<serde_json::Value>(&ring, &forged_claims, "at+jwt", 1, 60).is_none(), "{alg:?}");
            let mut forged_sig = sig.to_owned();
            forged_sig.replace_range(0..1, if sig.starts_with('A') { "B" } else { "A" });
            let forged = format!("{signed}.{forged_sig}");
            assert!(super::verify::<serde_json::Value>(&ring, &forged, "at+jwt", 1, 60).is_none(), "{alg:?}");
            // The typ and the key's retention are checked on every call, remembered or not.
            assert!(super::verify::<serde_json::Value>(&ring, &token, "JWT", 1, 60).is_none());
        }
    }
}

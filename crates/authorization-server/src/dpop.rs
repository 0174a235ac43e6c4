//! DPoP (RFC 9449): a client proves, with each request, that it holds a private key, and the tokens
//! it gets are bound to that key's thumbprint (`cnf.jkt`), so a stolen token is useless without
//! the key. `proof` is the one rule for a proof (§4.3), wherever one comes: the token endpoint,
//! `/par` and `/userinfo`. `nonce` gives out the server's nonces (§8).

use actix_web::HttpRequest;
use actix_web::http::header::HeaderValue;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::counters::Decision;
use domain::secret::constant_time_eq;
use jsonwebtoken::jwk::{AlgorithmParameters, ThumbprintHash};
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;

use crate::AuthorizationServer;
use crate::errors::{ErrorCode, OAuthError};

/// The request header that carries a proof, and the response header that carries a nonce.
pub const HEADER: &str = "dpop";
pub const NONCE_HEADER: &str = "dpop-nonce";
/// How old a proof's `iat` may be, and how far ahead of the server's clock (§11.1: a short window).
const MAX_AGE: i64 = 120;
const MAX_AHEAD: i64 = 60;
/// A nonce is good in the period it was given out and the next one (§8): 5 to 10 minutes.
const NONCE_PERIOD: i64 = 300;
/// The largest proof read.
const MAX_PROOF: usize = 8 * 1024;
/// JWK members that only a private key has: a proof that carries one is refused (§4.3 check 7).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A checked proof: the thumbprint (RFC 7638, SHA-256) of the key that signed it.
#[derive(Debug)]
pub(crate) struct Proof {
    pub jkt: String,
}

/// The claims of a proof (§4.2).
#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: i64,
    ath: Option<String>,
    nonce: Option<String>,
}

const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// The proof of this request to `path` (an endpoint under the issuer), checked as RFC 9449 §4.3
/// says, or `None` when the request carries none. `access_token`: the token the request presents,
/// which the proof must name (`ath`, §7). A proof is good once: its `jti` is remembered, under
/// the shared counters, for as long as its `iat` would be accepted (§11.1).
pub(crate) async fn proof(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    path: &str,
    access_token: Option<&str>,
) -> Result<Option<Proof>, OAuthError> {
    let mut headers = req.headers().get_all(HEADER);
    let Some(value) = headers.next() else { return Ok(None) };
    if headers.next().is_some() {
        return Err(invalid("send one DPoP header"));
    }
    let jwt = value.to_str().map_err(|_| invalid("the DPoP proof is not a JWT"))?;
    if jwt.len() > MAX_PROOF {
        return Err(invalid("the DPoP proof is too large"));
    }
    let now = srv.clock.now();
    let (jkt, claims) = verify(jwt)?;
    // §4.3 checks 8 to 12: this request, now.
    if claims.htm != req.method().as_str() {
        return Err(invalid("the DPoP proof's htm is not this request's method"));
    }
    if !same_uri(&claims.htu, &srv.config.endpoint(path)) {
        return Err(invalid("the DPoP proof's htu is not this endpoint's URL"));
    }
    if claims.iat < now - MAX_AGE || claims.iat > now + MAX_AHEAD {
        return Err(invalid("the DPoP proof's iat is too far from the server's time"));
    }
    if claims.jti.is_empty() || claims.jti.len() > 256 {
        return Err(invalid("the DPoP proof needs a jti of at most 256 characters"));
    }
    if let Some(token) = access_token {
        let expected = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()));
        if !claims.ath.is_some_and(|ath| constant_time_eq(ath.as_bytes(), expected.as_bytes())) {
            return Err(invalid("the DPoP proof's ath is not the hash of the access token"));
        }
    }
    if srv.config.dpop_nonce && !claims.nonce.as_deref().is_some_and(|n| nonce_is_fresh(srv, n, now)) {
        return Err(OAuthError::new(
            ErrorCode::UseDpopNonce,
            "the DPoP proof must carry the nonce given in DPoP-Nonce",
        ));
    }
    // Last, so that a proof refused above costs nothing: a proof is good once (§11.1).
    let key = format!(
        "dpop-jti:{}",
        URL_SAFE_NO_PAD.encode(&srv.hasher.hash("dpop-jti", &format!("{jkt}.{}", claims.jti)).0[..16])
    );
    match srv.limiter.hit(&key, 1, (MAX_AGE + MAX_AHEAD) as u64, now).await {
        Ok(Decision::Allowed { .. }) => Ok(Some(Proof { jkt })),
        Ok(Decision::Limited { .. }) => Err(invalid("the DPoP proof was used before: make a new one for each request")),
        Err(e) => {
            tracing::error!(error = %e, "DPoP proof replay check");
            Err(crate::errors::UNAVAILABLE)
        }
    }
}

/// §4.3 checks 1 to 7: one well-formed JWT, typed `dpop+jwt`, signed with an asymmetric algorithm
/// by the public key in its own header. The key's thumbprint, and the claims.
fn verify(jwt: &str) -> Result<(String, Claims), OAuthError> {
    let raw_header = jwt.split('.').next().and_then(|h| URL_SAFE_NO_PAD.decode(h).ok());
    let raw_header: serde_json::Value =
        raw_header.and_then(|h| serde_json::from_slice(&h).ok()).ok_or(invalid("the DPoP proof is not a JWT"))?;
    if raw_header.get("typ").and_then(|t| t.as_str()) != Some("dpop+jwt") {
        return Err(invalid("the DPoP proof's typ must be dpop+jwt"));
    }
    let jwk = raw_header.get("jwk").and_then(|j| j.as_object()).ok_or(invalid("the DPoP proof needs a jwk header"))?;
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err(invalid("the DPoP proof's jwk must be a public key"));
    }
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| invalid("the DPoP proof is not a JWT"))?;
    if !crate::assertion::ALGS.contains(&header.alg) {
        return Err(invalid(
            "the DPoP proof must be signed with an asymmetric algorithm (dpop_signing_alg_values_supported)",
        ));
    }
    let jwk = header.jwk.ok_or(invalid("the DPoP proof needs a jwk header"))?;
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
        return Err(invalid("the DPoP proof's jwk must be a public key"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the DPoP proof's jwk is not a usable key"))?;
    let mut validation = Validation::new(header.alg);
    // The times are checked against the server's clock by `proof`; a proof has no `aud` or `exp`.
    (validation.validate_exp, validation.validate_nbf, validation.validate_aud) = (false, false, false);
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(jwt, &key, &validation)
        .map_err(|_| invalid("the DPoP proof's signature does not verify with its jwk, or a claim is missing"))?
        .claims;
    let jkt = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| invalid("the DPoP proof's jwk has no thumbprint"))?;
    Ok((jkt, claims))
}

/// §4.3 check 9: the `htu` is the endpoint's URL, ignoring its query and fragment, compared after
/// the normalisation of RFC 3986 §6.2.2 and §6.2.3 that URL parsing does (case, default port).
fn same_uri(htu: &str, endpoint: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(endpoint)) else { return false };
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

/// A fresh nonce (§8), for the `DPoP-Nonce` header: the current period and a keyed hash of it, so
/// that any node checks it without storing anything.
pub(crate) fn nonce(srv: &AuthorizationServer) -> String {
    nonce_of(srv, srv.clock.now().div_euclid(NONCE_PERIOD))
}

fn nonce_of(srv: &AuthorizationServer, period: i64) -> String {
    let mac = srv.hasher.hash("dpop-nonce", &period.to_string()).0;
    format!("{period}.{}", URL_SAFE_NO_PAD.encode(&mac[..16]))
}

fn nonce_is_fresh(srv: &AuthorizationServer, nonce: &str, now: i64) -> bool {
    let period = now.div_euclid(NONCE_PERIOD);
    [period, period - 1].into_iter().any(|p| constant_time_eq(nonce_of(srv, p).as_bytes(), nonce.as_bytes()))
}

/// The nonce header for an answer, when this server asks for nonces.
pub(crate) fn nonce_header(srv: &AuthorizationServer) -> Option<(&'static str, HeaderValue)> {
    srv.config.dpop_nonce.then(|| nonce(srv)).and_then(|n| HeaderValue::from_str(&n).ok()).map(|v| (NONCE_HEADER, v))
}

/// RFC 9449 §10: a `dpop_jkt` parameter is a JWK SHA-256 thumbprint, base64url (43 characters).
pub(crate) fn check_dpop_jkt(value: Option<&str>) -> Result<Option<String>, OAuthError> {
    match value {
        None => Ok(None),
        Some(v) if v.len() == 43 && URL_SAFE_NO_PAD.decode(v).is_ok_and(|d| d.len() == 32) => Ok(Some(v.to_owned())),
        Some(_) => {
            Err(OAuthError::new(ErrorCode::InvalidRequest, "dpop_jkt must be a JWK SHA-256 thumbprint (RFC 7638)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_ignores_query_fragment_case_and_default_port() {
        let endpoint = "https://id.example.com/token";
        assert!(same_uri("https://id.example.com/token", endpoint));
        assert!(same_uri("https://ID.example.com:443/token?x=1#y", endpoint));
        assert!(!same_uri("https://id.example.com/token/", endpoint));
        assert!(!same_uri("http://id.example.com/token", endpoint));
        assert!(!same_uri("https://id.example.com:8443/token", endpoint));
        assert!(!same_uri("https://other.example.com/token", endpoint));
        assert!(!same_uri("/token", endpoint));
    }

    #[test]
    fn dpop_jkt_is_a_sha256_thumbprint() {
        let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_eq!(check_dpop_jkt(Some(jkt)).unwrap().as_deref(), Some(jkt));
        assert_eq!(check_dpop_jkt(None).unwrap(), None);
        assert!(check_dpop_jkt(Some("short")).is_err());
        assert!(check_dpop_jkt(Some(&"*".repeat(43))).is_err());
    }
}

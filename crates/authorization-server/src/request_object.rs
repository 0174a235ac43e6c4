//! Request objects (OIDC Core §6, RFC 9101): the parameters of an authorization request passed as
//! a JWT, by value (`request`) or by reference (`request_uri`, fetched from a URI the client
//! registered). Signed with the client's registered keys (or MACed with its secret, for a
//! `client_secret_jwt` client); unsigned (`alg: none`) only for a client registered so.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Client, RequestObjects};
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::AuthorizationServer;
use crate::assertion::{ALGS, HMAC_ALGS, names};
use crate::errors::{ErrorCode, OAuthError};
use crate::fetch::Fetcher;
use crate::params::Params;

/// The largest request object taken, by value or fetched.
pub const MAX_BYTES: usize = 16 * 1024;
/// Clock skew allowed on `exp` and `nbf`, seconds.
const LEEWAY: i64 = 60;
/// The members of a request object that are about the JWT, not parameters of the request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

/// What `request_object_signing_alg` may name (Discovery §3 `request_object_signing_alg_values_supported`).
pub fn signing_algs() -> impl Iterator<Item = String> {
    std::iter::once("none".to_owned()).chain(ALGS.iter().chain(&HMAC_ALGS).map(|a| format!("{a:?}")))
}

/// A client's request-object metadata at registration (Registration §2: `request_object_signing_alg`,
/// `request_uris`, and `jwks`/`jwks_uri` when it does not authenticate with `private_key_jwt`). None
/// when it registered none of it.
pub fn registered(
    alg: Option<String>,
    keys: Option<(Option<Value>, Option<String>)>,
    request_uris: Vec<String>,
    client_secret_jwt: bool,
    fetcher: &Fetcher,
) -> Result<Option<RequestObjects>, String> {
    if let Some(alg) = alg.as_deref() {
        if alg != "none" && !names(&ALGS, alg) && !names(&HMAC_ALGS, alg) {
            return Err(format!(
                "request_object_signing_alg must be one of {}",
                signing_algs().collect::<Vec<_>>().join(", ")
            ));
        }
        // The MAC needs the secret itself, which only a client_secret_jwt client's is kept as.
        if names(&HMAC_ALGS, alg) && !client_secret_jwt {
            return Err(
                "request_object_signing_alg HS256/384/512 needs token_endpoint_auth_method client_secret_jwt".into()
            );
        }
    }
    let (jwks, jwks_uri) = keys.unwrap_or_default();
    if jwks.is_some() || jwks_uri.is_some() {
        crate::assertion::usable_keys(jwks.as_ref(), jwks_uri.as_deref(), fetcher)?;
    }
    for uri in &request_uris {
        fetcher.check_url(uri).map_err(|e| format!("request_uris: {uri:?}: {e}"))?;
        if uri.len() > 512 {
            return Err("request_uris: each is at most 512 characters".into());
        }
    }
    if request_uris.len() > 10 {
        return Err("request_uris: at most 10".into());
    }
    let any = alg.is_some() || jwks.is_some() || jwks_uri.is_some() || !request_uris.is_empty();
    Ok(any.then_some(RequestObjects { alg, jwks, jwks_uri, request_uris }))
}

const fn invalid(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, description)
}

/// An authorization request's parameters, resolved: with its request object merged in, or those
/// of the request it pushed.
pub(crate) struct Resolved {
    pub params: Params,
    /// Why the request object (or pushed request) was refused, if it was: for the client's
    /// redirect URI once that is verified (RFC 9101 §6.3).
    pub refused: Option<OAuthError>,
    /// The parameters are those of a pushed request (RFC 9126), or are being pushed.
    pub pushed: bool,
}

/// The authorization request's parameters with its request object, if it has one, merged in: its
/// members supersede the parameters of the same name (OIDC Core §6.3.3), and `request` and
/// `request_uri` are gone. A `request_uri` of a pushed request gives that request's parameters
/// alone (RFC 9126 §4). A request object that is refused gives the parameters without it and the
/// error. A request without a known client is left as it is: the checks refuse it.
pub(crate) async fn resolve(srv: &AuthorizationServer, params: Params) -> Resolved {
    let plain = |params, refused| Resolved { params, refused, pushed: false };
    if !params.has("request") && !params.has("request_uri") {
        return plain(params, None);
    }
    let client = match params.get("client_id").and_then(domain::ClientId::parse) {
        Some(id) => srv.store.client(&id).await.ok().flatten(),
        None => None,
    };
    let Some(client) = client else { return plain(params, None) };
    if let Some(reference) = params.get("request_uri").and_then(|uri| uri.strip_prefix(crate::par::URN_PREFIX)) {
        return match crate::par::take(srv, &client, reference).await {
            Ok(pushed) => Resolved { params: pushed, refused: None, pushed: true },
            Err(e) => plain(without_request(&params), Some(e)),
        };
    }
    let outer = without_request(&params);
    match object_of(srv, &client, &params).await.and_then(|object| merge(&params, object)) {
        Ok(merged) => plain(merged, None),
        Err(e) => plain(outer, Some(e)),
    }
}

/// The parameters without `request` and `request_uri`.
/// A repeated parameter stays noted, for the checks to refuse (RFC 6749 §3.1).
pub(crate) fn without_request(params: &Params) -> Params {
    let kept = params.iter().filter(|(k, _)| !matches!(*k, "request" | "request_uri"));
    let mut out = Params::from_pairs(kept.map(|(k, v)| (k.to_owned(), v.to_owned())).collect());
    out.duplicated |= params.duplicated;
    out
}

/// The verified claims of the request object, by value or fetched from its registered URI.
async fn object_of(
    srv: &AuthorizationServer,
    client: &Client,
    params: &Params,
) -> Result<Map<String, Value>, OAuthError> {
    let jwt = match (params.get("request"), params.get("request_uri")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::new(ErrorCode::InvalidRequest, "request and request_uri must not both be sent"));
        }
        (Some(jwt), None) => jwt.to_owned(),
        (None, Some(uri)) => fetch(srv, client, uri).await?,
        (None, None) => return Ok(Map::new()),
    };
    verify(srv, client, jwt.trim()).await
}

/// OIDC Core §6.2: a `request_uri` the client registered (compared without its fragment, which
/// only says which version of the object to fetch) is fetched through the guarded client.
async fn fetch(srv: &AuthorizationServer, client: &Client, uri: &str) -> Result<String, OAuthError> {
    const UNKNOWN: OAuthError =
        OAuthError::new(ErrorCode::InvalidRequestUri, "the request_uri is not one the client registered");
    let base = uri.split('#').next().unwrap_or(uri);
    let registered = client.settings.request_objects.as_ref().map(|r| r.request_uris.as_slice()).unwrap_or_default();
    if !registered.iter().any(|r| r.split('#').next() == Some(base)) {
        return Err(UNKNOWN);
    }
    srv.client_keys.fetcher().text(base, "application/oauth-authz-req+jwt").await.map_err(|e| {
        tracing::warn!(client = %client.id, request_uri = base, error = %e, "a request_uri could not be fetched");
        OAuthError::new(ErrorCode::InvalidRequestUri, "the request_uri could not be fetched")
    })
}

/// The one rule for a request object (OIDC Core §6.3.2, RFC 9101 §6): signed with the client's
/// registered algorithm by one of its keys (or its secret), or unsigned only for a client
/// registered with `none`; when present, `iss` is the client, `aud` names this issuer, `exp` is in
/// the future and `nbf` is not.
async fn verify(srv: &AuthorizationServer, client: &Client, jwt: &str) -> Result<Map<String, Value>, OAuthError> {
    if jwt.len() > MAX_BYTES {
        return Err(invalid("the request object is too large"));
    }
    let registered = client.settings.request_objects.as_ref().and_then(|r| r.alg.as_deref());
    let alg = header_alg(jwt).ok_or(invalid("the request object is not a JWT"))?;
    let claims = if alg == "none" {
        if registered != Some("none") {
            return Err(invalid("the client did not register unsigned request objects (alg none)"));
        }
        unsigned_claims(jwt).ok_or(invalid("the request object is not a JWT"))?
    } else {
        signed_claims(srv, client, jwt, registered).await?
    };
    let now = srv.clock.now();
    if claims.get("iss").is_some_and(|iss| iss.as_str() != Some(client.id.as_str())) {
        return Err(invalid("the request object's iss must be the client_id"));
    }
    let issuer = srv.config.issuer.as_str();
    let names_us = |aud: &Value| match aud {
        Value::String(a) => a == issuer,
        Value::Array(all) => all.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if claims.get("aud").is_some_and(|aud| !names_us(aud)) {
        return Err(invalid("the request object's aud must be the issuer"));
    }
    let time = |name: &str| claims.get(name).map(|v| v.as_i64().ok_or(invalid("exp and nbf must be numbers")));
    if time("exp").transpose()?.is_some_and(|exp| exp + LEEWAY <= now) {
        return Err(invalid("the request object has expired"));
    }
    if time("nbf").transpose()?.is_some_and(|nbf| nbf > now + LEEWAY) {
        return Err(invalid("the request object is not valid yet"));
    }
    Ok(claims)
}

/// The `alg` of a JWT's header, read before anything is verified.
fn header_alg(jwt: &str) -> Option<String> {
    let header = URL_SAFE_NO_PAD.decode(jwt.split('.').next()?).ok()?;
    let header: Value = serde_json::from_slice(&header).ok()?;
    header["alg"].as_str().map(str::to_owned)
}

/// The claims of an unsigned JWT (RFC 7519 §6): `header.payload.`, nothing after the last dot.
fn unsigned_claims(jwt: &str) -> Option<Map<String, Value>> {
    let mut parts = jwt.split('.');
    let (_, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if !signature.is_empty() || parts.next().is_some() {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

async fn signed_claims(
    srv: &AuthorizationServer,
    client: &Client,
    jwt: &str,
    registered: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    const UNSIGNED: OAuthError = invalid("the request object is not signed with the client's registered algorithm");
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| invalid("the request object is not a JWS"))?;
    if registered.is_some_and(|r| r != format!("{:?}", header.alg)) {
        return Err(UNSIGNED);
    }
    let now = srv.clock.now();
    let keys: Vec<DecodingKey> = if HMAC_ALGS.contains(&header.alg) {
        crate::assertion::secrets(srv, client, now)
    } else if ALGS.contains(&header.alg) {
        let (jwks, jwks_uri) = client.settings.public_keys();
        if jwks.is_none() && jwks_uri.is_none() {
            return Err(invalid("the client registered no keys (jwks or jwks_uri) to verify request objects"));
        }
        srv.client_keys.candidates(client, header.kid.as_deref(), header.alg, now).await.map_err(invalid)?
    } else {
        return Err(UNSIGNED);
    };
    let mut validation = Validation::new(header.alg);
    // Times, `iss` and `aud` are optional here and checked by the caller.
    (validation.validate_exp, validation.validate_nbf, validation.validate_aud) = (false, false, false);
    validation.required_spec_claims.clear();
    let verified = keys.iter().find_map(|key| jsonwebtoken::decode::<Map<String, Value>>(jwt, key, &validation).ok());
    verified
        .map(|data| data.claims)
        .ok_or(invalid("the request object's signature does not verify with the client's keys"))
}

/// OIDC Core §6.1, §6.3.3: the object's members supersede the parameters; its `client_id` and
/// `response_type`, when the parameters have them too, must agree with them (RFC 9101 §5 lets a
/// client send `response_type` in the object alone).
fn merge(params: &Params, object: Map<String, Value>) -> Result<Params, OAuthError> {
    for name in ["client_id", "response_type"] {
        let disagrees = match (object.get(name), params.get(name)) {
            (Some(Value::String(inner)), Some(outer)) => inner != outer,
            (Some(Value::String(_)) | None, _) => false,
            (Some(_), _) => true,
        };
        if disagrees {
            return Err(invalid("the request object's client_id and response_type must match the parameters"));
        }
    }
    if object.contains_key("request") || object.contains_key("request_uri") {
        return Err(invalid("a request object cannot hold request or request_uri"));
    }
    let mut merged: Map<String, Value> =
        without_request(params).iter().map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect();
    for (name, value) in object {
        let value = match value {
            _ if JWT_CLAIMS.contains(&name.as_str()) => continue,
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            // OIDC Core §5.5: the claims request is a JSON object inside the request object.
            Value::Object(o) if name == "claims" => Value::Object(o).to_string(),
            Value::Null => {
                merged.remove(&name);
                continue;
            }
            // Arrays and other objects are no parameter this provider reads.
            _ => continue,
        };
        merged.insert(name, Value::String(value));
    }
    let pairs = merged.into_iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())));
    let mut out = Params::from_pairs(pairs.collect());
    out.duplicated |= params.duplicated;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_supersedes_the_parameters_and_must_agree_on_client_and_response_type() {
        let params = Params::parse(b"client_id=c1&response_type=code&scope=openid&state=outer&request=x");
        let object = serde_json::json!({
            "client_id": "c1", "state": "inner", "max_age": 60, "claims": {"userinfo": {"email": null}},
            "iss": "c1", "aud": "https://op.example", "exp": 1, "extra": ["a"]
        });
        let merged = merge(&params, object.as_object().unwrap().clone()).unwrap();
        assert_eq!(merged.get("state"), Some("inner"));
        assert_eq!(merged.get("scope"), Some("openid"));
        assert_eq!(merged.get("max_age"), Some("60"));
        assert_eq!(merged.get("claims"), Some(r#"{"userinfo":{"email":null}}"#));
        for gone in ["request", "iss", "aud", "exp", "extra"] {
            assert!(!merged.has(gone), "{gone}");
        }
        let other = serde_json::json!({"client_id": "c2"});
        assert!(merge(&params, other.as_object().unwrap().clone()).is_err());
        let repeated = Params::parse(b"client_id=c1&state=a&state=b&request=x");
        let object = serde_json::json!({"nonce": "n"});
        assert!(merge(&repeated, object.as_object().unwrap().clone()).unwrap().duplicated);
        assert!(without_request(&repeated).duplicated);
        let numeric = serde_json::json!({"client_id": 1});
        assert!(merge(&params, numeric.as_object().unwrap().clone()).is_err());
        // RFC 9101 §5: response_type may be in the object alone.
        let jar = Params::parse(b"client_id=c1&request=x");
        let inner = serde_json::json!({"response_type": "code"});
        assert_eq!(merge(&jar, inner.as_object().unwrap().clone()).unwrap().get("response_type"), Some("code"));
        let nested = serde_json::json!({"request_uri": "https://x"});
        assert!(merge(&params, nested.as_object().unwrap().clone()).is_err());
    }

    #[test]
    fn an_unsigned_jwt_has_nothing_after_its_last_dot() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"state":"s"}"#);
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(unsigned_claims(&format!("{header}.{payload}.")).unwrap()["state"], "s");
        assert!(unsigned_claims(&format!("{header}.{payload}.sig")).is_none());
        assert!(unsigned_claims(&format!("{header}.{payload}")).is_none());
        assert_eq!(header_alg(&format!("{header}.{payload}.")).as_deref(), Some("none"));
    }
}

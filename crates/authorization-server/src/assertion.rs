//! Client authentication with a JWT (OIDC Core §9, RFC 7523 §2.2 and §3): `client_secret_jwt`, a
//! JWT the client MACs with its secret, and `private_key_jwt`, one it signs with its own key. A
//! `client_secret_jwt` client's secret is kept sealed beside its hash (`Client::secret_sealed`). A
//! `private_key_jwt` client's public keys come from its registration,
//! inline (`jwks`) or from its `jwks_uri`, fetched through the guarded [`Fetcher`], cached, and
//! fetched again, at most every [`REFETCH_GAP`] seconds, when an assertion names a key not in the
//! cached set (the client rotated its keys).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use domain::{Client, PrivateKeyJwt};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::errors::{ErrorCode, OAuthError};
use crate::fetch::{FetchError, Fetcher};

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What a client may sign its assertions with: asymmetric algorithms only. Never `none`, and never
/// an HMAC, which would take a public key as its secret (RFC 8725 §3.1, §3.2).
pub const ALGS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What a `client_secret_jwt` client may MAC its assertions with (the client's secret is the key).
pub const HMAC_ALGS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// The longest an assertion may live, seconds. RFC 7523 §3 item 4 lets the server refuse an `exp`
/// unreasonably far ahead; used `jti`s are kept until `exp`, so this also bounds what is kept.
pub const MAX_LIFETIME: i64 = 3600;
/// Clock skew allowed on `exp`, `nbf` and `iat`, seconds.
const LEEWAY: i64 = 60;
/// How long a fetched key set is used before it is fetched again, seconds.
pub const FRESH_FOR: i64 = 300;
/// The least time between two fetches of one `jwks_uri`, seconds: an assertion naming an unknown
/// key fetches the set again at most this often, so assertions cannot make the server fetch at will.
pub const REFETCH_GAP: i64 = 10;
/// Key sets cached at most (one per `jwks_uri`); beyond it the cache starts again.
const MAX_CACHED: usize = 10_000;

const fn refused(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// Whether `name` is one of `algs` (`"ES256"`, as registration and discovery spell them).
pub fn names(algs: &[Algorithm], name: &str) -> bool {
    algs.iter().any(|a| format!("{a:?}") == name)
}

/// A `private_key_jwt` client's keys ([`usable_keys`]) and the algorithm, when given, one its
/// assertions may use.
pub fn registered_keys(
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    alg: Option<String>,
    fetcher: &Fetcher,
) -> Result<PrivateKeyJwt, String> {
    if alg.as_deref().is_some_and(|alg| !names(&ALGS, alg)) {
        return Err(
            "token_endpoint_auth_signing_alg must be RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA"
                .into(),
        );
    }
    usable_keys(jwks.as_ref(), jwks_uri.as_deref(), fetcher)?;
    Ok(PrivateKeyJwt { alg, jwks, jwks_uri })
}

/// A client's registered keys (Registration §2), whatever they serve: `jwks` or `jwks_uri`, never
/// both; public signing keys only (a key with a private part, `d`, was registered by mistake and is
/// refused); a `jwks_uri` the fetch policy allows.
pub fn usable_keys(jwks: Option<&serde_json::Value>, jwks_uri: Option<&str>, fetcher: &Fetcher) -> Result<(), String> {
    match (jwks, jwks_uri) {
        (Some(_), Some(_)) => return Err("jwks and jwks_uri must not both be present".into()),
        (None, None) => return Err("the client's keys are needed: jwks or jwks_uri".into()),
        (Some(set), None) => {
            if serde_json::to_vec(set).map_or(usize::MAX, |b| b.len()) > crate::fetch::MAX_BYTES {
                return Err("jwks is too large".into());
            }
            let private = set["keys"].as_array().is_some_and(|keys| keys.iter().any(|k| k.get("d").is_some()));
            if private {
                return Err("jwks holds a private key: register only the public keys".into());
            }
            let parsed: jsonwebtoken::jwk::JwkSet = serde_json::from_value(set.clone())
                .map_err(|_| "jwks is not a JWK Set (RFC 7517 section 5)".to_owned())?;
            let usable = parsed.keys.iter().any(|k| {
                !matches!(k.algorithm, jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_))
                    && jsonwebtoken::DecodingKey::from_jwk(k).is_ok()
            });
            if !usable {
                return Err("jwks has no public RSA, EC or OKP key".into());
            }
        }
        (None, Some(uri)) => {
            if let Err(e) = fetcher.check_url(uri) {
                return Err(format!("jwks_uri: {e}"));
            }
        }
    }
    Ok(())
}

/// The claims RFC 7523 §3 and OIDC Core §9 require; `aud` is checked by `jsonwebtoken`.
#[derive(serde::Deserialize)]
struct Claims {
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default)]
    jti: Option<String>,
}

/// The `sub` of an assertion, read without checking anything: which client it claims to be, so
/// that the client's keys can be found. Nothing is trusted until [`check`] has verified it.
pub fn claimed_client(assertion: &str) -> Option<String> {
    if assertion.len() > 16 * 1024 {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Sub {
        sub: String,
    }
    jsonwebtoken::dangerous::insecure_decode::<Sub>(assertion).ok().map(|t| t.claims.sub)
}

/// The public keys of the clients that publish them at a `jwks_uri`.
pub struct ClientKeys {
    fetcher: Fetcher,
    cache: Mutex<HashMap<String, Cached>>,
}

struct Cached {
    /// `None` when the last fetch failed.
    set: Option<Arc<JwkSet>>,
    fetched_at: i64,
}

impl ClientKeys {
    pub fn new(fetcher: Fetcher) -> Self {
        ClientKeys { fetcher, cache: Mutex::new(HashMap::new()) }
    }

    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The keys of `client` that may have signed a JWT (an assertion, a request object) with `kid`
    /// (if named) and `alg`: its registered `jwks`, or those of its `jwks_uri`. Err says why none
    /// could be looked at.
    pub(crate) async fn candidates(
        &self,
        client: &Client,
        kid: Option<&str>,
        alg: Algorithm,
        now: i64,
    ) -> Result<Vec<DecodingKey>, &'static str> {
        let (jwks, jwks_uri) = client.settings.public_keys();
        if let Some(jwks) = jwks {
            let set: JwkSet =
                serde_json::from_value(jwks.clone()).map_err(|_| "the client's registered jwks is not a JWK Set")?;
            return Ok(matching(&set, kid, alg));
        }
        let Some(uri) = jwks_uri else {
            return Err("the client has no keys registered (jwks or jwks_uri)");
        };
        let (cached, fetched_at) = match self.cache.lock() {
            Ok(cache) => cache.get(uri).map_or((None, None), |c| (c.set.clone(), Some(c.fetched_at))),
            Err(_) => (None, None),
        };
        let fresh = fetched_at.is_some_and(|at| now - at < FRESH_FOR);
        if let Some(set) = cached.as_ref().filter(|_| fresh) {
            let found = matching(set, kid, alg);
            if !found.is_empty() {
                return Ok(found);
            }
        }
        // Not fetched yet, stale, or no key fits (a rotation): fetch again, but not too often.
        if fetched_at.is_some_and(|at| now - at < REFETCH_GAP) {
            return match cached {
                Some(_) => Err("no key of the client's jwks_uri fits the JWT (kid and alg)"),
                None => Err("the client's jwks_uri could not be fetched; try again shortly"),
            };
        }
        let fetched = self.fetch(uri).await;
        if let Err(e) = &fetched {
            tracing::warn!(client = %client.id, jwks_uri = uri, error = %e, "a client's jwks_uri could not be fetched");
        }
        let set = fetched.ok().map(Arc::new);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(uri.to_owned(), Cached { set: set.clone(), fetched_at: now });
        }
        match set {
            Some(set) => Ok(matching(&set, kid, alg)),
            None => Err("the client's jwks_uri could not be fetched; try again shortly"),
        }
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, FetchError> {
        let value = self.fetcher.json(uri).await?;
        serde_json::from_value(value).map_err(|_| FetchError::Failed("it is not a JWK Set".into()))
    }
}

/// A `client_secret_jwt` client's secrets as MAC keys: the current one, and the one before a
/// rotation while its grace period lasts.
pub(crate) fn secrets(srv: &crate::AuthorizationServer, client: &Client, now: i64) -> Vec<DecodingKey> {
    let previous = client.previous_secret.as_ref().filter(|p| now < p.until).and_then(|p| p.sealed.as_deref());
    let open = |sealed: &[u8]| domain::client_rules::open_secret(&srv.client_secrets, &client.id, sealed);
    client
        .secret_sealed
        .as_deref()
        .into_iter()
        .chain(previous)
        .filter_map(open)
        .map(|secret| DecodingKey::from_secret(secret.as_bytes()))
        .collect()
}

/// The keys of `set` that may verify a signature by `alg`: named `kid` (when the header names
/// one), not for encryption, and registered for `alg` when a key says which (RFC 7517 §4.2, §4.4).
fn matching(set: &JwkSet, kid: Option<&str>, alg: Algorithm) -> Vec<DecodingKey> {
    let fits = |k: &Jwk| {
        kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid))
            && k.common.public_key_use != Some(PublicKeyUse::Encryption)
            && k.common.key_algorithm.is_none_or(|a| a.to_string() == format!("{alg:?}"))
    };
    set.keys.iter().filter(|k| fits(k)).filter_map(|k| DecodingKey::from_jwk(k).ok()).collect()
}

/// The one rule for a client assertion (RFC 7523 §3, OIDC Core §9): signed by one of the client's
/// keys with its registered algorithm; `iss` and `sub` the client; `aud` one of `audiences` (the
/// token endpoint, the issuer, or the endpoint it was sent to); `exp` in the future and at most
/// [`MAX_LIFETIME`] away; `nbf` and `iat` not in the future; and a `jti` never presented before.
pub(crate) async fn check(
    srv: &crate::AuthorizationServer,
    client: &Client,
    assertion: &str,
    audiences: &[String],
) -> Result<(), OAuthError> {
    if assertion.len() > 16 * 1024 {
        return Err(refused("the client assertion is too large"));
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| refused("the client assertion is not a JWS"))?;
    let now = srv.clock.now();
    // The algorithms of the client's method (never `none`), narrowed to the one it registered.
    let (registered, family) = match (&client.settings.client_secret_jwt, &client.settings.private_key_jwt) {
        (Some(secret), _) => (secret.alg.as_deref(), &HMAC_ALGS[..]),
        (None, Some(keys)) => (keys.alg.as_deref(), &ALGS[..]),
        (None, None) => return Err(refused("this client authenticates with its secret, not a client assertion")),
    };
    let pinned =
        registered.map(|a| a.parse::<Algorithm>().map_err(|_| refused("the client's registered alg is unknown")));
    if !family.contains(&header.alg) || pinned.transpose()?.is_some_and(|alg| alg != header.alg) {
        return Err(refused("the client assertion is not signed with the client's registered algorithm"));
    }
    let candidates = match &client.settings.private_key_jwt {
        Some(_) if client.settings.client_secret_jwt.is_none() => {
            srv.client_keys.candidates(client, header.kid.as_deref(), header.alg, now).await.map_err(refused)?
        }
        _ => secrets(srv, client, now),
    };
    if candidates.is_empty() {
        return Err(refused("no key or secret of the client fits the assertion (kid and alg)"));
    }
    let mut validation = Validation::new(header.alg);
    // Times are checked below against the server's clock.
    (validation.validate_exp, validation.validate_nbf) = (false, false);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.set_issuer(&[client.id.as_str()]);
    validation.sub = Some(client.id.to_string());
    validation.set_audience(audiences);
    let mut last = None;
    let mut claims = None;
    for key in &candidates {
        match jsonwebtoken::decode::<Claims>(assertion, key, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(claims) = claims else {
        use jsonwebtoken::errors::ErrorKind;
        return Err(match last.as_ref().map(|e| e.kind()) {
            Some(ErrorKind::InvalidAudience) => refused("the client assertion's aud must be the token endpoint"),
            Some(ErrorKind::InvalidIssuer | ErrorKind::InvalidSubject) => {
                refused("the client assertion's iss and sub must be the client_id")
            }
            Some(ErrorKind::MissingRequiredClaim(_)) => {
                refused("the client assertion needs iss, sub, aud, exp and jti (OIDC Core 9)")
            }
            _ => refused("the client assertion's signature does not verify with the client's keys or secret"),
        });
    };
    if claims.exp + LEEWAY <= now {
        return Err(refused("the client assertion has expired"));
    }
    if claims.exp > now + MAX_LIFETIME + LEEWAY {
        return Err(refused("the client assertion lives too long: its exp must be within an hour"));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY) || claims.iat.is_some_and(|iat| iat > now + LEEWAY) {
        return Err(refused("the client assertion is not valid yet (nbf or iat in the future)"));
    }
    let Some(jti) = claims.jti.filter(|j| !j.is_empty() && j.len() <= 256) else {
        return Err(refused("the client assertion needs a jti of at most 256 characters"));
    };
    let jti_hash = srv.hasher.hash("client-assertion-jti", &jti).0;
    let first = srv
        .store
        .spend_assertion(&client.id, &jti_hash, claims.exp + LEEWAY)
        .await
        .map_err(|e| crate::errors::internal("client assertion", &e))?;
    if !first {
        return Err(refused("the client assertion was used before: sign a new one for each request"));
    }
    Ok(())
}

//! Client registration and client authentication (RFC 6749 §2.3).

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::Client;
use domain::{ClientId, KeyedHasher};

use crate::errors::{ErrorCode, OAuthError};
use crate::params::Params;

pub use domain::client_rules::{ClientError, NewClient, check_registered_uri, hash_secret, new_client};

const INVALID_CLIENT: OAuthError = OAuthError::new(ErrorCode::InvalidClient, "client authentication failed");

/// The credentials a token request carried, before they are checked.
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<String>,
    /// A JWT the client signed with its own key (`private_key_jwt`, RFC 7523 §2.2).
    pub assertion: Option<String>,
}

const ONE_METHOD: OAuthError = OAuthError::new(ErrorCode::InvalidRequest, "use only one client authentication method");

/// Reads `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic),
/// `client_secret_post`, `private_key_jwt` (RFC 7523 §2.2: `client_assertion_type` and
/// `client_assertion`), or `none` (a public client naming itself). More than one method is an error.
pub fn read_credentials(req: &HttpRequest, params: &Params) -> Result<Credentials, OAuthError> {
    let basic = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim().to_owned())
    });
    if let Some(assertion) = read_assertion(params)? {
        if basic.is_some() || params.has("client_secret") {
            return Err(ONE_METHOD);
        }
        let claimed = crate::assertion::claimed_client(&assertion)
            .ok_or(OAuthError::new(ErrorCode::InvalidClient, "the client assertion is not a JWT with a sub"))?;
        // RFC 7523 §3 item 2: the assertion's `sub` is the client; a `client_id` beside it must agree.
        if params.get("client_id").is_some_and(|id| id != claimed) {
            return Err(OAuthError::new(ErrorCode::InvalidClient, "client_id is not the client assertion's sub"));
        }
        return Ok(Credentials { client_id: claimed, secret: None, assertion: Some(assertion) });
    }
    if let Some(encoded) = basic {
        if params.has("client_secret") {
            return Err(ONE_METHOD);
        }
        let decoded = STANDARD.decode(encoded).map_err(|_| INVALID_CLIENT)?;
        let text = String::from_utf8(decoded).map_err(|_| INVALID_CLIENT)?;
        let (id, secret) = text.split_once(':').ok_or(INVALID_CLIENT)?;
        let decode =
            |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
        let id = decode(id).ok_or(INVALID_CLIENT)?;
        let secret = decode(secret).ok_or(INVALID_CLIENT)?;
        if params.get("client_id").is_some_and(|body_id| body_id != id) {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "client_id does not match the authenticated client",
            ));
        }
        return Ok(Credentials { client_id: id, secret: Some(secret), assertion: None });
    }
    let client_id = params.get("client_id").ok_or(INVALID_CLIENT)?.to_owned();
    Ok(Credentials { client_id, secret: params.get("client_secret").map(str::to_owned), assertion: None })
}

/// `client_assertion` with its type (RFC 7521 §4.2): both or neither, and the type JWT's.
fn read_assertion(params: &Params) -> Result<Option<String>, OAuthError> {
    match (params.get("client_assertion_type"), params.get("client_assertion")) {
        (None, None) => Ok(None),
        (Some(crate::assertion::JWT_BEARER), Some(assertion)) => Ok(Some(assertion.to_owned())),
        (Some(_), Some(_)) => Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )),
        _ => Err(OAuthError::new(ErrorCode::InvalidRequest, "client_assertion and client_assertion_type go together")),
    }
}

/// Checks credentials against the registered client: a confidential client must present its
/// secret (compared as keyed hashes in constant time); a public client must present none.
pub fn check_client_authentication(
    client: Option<&Client>,
    creds: &Credentials,
    hasher: &KeyedHasher,
    now: i64,
) -> Result<(), OAuthError> {
    let client = client.ok_or(INVALID_CLIENT)?;
    // RFC 6749 §2.3.1.
    // A disabled client is refused like an unknown one.
    let authenticated = !client.is_disabled()
        && match (&client.secret_hash, creds.secret.as_deref()) {
            (Some(_), Some(given)) => domain::client_rules::secret_matches(client, given, hasher, now),
            (None, None) => client.is_public,
            _ => false,
        };
    if authenticated { Ok(()) } else { Err(INVALID_CLIENT) }
}

/// Reads a client-authenticated form request (token, revocation, introspection): a form body
/// (RFC 6749 §3.2), no repeated parameter, and an authenticated client.
pub(crate) async fn read_client_form(
    req: &HttpRequest,
    body: &[u8],
    srv: &crate::AuthorizationServer,
) -> Result<(Client, Params), OAuthError> {
    let params = match crate::params::media_type(req).as_deref() {
        Some("application/x-www-form-urlencoded") => Params::parse(body),
        // Auth0's Authentication API takes JSON at /oauth/token too (and its SDKs send it).
        Some("application/json") if req.path() == crate::paths::OAUTH_TOKEN => Params::from_json(body)
            .ok_or(OAuthError::new(ErrorCode::InvalidRequest, "the body must be a JSON object of strings"))?,
        _ if req.path() == crate::paths::OAUTH_TOKEN => {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the body must be application/x-www-form-urlencoded or application/json, uncompressed",
            ));
        }
        _ => {
            return Err(OAuthError::new(
                ErrorCode::InvalidRequest,
                "the body must be application/x-www-form-urlencoded, uncompressed",
            ));
        }
    };
    if params.duplicated {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "a parameter is repeated"));
    }
    let client = authenticate(req, &params, srv).await?;
    Ok((client, params))
}

/// Authenticates the client of a token, revocation or introspection request.
async fn authenticate(
    req: &HttpRequest,
    params: &Params,
    srv: &crate::AuthorizationServer,
) -> Result<Client, OAuthError> {
    let creds = read_credentials(req, params)?;
    let client = match ClientId::parse(&creds.client_id) {
        Some(id) => srv.store.client(&id).await.map_err(|e| crate::errors::internal("client lookup", &e))?,
        None => None,
    };
    if let Some(assertion) = &creds.assertion {
        // A disabled client is refused like an unknown one.
        let client = client.filter(|c| !c.is_disabled()).ok_or(INVALID_CLIENT)?;
        // OIDC Core §9: the token endpoint's URL; the issuer and the endpoint the request came to
        // also identify this server (RFC 7523 §3 item 3).
        let audiences =
            [srv.config.endpoint(crate::paths::TOKEN), srv.config.issuer.clone(), srv.config.endpoint(req.path())];
        crate::assertion::check(srv, &client, assertion, &audiences).await?;
        return Ok(client);
    }
    check_client_authentication(client.as_ref(), &creds, &srv.hasher, srv.clock.now())?;
    client.ok_or(crate::errors::SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_secret_authenticates_a_confidential_client() {
        let hasher = domain::MasterKey::generate().hasher();
        let new = NewClient {
            name: "App".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            public: false,
            id_token_alg: crate::keys::Alg::RS256,
            native: false,
            settings: Default::default(),
        };
        let (client, secret) = new_client(new, &hasher, 0).unwrap();
        let secret = secret.unwrap();
        let creds = |s: Option<&str>| Credentials {
            client_id: client.id.to_string(),
            secret: s.map(str::to_owned),
            assertion: None,
        };
        assert!(check_client_authentication(Some(&client), &creds(Some(&secret)), &hasher, 0).is_ok());
        assert!(check_client_authentication(Some(&client), &creds(Some("wrong")), &hasher, 0).is_err());
        assert!(check_client_authentication(Some(&client), &creds(None), &hasher, 0).is_err());
        assert!(check_client_authentication(None, &creds(Some(&secret)), &hasher, 0).is_err());
    }
}

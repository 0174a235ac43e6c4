//! Client registration and client authentication (RFC 6749 §2.3).

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use domain::Client;
use domain::secret::random_token;
use domain::{ClientId, KeyedHasher};

use crate::errors::{ErrorCode, OAuthError};
use crate::params::Params;

/// What `ostiary client create` asks for.
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub id_token_alg: crate::keys::Alg,
    /// A native app (OpenID Connect Registration §2): its loopback redirect URIs match any port.
    pub native: bool,
    pub settings: domain::ClientSettings,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    #[error("a client needs a name")]
    NoName,
    #[error("a client's name must be at most 100 characters, without control or invisible formatting characters")]
    BadName,
    #[error("a client needs at least one redirect URI")]
    NoRedirectUri,
    #[error("redirect URI {0:?} is not an absolute URI without a fragment (RFC 6749 §3.1.2)")]
    BadRedirectUri(String),
    #[error("an admin API client must be confidential: it proves itself with its secret")]
    PublicAdminApi,
}

/// Checks a redirect URI for registration: absolute, no fragment (RFC 6749 §3.1.2).
pub fn check_registered_uri(uri: &str) -> Result<(), ClientError> {
    match url::Url::parse(uri) {
        Ok(u) if u.fragment().is_none() && !u.cannot_be_a_base() || u_is_private_use(uri) => Ok(()),
        _ => Err(ClientError::BadRedirectUri(uri.to_owned())),
    }
}

/// Native apps may use private-use schemes such as `com.example.app:/callback` (RFC 8252 §7.1).
fn u_is_private_use(uri: &str) -> bool {
    uri.split_once(':')
        .is_some_and(|(scheme, rest)| scheme.contains('.') && rest.starts_with('/') && !uri.contains('#'))
}

/// Builds a client record; returns it with the secret in clear, shown once (confidential clients only).
pub fn new_client(new: NewClient, hasher: &KeyedHasher, now: i64) -> Result<(Client, Option<String>), ClientError> {
    if new.name.trim().is_empty() {
        return Err(ClientError::NoName);
    }
    // The name reaches email subjects and text messages: one line of visible text.
    if !domain::client::is_display_name(&new.name, 100) {
        return Err(ClientError::BadName);
    }
    // An admin API client signs nobody in: it only uses client_credentials, so it needs no
    // redirect URI, but it must hold a secret.
    if new.settings.admin_api && new.public {
        return Err(ClientError::PublicAdminApi);
    }
    if new.redirect_uris.is_empty() && !new.settings.admin_api {
        return Err(ClientError::NoRedirectUri);
    }
    for uri in new.redirect_uris.iter().chain(&new.post_logout_redirect_uris) {
        check_registered_uri(uri)?;
    }
    let secret = (!new.public).then(|| random_token(32));
    let client = Client {
        id: ClientId::generate(),
        name: new.name.trim().to_owned(),
        secret_hash: secret.as_deref().map(|s| hash_secret(hasher, s)),
        is_public: new.public,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        id_token_alg: new.id_token_alg,
        created_at: now,
        application_type: if new.native { domain::ApplicationType::Native } else { domain::ApplicationType::Web },
        settings: new.settings,
    };
    Ok((client, secret))
}

const SECRET_PURPOSE: &str = "client-secret";

/// The keyed hash a client secret is stored as.
pub fn hash_secret(hasher: &KeyedHasher, secret: &str) -> Vec<u8> {
    hasher.hash(SECRET_PURPOSE, secret).0
}

const INVALID_CLIENT: OAuthError = OAuthError::new(ErrorCode::InvalidClient, "client authentication failed");

/// The credentials a token request carried, before they are checked.
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<String>,
}

/// Reads `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-urlencoded, then Basic),
/// `client_secret_post`, or `none` (a public client naming itself). More than one method is an error.
pub fn read_credentials(req: &HttpRequest, params: &Params) -> Result<Credentials, OAuthError> {
    let basic = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim().to_owned())
    });
    if let Some(encoded) = basic {
        if params.has("client_secret") {
            return Err(OAuthError::new(ErrorCode::InvalidRequest, "use only one client authentication method"));
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
        return Ok(Credentials { client_id: id, secret: Some(secret) });
    }
    let client_id = params.get("client_id").ok_or(INVALID_CLIENT)?.to_owned();
    Ok(Credentials { client_id, secret: params.get("client_secret").map(str::to_owned) })
}

/// Checks credentials against the registered client: a confidential client must present its
/// secret (compared as keyed hashes in constant time); a public client must present none.
pub fn check_client_authentication(
    client: Option<&Client>,
    creds: &Credentials,
    hasher: &KeyedHasher,
) -> Result<(), OAuthError> {
    let client = client.ok_or(INVALID_CLIENT)?;
    // RFC 6749 §2.3.1.
    let authenticated = match (&client.secret_hash, creds.secret.as_deref()) {
        (Some(stored), Some(given)) => domain::secret::constant_time_eq(stored, &hash_secret(hasher, given)),
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
    check_client_authentication(client.as_ref(), &creds, &srv.hasher)?;
    client.ok_or(crate::errors::SERVER_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_absolute_without_fragment() {
        assert!(check_registered_uri("https://app.example.com/cb").is_ok());
        assert!(check_registered_uri("http://127.0.0.1:9000/cb?x=1").is_ok());
        assert!(check_registered_uri("com.example.app:/oauth").is_ok());
        assert!(check_registered_uri("/relative").is_err());
        assert!(check_registered_uri("https://app.example.com/cb#frag").is_err());
        assert!(check_registered_uri("mailto:ann@example.com").is_err());
    }

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
        let creds = |s: Option<&str>| Credentials { client_id: client.id.to_string(), secret: s.map(str::to_owned) };
        assert!(check_client_authentication(Some(&client), &creds(Some(&secret)), &hasher).is_ok());
        assert!(check_client_authentication(Some(&client), &creds(Some("wrong")), &hasher).is_err());
        assert!(check_client_authentication(Some(&client), &creds(None), &hasher).is_err());
        assert!(check_client_authentication(None, &creds(Some(&secret)), &hasher).is_err());
    }
}

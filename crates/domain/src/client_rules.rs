//! The rules of a client's registration and secret, in one place for everyone who makes or changes
//! clients: dynamic registration (RFC 7591), the CLI and the admin API.

use crate::secret::random_token;
use crate::{Client, ClientId, KeyedHasher};

/// What `ostiary client create` asks for.
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub id_token_alg: crate::SigningAlg,
    /// A native app (OpenID Connect Registration §2): its loopback redirect URIs match any port.
    pub native: bool,
    pub settings: crate::ClientSettings,
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
    #[error("branding: {0}")]
    BadBranding(String),
    #[error("settings.hooks: {0}")]
    BadHooks(String),
    #[error("settings.phone_region: {0:?} is not a region code like GB or FR")]
    BadPhoneRegion(String),
    #[error("settings.private_key_jwt: {0}")]
    BadKeys(&'static str),
    #[error("settings.request_objects: {0}")]
    BadRequestObjects(&'static str),
    #[error(
        "frontchannel_logout_uri must be an http(s) URL without a fragment, on the scheme, host and port of a redirect URI"
    )]
    BadFrontChannelLogout,
    #[error("backchannel_logout_uri must be an absolute http(s) URL without a fragment")]
    BadBackChannelLogout,
    #[error("settings.pairwise.sector must be a host name, like app.example")]
    BadSector,
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

/// The rules every client's metadata obeys, at creation and at every change.
pub fn check_metadata(client: &Client) -> Result<(), ClientError> {
    if client.name.trim().is_empty() {
        return Err(ClientError::NoName);
    }
    // The name reaches email subjects and text messages: one line of visible text.
    if !crate::client::is_display_name(&client.name, 100) {
        return Err(ClientError::BadName);
    }
    // An admin API client signs nobody in: it only uses client_credentials, so it needs no
    // redirect URI, but it must hold a secret.
    if client.settings.admin_api && client.is_public {
        return Err(ClientError::PublicAdminApi);
    }
    if client.redirect_uris.is_empty() && !client.settings.admin_api {
        return Err(ClientError::NoRedirectUri);
    }
    for uri in client.redirect_uris.iter().chain(&client.post_logout_redirect_uris) {
        check_registered_uri(uri)?;
    }
    client.settings.hooks.validate().map_err(ClientError::BadHooks)?;
    if let Some(region) = client.settings.phone_region.as_deref().filter(|r| !crate::phone::is_region(r)) {
        return Err(ClientError::BadPhoneRegion(region.to_owned()));
    }
    if let Some(keys) = &client.settings.private_key_jwt {
        check_keys(keys.jwks.as_ref(), keys.jwks_uri.as_deref()).map_err(ClientError::BadKeys)?;
        if client.settings.client_secret_jwt.is_some() {
            return Err(ClientError::BadKeys("a client uses client_secret_jwt or private_key_jwt, not both"));
        }
    }
    if let Some(uri) = &client.settings.frontchannel_logout_uri
        && !on_a_redirect_origin(uri, &client.redirect_uris)
    {
        return Err(ClientError::BadFrontChannelLogout);
    }
    // Back-Channel Logout 1.0 §2.2: "MUST NOT include any fragment component".
    if let Some(uri) = &client.settings.backchannel_logout_uri
        && !url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.fragment().is_none())
    {
        return Err(ClientError::BadBackChannelLogout);
    }
    if client.settings.pairwise.as_ref().is_some_and(|p| !crate::client_subject::is_sector(&p.sector)) {
        return Err(ClientError::BadSector);
    }
    if let Some(objects) = &client.settings.request_objects {
        check_request_objects(client, objects).map_err(ClientError::BadRequestObjects)?;
    }
    client.settings.branding.validate().map_err(|e| ClientError::BadBranding(e.to_string()))
}

/// Front-Channel Logout 1.0 §2: "The domain, port, and scheme of this URL MUST be the same as that
/// of a registered Redirection URI value."
fn on_a_redirect_origin(uri: &str, redirect_uris: &[String]) -> bool {
    let Ok(url) = url::Url::parse(uri) else { return false };
    let web = matches!(url.scheme(), "https" | "http") && url.fragment().is_none();
    web && redirect_uris.iter().filter_map(|r| url::Url::parse(r).ok()).any(|r| r.origin() == url.origin())
}

/// The shape of a client's keys (OIDC Registration §2): a JWK Set or an http(s) URL, never both.
/// Registration checks more (usable public keys, the fetch policy).
fn check_keys(jwks: Option<&serde_json::Value>, jwks_uri: Option<&str>) -> Result<(), &'static str> {
    match (jwks, jwks_uri) {
        (Some(_), Some(_)) => Err("jwks and jwks_uri must not both be set"),
        (None, None) => Err("the client's keys are needed: jwks or jwks_uri"),
        (Some(set), None) if !set["keys"].is_array() => Err("jwks must be a JWK Set"),
        (None, Some(uri)) if !url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "https" | "http")) => {
            Err("jwks_uri must be an https URL")
        }
        _ => Ok(()),
    }
}

/// The shape of a client's request-object settings: keys of its own only when it has none from
/// `private_key_jwt`, and `request_uris` that are http(s) URLs.
fn check_request_objects(client: &Client, objects: &crate::RequestObjects) -> Result<(), &'static str> {
    match (objects.jwks.is_some() || objects.jwks_uri.is_some(), client.settings.private_key_jwt.is_some()) {
        (true, true) => return Err("a private_key_jwt client's request objects use its private_key_jwt keys"),
        (true, false) => check_keys(objects.jwks.as_ref(), objects.jwks_uri.as_deref())?,
        (false, _) => {}
    }
    let http = |uri: &String| url::Url::parse(uri).is_ok_and(|u| matches!(u.scheme(), "https" | "http"));
    if !objects.request_uris.iter().all(http) {
        return Err("request_uris must be https URLs");
    }
    Ok(())
}

/// Builds a client record; returns it with the secret in clear, shown once (confidential clients only).
pub fn new_client(new: NewClient, hasher: &KeyedHasher, now: i64) -> Result<(Client, Option<String>), ClientError> {
    // A client that signs its assertions with its own key (`private_key_jwt`) has no secret.
    let secret = (!new.public && new.settings.private_key_jwt.is_none()).then(|| random_token(32));
    let client = Client {
        id: ClientId::generate(),
        name: new.name.trim().to_owned(),
        secret_hash: secret.as_deref().map(|s| hash_secret(hasher, s)),
        secret_sealed: None,
        is_public: new.public,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        id_token_alg: new.id_token_alg,
        created_at: now,
        application_type: if new.native { crate::ApplicationType::Native } else { crate::ApplicationType::Web },
        settings: new.settings,
        previous_secret: None,
        disabled_at: None,
        version: 1,
    };
    check_metadata(&client)?;
    Ok((client, secret))
}

const SECRET_PURPOSE: &str = "client-secret";

/// The keyed hash a client secret is stored as.
pub fn hash_secret(hasher: &KeyedHasher, secret: &str) -> Vec<u8> {
    hasher.hash(SECRET_PURPOSE, secret).0
}

/// Whether `given` is the client's secret, or its previous one within the grace period after a
/// rotation. Keyed hashes, compared in constant time (RFC 6749 §2.3.1).
pub fn secret_matches(client: &Client, given: &str, hasher: &KeyedHasher, now: i64) -> bool {
    let given = hash_secret(hasher, given);
    let current = client.secret_hash.as_ref().is_some_and(|stored| crate::secret::constant_time_eq(stored, &given));
    let previous = client
        .previous_secret
        .as_ref()
        .is_some_and(|p| now < p.until && crate::secret::constant_time_eq(&p.hash, &given));
    current | previous
}

/// A `client_secret_jwt` client's secret, sealed to its id (see `Client::secret_sealed`).
pub fn seal_secret(sealer: &crate::secret::Sealer, id: &ClientId, secret: &str) -> Vec<u8> {
    sealer.seal(id.as_str().as_bytes(), secret.as_bytes())
}

/// A sealed secret, opened; `None` when it cannot be (another master key, or tampering).
pub fn open_secret(sealer: &crate::secret::Sealer, id: &ClientId, sealed: &[u8]) -> Option<String> {
    sealer.open(id.as_str().as_bytes(), sealed).ok().and_then(|plain| String::from_utf8(plain).ok())
}

/// A new secret for a confidential client: the secret (shown once) and its keyed hash.
pub fn fresh_secret(hasher: &KeyedHasher) -> (String, Vec<u8>) {
    let secret = random_token(32);
    let hash = hash_secret(hasher, &secret);
    (secret, hash)
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

    /// A confidential web client with `settings`.
    fn web_app(settings: crate::ClientSettings) -> NewClient {
        NewClient {
            name: "App".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            public: false,
            id_token_alg: crate::SigningAlg::RS256,
            native: false,
            settings,
        }
    }

    #[test]
    fn a_rotated_secret_works_until_its_grace_period_ends() {
        let hasher = crate::MasterKey::generate().hasher();
        let (mut client, old) = new_client(web_app(Default::default()), &hasher, 0).unwrap();
        let old = old.unwrap();
        let (new_secret, hash) = fresh_secret(&hasher);
        client.previous_secret = client.secret_hash.replace(hash).map(|hash| crate::client::PreviousSecret {
            hash,
            until: 100,
            sealed: None,
        });
        assert!(secret_matches(&client, &new_secret, &hasher, 99) && secret_matches(&client, &old, &hasher, 99));
        assert!(secret_matches(&client, &new_secret, &hasher, 100) && !secret_matches(&client, &old, &hasher, 100));
        assert!(!secret_matches(&client, "wrong", &hasher, 0));
    }

    #[test]
    fn a_key_client_holds_no_secret_and_names_one_source_of_keys() {
        let hasher = crate::MasterKey::generate().hasher();
        let with = |jwks: Option<serde_json::Value>, jwks_uri: Option<&str>| {
            web_app(crate::ClientSettings {
                private_key_jwt: Some(crate::PrivateKeyJwt { alg: None, jwks, jwks_uri: jwks_uri.map(Into::into) }),
                ..Default::default()
            })
        };
        let set = serde_json::json!({ "keys": [] });
        let (client, secret) = new_client(with(None, Some("https://a.example/jwks")), &hasher, 0).unwrap();
        assert!(secret.is_none() && client.secret_hash.is_none() && !client.is_public);
        assert!(new_client(with(Some(set.clone()), None), &hasher, 0).is_ok());
        for bad in [
            with(None, None),
            with(Some(set.clone()), Some("https://a.example/jwks")),
            with(Some(serde_json::json!([])), None),
            with(None, Some("ftp://a.example/jwks")),
        ] {
            assert!(matches!(new_client(bad, &hasher, 0), Err(ClientError::BadKeys(_))));
        }
    }
}

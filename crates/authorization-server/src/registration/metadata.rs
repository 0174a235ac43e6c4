//! The client metadata a registration sends (RFC 7591 §2, OpenID Connect Registration §2), and
//! every rule it must meet.

use serde::Deserialize;

use super::answer::Refusal;
use crate::clients::NewClient;
use crate::keys::Alg;

#[derive(Deserialize)]
pub(super) struct Metadata {
    redirect_uris: Option<Vec<String>>,
    client_name: Option<String>,
    token_endpoint_auth_method: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    id_token_signed_response_alg: Option<String>,
    application_type: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    userinfo_signed_response_alg: Option<String>,
    logo_uri: Option<String>,
    client_uri: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
    subject_type: Option<String>,
    sector_identifier_uri: Option<String>,
    id_token_encrypted_response_alg: Option<String>,
    userinfo_encrypted_response_alg: Option<String>,
    request_object_encryption_alg: Option<String>,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
    token_endpoint_auth_signing_alg: Option<String>,
    request_object_signing_alg: Option<String>,
    request_uris: Option<Vec<String>>,
    require_pushed_authorization_requests: Option<bool>,
    frontchannel_logout_uri: Option<String>,
    backchannel_logout_uri: Option<String>,
    dpop_bound_access_tokens: Option<bool>,
}

/// The rule for a self-registered redirect URI.
fn check_registration_redirect_uri(uri: &str, native: bool) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "{uri} is not allowed: use https, or for native apps a private-use scheme or http://127.0.0.1 / http://[::1]"
        ))
    };
    let Ok(url) = url::Url::parse(uri) else { return bad() };
    if url.fragment().is_some() {
        return Err(format!("{uri} has a fragment (RFC 6749 §3.1.2)"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            };
            if native && loopback { Ok(()) } else { bad() }
        }
        scheme if native && scheme.contains('.') => Ok(()),
        _ => bad(),
    }
}

/// The metadata of a client to register, checked.
pub(super) struct Registration {
    pub(super) name: String,
    pub(super) redirect_uris: Vec<String>,
    pub(super) post_logout: Vec<String>,
    pub(super) native: bool,
    /// `none` for a public client.
    pub(super) auth_method: String,
    pub(super) alg: Alg,
    pub(super) grant_types: Vec<String>,
    /// The `sector_identifier_uri`, to read before the client is made, and whether the client's
    /// subjects are pairwise (its host is then their sector).
    pub(super) sector_identifier_uri: Option<(String, bool)>,
    /// The signed-UserInfo choice and the page links (`logo_uri`, `client_uri`, `policy_uri`,
    /// `tos_uri`, kept in the branding); otherwise the defaults.
    pub(super) settings: domain::ClientSettings,
}

impl Registration {
    pub(super) fn new_client(&self) -> NewClient {
        NewClient {
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout.clone(),
            public: self.auth_method == "none",
            id_token_alg: self.alg,
            native: self.native,
            settings: self.settings.clone(),
        }
    }
}

/// Every rule of the metadata (RFC 7591 §2), one after the other.
pub(super) fn check_metadata(meta: Metadata, fetcher: &crate::fetch::Fetcher) -> Result<Registration, Refusal> {
    let native = match meta.application_type.as_deref() {
        None | Some("web") => false,
        Some("native") => true,
        Some(_) => return Err(Refusal::metadata("application_type must be web or native")),
    };
    // Registration §2: a subject type the provider does not offer is refused, never silently
    // replaced by another (the client would be wrong about what its users' `sub` says).
    let pairwise = match meta.subject_type.as_deref() {
        None | Some("public") => false,
        Some("pairwise") => true,
        Some(_) => return Err(Refusal::metadata("subject_type must be public or pairwise")),
    };
    if let Some(uri) = meta.sector_identifier_uri.as_deref() {
        fetcher.check_url(uri).map_err(|e| Refusal::metadata(format!("sector_identifier_uri: {e}")))?;
    }
    // Registration §2: encrypted answers are not offered; asked for, they are refused rather than
    // sent in the clear.
    let encrypted = [
        ("id_token_encrypted_response_alg", &meta.id_token_encrypted_response_alg),
        ("userinfo_encrypted_response_alg", &meta.userinfo_encrypted_response_alg),
        ("request_object_encryption_alg", &meta.request_object_encryption_alg),
    ];
    if let Some((name, _)) = encrypted.iter().find(|(_, value)| value.is_some()) {
        return Err(Refusal::metadata(format!("{name}: encryption is not offered")));
    }
    let redirect_uris = meta.redirect_uris.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(Refusal::redirect_uri("redirect_uris is required"));
    }
    let post_logout = meta.post_logout_redirect_uris.unwrap_or_default();
    for uri in redirect_uris.iter().chain(&post_logout) {
        check_registration_redirect_uri(uri, native).map_err(Refusal::redirect_uri)?;
    }
    // OIDC Core §8.1: without a `sector_identifier_uri` the sector is the redirect URIs' one host;
    // with one, it is that URI's host, once its document is read (`register`).
    let sector = match (pairwise, &meta.sector_identifier_uri) {
        (true, None) => Some(domain::client_subject::redirect_sector(&redirect_uris).ok_or_else(|| {
            Refusal::metadata(
                "pairwise subjects for redirect URIs on several hosts, on none, or on a loopback address need a sector_identifier_uri",
            )
        })?),
        _ => None,
    };
    let auth_method = match meta.token_endpoint_auth_method.as_deref() {
        None => "client_secret_basic".to_owned(),
        Some(m @ ("client_secret_basic" | "client_secret_post" | "client_secret_jwt" | "private_key_jwt" | "none")) => {
            m.to_owned()
        }
        Some(_) => {
            return Err(Refusal::metadata(
                "token_endpoint_auth_method must be client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt or none",
            ));
        }
    };
    // The client's keys serve its assertions under private_key_jwt, and its request objects.
    let mut keys = Some((meta.jwks, meta.jwks_uri));
    let (private_key_jwt, client_secret_jwt) = match auth_method.as_str() {
        "private_key_jwt" => {
            let alg = meta.token_endpoint_auth_signing_alg;
            let (jwks, jwks_uri) = keys.take().unwrap_or_default();
            let keys = crate::assertion::registered_keys(jwks, jwks_uri, alg, fetcher);
            (Some(keys.map_err(Refusal::metadata)?), None)
        }
        "client_secret_jwt" => {
            let alg = meta.token_endpoint_auth_signing_alg;
            if alg.as_deref().is_some_and(|a| !crate::assertion::names(&crate::assertion::HMAC_ALGS, a)) {
                return Err(Refusal::metadata(
                    "token_endpoint_auth_signing_alg must be HS256, HS384 or HS512 for client_secret_jwt",
                ));
            }
            (None, Some(domain::ClientSecretJwt { alg }))
        }
        _ if meta.token_endpoint_auth_signing_alg.is_some() => {
            return Err(Refusal::metadata(
                "token_endpoint_auth_signing_alg serves client_secret_jwt and private_key_jwt only",
            ));
        }
        _ => (None, None),
    };
    if meta.response_types.is_some_and(|r| r.iter().any(|t| t != "code")) {
        return Err(Refusal::metadata("only the code response type is supported"));
    }
    let known = ["authorization_code", "refresh_token", "client_credentials", crate::token::DEVICE_CODE_GRANT];
    if meta.grant_types.as_ref().is_some_and(|g| g.iter().any(|t| !known.contains(&t.as_str()))) {
        return Err(Refusal::metadata(
            "grant_types may contain authorization_code, refresh_token, client_credentials and urn:ietf:params:oauth:grant-type:device_code",
        ));
    }
    // RFC 8628: registering the device grant turns it on for the client (it is off otherwise).
    let device_grant =
        meta.grant_types.as_ref().is_some_and(|g| g.iter().any(|t| t == crate::token::DEVICE_CODE_GRANT));
    let alg = match meta.id_token_signed_response_alg.as_deref() {
        None => Alg::RS256,
        Some(a) => Alg::parse(a)
            .ok_or_else(|| Refusal::metadata("id_token_signed_response_alg must be RS256, ES256 or EdDSA"))?,
    };
    // The name reaches email subjects and text messages: one line of visible text, or refused.
    let name = meta.client_name.filter(|n| !n.trim().is_empty());
    if name.as_deref().is_some_and(|n| !domain::client::is_display_name(n, 100)) {
        return Err(Refusal::metadata(
            "client_name must be at most 100 characters, without control or invisible formatting characters",
        ));
    }
    let userinfo_alg = match meta.userinfo_signed_response_alg.as_deref() {
        None => None,
        Some(a) => Some(
            Alg::parse(a)
                .ok_or_else(|| Refusal::metadata("userinfo_signed_response_alg must be RS256, ES256 or EdDSA"))?,
        ),
    };
    let request_objects = crate::request_object::registered(
        meta.request_object_signing_alg,
        keys,
        meta.request_uris.unwrap_or_default(),
        client_secret_jwt.is_some(),
        fetcher,
    )
    .map_err(Refusal::metadata)?;
    let mut settings = domain::ClientSettings {
        userinfo_signed_response_alg: userinfo_alg,
        private_key_jwt,
        client_secret_jwt,
        request_objects,
        require_pushed_authorization_requests: meta.require_pushed_authorization_requests.unwrap_or(false),
        frontchannel_logout_uri: meta.frontchannel_logout_uri,
        backchannel_logout_uri: meta.backchannel_logout_uri,
        pairwise: sector.map(|sector| domain::Pairwise { sector, sector_identifier_uri: None }),
        // RFC 9449 §5.2: every token request must then carry a DPoP proof.
        dpop_bound_access_tokens: meta.dpop_bound_access_tokens.unwrap_or(false),
        device_grant,
        ..Default::default()
    };
    // The provider POSTs there from inside its network: the guard of what it fetches applies.
    let posted_to = settings.backchannel_logout_uri.as_deref().map(|uri| fetcher.check_url(uri));
    posted_to.transpose().map_err(|e| Refusal::metadata(format!("backchannel_logout_uri: {e}")))?;
    // OIDC Registration §2: shown to the user at sign-in. Each is an https URL: the logo is
    // loaded under the page's CSP, and the others are links.
    let b = &mut settings.branding;
    (b.logo_url, b.client_url, b.policy_url, b.tos_url) =
        (meta.logo_uri, meta.client_uri, meta.policy_uri, meta.tos_uri);
    match settings.branding.validate() {
        Ok(()) => {}
        Err(domain::client::BrandingError::Url(key, url)) => {
            let key = key.replace("_url", "_uri");
            return Err(Refusal::metadata(format!("{key}: {url:?} is not an https:// URL")));
        }
        Err(other) => return Err(Refusal::metadata(other.to_string())),
    }
    Ok(Registration {
        name: name.unwrap_or_else(|| "Registered app".into()),
        redirect_uris,
        post_logout,
        native,
        auth_method,
        alg,
        grant_types: meta.grant_types.unwrap_or_else(|| vec!["authorization_code".into()]),
        sector_identifier_uri: meta.sector_identifier_uri.map(|uri| (uri, pairwise)),
        settings,
    })
}

#[cfg(test)]
mod tests {
    use super::check_registration_redirect_uri as check;

    #[test]
    fn self_registered_redirect_uris_are_strict() {
        assert!(check("https://app.example/cb", false).is_ok());
        assert!(check("http://app.example/cb", false).is_err(), "plain http");
        assert!(check("http://127.0.0.1/cb", false).is_err(), "loopback is for native apps");
        assert!(check("http://127.0.0.1:8765/cb", true).is_ok());
        assert!(check("http://[::1]/cb", true).is_ok());
        assert!(check("http://localhost/cb", true).is_err(), "RFC 8252 §8.3: not localhost");
        assert!(check("com.example.app:/cb", true).is_ok());
        assert!(check("com.example.app:/cb", false).is_err());
        assert!(check("https://app.example/cb#x", false).is_err());
        assert!(check("javascript:alert(1)", true).is_err());
    }
}

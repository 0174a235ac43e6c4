//! What a client signs with, besides its secret: JWTs to authenticate (`client_secret_jwt`,
//! `private_key_jwt`: OIDC Core §9, RFC 7523) and request objects (OIDC Core §6, RFC 9101). Part of
//! [`crate::ClientSettings`]; the protocol rules that use them are the authorization server's
//! (`assertion`, `request_object`).

use serde::{Deserialize, Serialize};

/// The algorithm a `client_secret_jwt` client's assertions use (`token_endpoint_auth_signing_alg`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSecretJwt {
    /// HS256, HS384 or HS512; unset, any of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

/// A client's public keys, and the algorithm its assertions are signed with (OIDC Registration
/// §2: `jwks` or `jwks_uri`, `token_endpoint_auth_signing_alg`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivateKeyJwt {
    /// The one JWS algorithm its assertions may use; unset, any asymmetric one its key fits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Its public keys, a JWK Set (RFC 7517 §5), as registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where it publishes its public keys: fetched, cached, and fetched again when an assertion
    /// names a key not seen yet (the client rotated).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

/// How a client signs its request objects (OIDC Core §6.1, Registration §2
/// `request_object_signing_alg`), the keys it verifies them with when it does not authenticate with
/// `private_key_jwt` (whose keys serve both), and the `request_uris` it may pass by reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestObjects {
    /// The one algorithm its request objects use, `none` (unsigned) only when set so; unset, any
    /// asymmetric one its keys fit, or an HMAC with its secret (a `client_secret_jwt` client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Its public keys, a JWK Set (RFC 7517 §5), as registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// Where it publishes its public keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The `request_uri` values it may send (Registration §2 `request_uris`), https, matched
    /// without their fragment.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_uris: Vec<String>,
}

impl crate::ClientSettings {
    /// The client's registered public keys (`jwks`, `jwks_uri`), whatever they serve.
    pub fn public_keys(&self) -> (Option<&serde_json::Value>, Option<&str>) {
        match (&self.private_key_jwt, &self.request_objects) {
            (Some(k), _) => (k.jwks.as_ref(), k.jwks_uri.as_deref()),
            (None, Some(r)) => (r.jwks.as_ref(), r.jwks_uri.as_deref()),
            (None, None) => (None, None),
        }
    }
}

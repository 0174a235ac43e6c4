//! OpenID Provider metadata (OIDC Discovery §3) and the JWKS (RFC 7517 §5).

use actix_web::http::header;
use actix_web::mime;
use actix_web::{HttpResponse, web};
use domain::Acr;
use openidconnect::core::{
    CoreClaimName, CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl, ProviderMetadata,
    ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

use crate::authorize::SUPPORTED_SCOPES;
use crate::claims::claims_supported;
use crate::keys::Alg;
use crate::{AuthorizationServer, paths};

/// Metadata fields openidconnect's core type does not have.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExtraMetadata {
    /// RFC 7636 via RFC 8414 §2: only S256.
    code_challenge_methods_supported: Vec<String>,
    /// RFC 9207 §3: every authorization response carries `iss`.
    authorization_response_iss_parameter_supported: bool,
    /// OpenID Connect RP-Initiated Logout 1.0 §2.1.
    end_session_endpoint: String,
    /// RFC 8414 §2: RFC 7009 revocation and RFC 7662 introspection.
    revocation_endpoint: String,
    introspection_endpoint: String,
    /// RFC 9126 §5: pushed authorization requests, required of the clients registered so only.
    pushed_authorization_request_endpoint: String,
    require_pushed_authorization_requests: bool,
    /// OpenID Connect Front-Channel Logout 1.0 §3, with `iss` and `sid` always sent.
    frontchannel_logout_supported: bool,
    frontchannel_logout_session_supported: bool,
    /// OpenID Connect Back-Channel Logout 1.0 §2.1, with `sid` in every logout token.
    backchannel_logout_supported: bool,
    backchannel_logout_session_supported: bool,
    /// OpenID Connect Session Management 1.0 §3.3 (legacy: see `check_session`).
    check_session_iframe: String,
    /// RFC 9449 §5.1: what DPoP proofs may be signed with.
    dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 8628 §4: where a device asks for its codes.
    device_authorization_endpoint: String,
}
impl AdditionalProviderMetadata for ExtraMetadata {}

type Metadata = ProviderMetadata<
    ExtraMetadata,
    openidconnect::core::CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    openidconnect::core::CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// RFC 9449 §5.1: the algorithms a DPoP proof may be signed with: the asymmetric ones client
/// assertions may use (never `none` or an HMAC).
pub fn dpop_algs() -> Vec<String> {
    crate::assertion::ALGS.iter().map(|a| format!("{a:?}")).collect()
}

/// Builds the metadata once; every URL is under the issuer.
pub fn metadata(srv: &AuthorizationServer) -> Result<serde_json::Value, String> {
    let c = &srv.config;
    let url = |p: &str| c.endpoint(p);
    let meta = Metadata::new(
        IssuerUrl::new(c.issuer.clone()).map_err(|e| e.to_string())?,
        AuthUrl::new(url(paths::AUTHORIZE)).map_err(|e| e.to_string())?,
        JsonWebKeySetUrl::new(url(paths::JWKS)).map_err(|e| e.to_string())?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        // OIDC Core §8: pairwise for clients that register `subject_type: pairwise`.
        vec![CoreSubjectIdentifierType::Public, CoreSubjectIdentifierType::Pairwise],
        Alg::ALL.iter().map(|a| crate::keys::core_alg(*a)).collect(),
        ExtraMetadata {
            code_challenge_methods_supported: vec!["S256".into()],
            authorization_response_iss_parameter_supported: true,
            end_session_endpoint: url(paths::LOGOUT),
            revocation_endpoint: url(paths::REVOKE),
            introspection_endpoint: url(paths::INTROSPECT),
            pushed_authorization_request_endpoint: url(paths::PAR),
            require_pushed_authorization_requests: false,
            frontchannel_logout_supported: true,
            frontchannel_logout_session_supported: true,
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            check_session_iframe: url(paths::CHECK_SESSION),
            dpop_signing_alg_values_supported: dpop_algs(),
            device_authorization_endpoint: url(paths::DEVICE_AUTHORIZATION),
        },
    )
    .set_registration_endpoint(
        c.registration_token
            .as_ref()
            .map(|_| openidconnect::RegistrationUrl::new(url(paths::REGISTER)))
            .transpose()
            .map_err(|e| e.to_string())?,
    )
    .set_token_endpoint(Some(TokenUrl::new(url(paths::TOKEN)).map_err(|e| e.to_string())?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(url(paths::USERINFO)).map_err(|e| e.to_string())?))
    // OIDC Core §5.3.2, Discovery §3: a client that registered `userinfo_signed_response_alg`
    // gets its claims as a signed JWT.
    .set_userinfo_signing_alg_values_supported(Some(Alg::ALL.iter().map(|a| crate::keys::core_alg(*a)).collect()))
    .set_scopes_supported(Some(SUPPORTED_SCOPES.iter().map(|s| Scope::new((*s).to_owned())).collect()))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query, CoreResponseMode::FormPost]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
        // RFC 8693, for the clients an operator allows it.
        CoreGrantType::Extension(crate::token::TOKEN_EXCHANGE_GRANT.to_owned()),
        // RFC 8628, for the clients allowed it.
        CoreGrantType::Extension(crate::token::DEVICE_CODE_GRANT.to_owned()),
    ]))
    // Single-factor, and the multi-factor value step-up gives (clients ask for it with acr_values).
    .set_acr_values_supported(Some(
        Acr::ALL.iter().map(|a| AuthenticationContextClass::new(a.as_str().to_owned())).collect(),
    ))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::ClientSecretJwt,
        CoreClientAuthMethod::PrivateKeyJwt,
        CoreClientAuthMethod::None,
    ]))
    // OIDC Discovery §3: what client assertions may be signed with: HMACs for `client_secret_jwt`,
    // asymmetric algorithms for `private_key_jwt`; never `none`.
    .set_token_endpoint_auth_signing_alg_values_supported(Some(
        crate::assertion::HMAC_ALGS
            .iter()
            .chain(&crate::assertion::ALGS)
            .filter_map(|a| serde_json::from_value(serde_json::json!(format!("{a:?}"))).ok())
            .collect(),
    ))
    .set_claims_supported(Some(claims_supported().map(|c| CoreClaimName::new(c.to_owned())).collect()))
    // OIDC Core §6, Discovery §3: request objects by value and by a registered reference, signed
    // with the client's keys or secret, or unsigned where the client registered `none`.
    .set_request_parameter_supported(Some(true))
    .set_request_uri_parameter_supported(Some(true))
    .set_require_request_uri_registration(Some(true))
    .set_request_object_signing_alg_values_supported(Some(
        crate::request_object::signing_algs()
            .filter_map(|a| serde_json::from_value(serde_json::json!(a)).ok())
            .collect(),
    ))
    .set_claims_parameter_supported(Some(true));
    serde_json::to_value(&meta).map_err(|e| e.to_string())
}

/// The metadata, from the bytes serialised at start-up.
pub async fn openid_configuration(srv: web::Data<AuthorizationServer>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .content_type(mime::APPLICATION_JSON)
        .body(srv.metadata.clone())
}

/// The JWKS, from the bytes the key ring keeps until its published set next changes.
pub async fn jwks(srv: web::Data<AuthorizationServer>) -> HttpResponse {
    let body = srv.keys.ring().jwks(srv.clock.now(), srv.config.key_retention());
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
        .content_type(mime::APPLICATION_JSON)
        .body(body)
}

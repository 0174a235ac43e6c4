//! What `/register` answers: the client as registered (RFC 7591 §3.2.1), or a refusal (§3.2.2).

use actix_web::HttpResponse;
use actix_web::http::header;

use super::metadata::Registration;
use crate::keys::Alg;

/// Why a registration was refused (RFC 7591 §3.2.2), with a description.
#[derive(Debug)]
pub(super) enum Refusal {
    /// `invalid_client_metadata`
    Metadata(String),
    /// `invalid_redirect_uri`
    RedirectUri(String),
}

impl Refusal {
    pub(super) fn metadata(description: impl Into<String>) -> Self {
        Refusal::Metadata(description.into())
    }
    pub(super) fn redirect_uri(description: impl Into<String>) -> Self {
        Refusal::RedirectUri(description.into())
    }

    pub(super) fn respond(self) -> HttpResponse {
        let (error, description) = match self {
            Refusal::Metadata(d) => ("invalid_client_metadata", d),
            Refusal::RedirectUri(d) => ("invalid_redirect_uri", d),
        };
        HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "error": error, "error_description": description }))
    }
}

/// RFC 7591 §3.2.1: the registered metadata, the id, and the secret (shown once, never expiring).
pub(super) fn created(
    client: &domain::Client,
    registration: &Registration,
    secret: Option<String>,
    now: i64,
) -> HttpResponse {
    let mut out = serde_json::json!({
        "client_id": client.id.to_string(),
        "client_id_issued_at": now,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "token_endpoint_auth_method": registration.auth_method,
        "id_token_signed_response_alg": registration.alg.as_str(),
        "application_type": client.application_type,
        "response_types": ["code"],
        "grant_types": registration.grant_types,
        "require_pushed_authorization_requests": client.settings.require_pushed_authorization_requests,
        "subject_type": if client.settings.pairwise.is_some() { "pairwise" } else { "public" },
        "dpop_bound_access_tokens": client.settings.dpop_bound_access_tokens,
    });
    let settings = &client.settings;
    let (jwks, jwks_uri) = settings.public_keys();
    let objects = settings.request_objects.as_ref();
    let pinned = settings.private_key_jwt.as_ref().and_then(|k| k.alg.as_ref());
    let assertion_alg = pinned.or(settings.client_secret_jwt.as_ref().and_then(|s| s.alg.as_ref()));
    let text = |v: Option<&str>| v.map(Into::into);
    let b = &settings.branding;
    // The optional metadata, each when set, as registered.
    let listed = [
        ("jwks", jwks.cloned()),
        ("jwks_uri", text(jwks_uri)),
        ("token_endpoint_auth_signing_alg", text(assertion_alg.map(String::as_str))),
        ("request_object_signing_alg", text(objects.and_then(|o| o.alg.as_deref()))),
        ("request_uris", objects.filter(|o| !o.request_uris.is_empty()).map(|o| o.request_uris.clone().into())),
        ("sector_identifier_uri", text(settings.pairwise.as_ref().and_then(|p| p.sector_identifier_uri.as_deref()))),
        ("frontchannel_logout_uri", text(settings.frontchannel_logout_uri.as_deref())),
        // Front-Channel Logout §2 and Back-Channel Logout §2.4: `sid` is always sent.
        ("frontchannel_logout_session_required", settings.frontchannel_logout_uri.as_ref().map(|_| true.into())),
        ("backchannel_logout_uri", text(settings.backchannel_logout_uri.as_deref())),
        ("backchannel_logout_session_required", settings.backchannel_logout_uri.as_ref().map(|_| true.into())),
        ("userinfo_signed_response_alg", text(settings.userinfo_signed_response_alg.map(Alg::as_str))),
        ("logo_uri", text(b.logo_url.as_deref())),
        ("client_uri", text(b.client_url.as_deref())),
        ("policy_uri", text(b.policy_url.as_deref())),
        ("tos_uri", text(b.tos_url.as_deref())),
    ];
    for (key, value) in listed {
        if let Some(value) = value {
            out[key] = value;
        }
    }
    if let Some(secret) = secret {
        out["client_secret"] = serde_json::json!(secret);
        out["client_secret_expires_at"] = serde_json::json!(0);
    }
    HttpResponse::Created().insert_header((header::CACHE_CONTROL, "no-store")).json(out)
}

//! Pushed authorization requests (RFC 9126): a client sends its authorization request straight to
//! `/par`, authenticated as at the token endpoint; the request is checked as `/authorize` would
//! check it and kept, and the client gets a `request_uri` to send the browser to `/authorize` with.
//! The request then cannot be read or changed on its way through the browser.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use domain::Client;
use domain::secret::random_token;

use crate::AuthorizationServer;
use crate::authorize::{Refused, check_request};
use crate::errors::{ErrorCode, OAuthError, internal};
use crate::params::Params;
use crate::request_object::{Resolved, resolve};

/// RFC 9126 §2.2: the form of the `request_uri` of a pushed request.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for its `/authorize`, seconds (RFC 9126 §2.2: short-lived).
pub const EXPIRES_IN: i64 = 60;
/// The largest pushed request kept, as JSON.
const MAX_BYTES: usize = 16 * 1024;
const PURPOSE: &str = "pushed-request";

/// `POST /par` (RFC 9126 §2): 201 with `request_uri` and `expires_in`, or an RFC 6749 §5.2 error.
pub async fn push(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    let mut resp = match pushed(&req, &body, &srv).await {
        Ok(request_uri) => HttpResponse::Created()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "request_uri": request_uri, "expires_in": EXPIRES_IN })),
        Err(e) => e.to_token_response(),
    };
    // RFC 9449 §8: the nonce the next proof must use.
    if let Some((name, value)) = crate::dpop::nonce_header(&srv) {
        resp.headers_mut().insert(header::HeaderName::from_static(name), value);
    }
    resp
}

/// The client-authentication parameters, which are not part of the authorization request.
const AUTHENTICATION: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

async fn pushed(req: &HttpRequest, body: &[u8], srv: &AuthorizationServer) -> Result<String, OAuthError> {
    let (client, params) = crate::clients::read_client_form(req, body, srv).await?;
    // RFC 9126 §2.1: a pushed request cannot itself refer to another.
    if params.has("request_uri") {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "request_uri cannot be pushed"));
    }
    // The request is the authenticated client's, whether or not it names itself (RFC 9126 §2.1).
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !AUTHENTICATION.contains(k) && *k != "client_id")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    pairs.push(("client_id".into(), client.id.to_string()));
    // RFC 9449 §10.1: a DPoP proof sent with the pushed request binds its code to the proof's key,
    // as `dpop_jkt` would; when both come, they must name the same key.
    let proof = crate::dpop::proof(srv, req, crate::paths::PAR, None).await?;
    if let Some(proof) = &proof
        && !params.has("dpop_jkt")
    {
        pairs.push(("dpop_jkt".into(), proof.jkt.clone()));
    }
    let Resolved { params, refused, .. } = resolve(srv, Params::from_pairs(pairs)).await;
    if let Some(e) = refused {
        return Err(e);
    }
    // Compared once the request object (if any) is merged in: it may carry a `dpop_jkt` too.
    if let Some(proof) = proof
        && params.get("dpop_jkt") != Some(proof.jkt.as_str())
    {
        return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "dpop_jkt is not the DPoP proof's key"));
    }
    // Checked as `/authorize` will check it, with every error answered here (RFC 9126 §2.3).
    let resolved = Resolved { params, refused: None, pushed: true };
    match check_request(srv, &resolved, domain::i18n::DEFAULT_LANGUAGE).await {
        Ok(_) => {}
        Err(Refused::Page(e)) => return Err(OAuthError::new(ErrorCode::InvalidRequest, e.detail())),
        Err(Refused::Redirect(_, e)) => return Err(e),
    }
    let kept: serde_json::Map<String, serde_json::Value> =
        resolved.params.iter().map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned()))).collect();
    let kept = serde_json::Value::Object(kept).to_string();
    if kept.len() > MAX_BYTES {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "the authorization request is too large"));
    }
    let reference = random_token(32);
    let hash = srv.hasher.hash(PURPOSE, &reference).0;
    let expires_at = srv.clock.now() + EXPIRES_IN;
    srv.store.push_request(&hash, &client.id, &kept, expires_at).await.map_err(|e| internal("push request", &e))?;
    Ok(format!("{URN_PREFIX}{reference}"))
}

/// The parameters of `client`'s pushed request named by `reference`, spent (RFC 9126 §4): unknown,
/// expired, used before, or another client's is `invalid_request_uri`.
pub(crate) async fn take(srv: &AuthorizationServer, client: &Client, reference: &str) -> Result<Params, OAuthError> {
    const UNKNOWN: OAuthError =
        OAuthError::new(ErrorCode::InvalidRequestUri, "the pushed request is unknown, has expired, or was used before");
    if reference.len() > 64 {
        return Err(UNKNOWN);
    }
    let hash = srv.hasher.hash(PURPOSE, reference).0;
    let kept = srv
        .store
        .take_pushed_request(&hash, &client.id, srv.clock.now())
        .await
        .map_err(|e| internal("pushed request", &e))?
        .ok_or(UNKNOWN)?;
    let kept: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&kept).map_err(|e| internal("pushed request", &e))?;
    let pairs = kept.into_iter().filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_owned()))).collect();
    Ok(Params::from_pairs(pairs))
}

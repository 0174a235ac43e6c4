//! Dynamic client registration (RFC 7591, OpenID Connect Registration 1.0) at `/register`, with
//! an initial access token from configuration (RFC 7591 §3); off without one. Redirect URIs are
//! strict: https, or a native app's private-use scheme or loopback IP (RFC 8252 §7), no fragment.

mod answer;
mod metadata;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::AuthorizationServer;
use crate::clients::new_client;
use answer::Refusal;
use metadata::{Metadata, check_metadata};

/// `POST /register`.
pub async fn register(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    if let Err(refused) = check_initial_access_token(&req, &srv) {
        return refused.respond();
    }
    if crate::params::media_type(&req).as_deref() != Some("application/json") {
        return Refusal::metadata("the body must be application/json, uncompressed").respond();
    }
    let Ok(meta) = serde_json::from_slice::<Metadata>(&body) else {
        return Refusal::metadata("the body is not valid client metadata JSON").respond();
    };
    let mut registration = match check_metadata(meta, srv.client_keys.fetcher()) {
        Ok(r) => r,
        Err(refused) => return refused.respond(),
    };
    // Registration §5: the document must list every redirect URI, or the registration is refused.
    if let Some((uri, pairwise)) = registration.sector_identifier_uri.clone() {
        let fetcher = srv.client_keys.fetcher();
        match crate::subject::check_sector_identifier(fetcher, &uri, &registration.redirect_uris).await {
            Ok(sector) if pairwise => {
                let sector_identifier_uri = Some(uri);
                registration.settings.pairwise = Some(domain::Pairwise { sector, sector_identifier_uri });
            }
            Ok(_) => {}
            Err(e) => return Refusal::metadata(e).respond(),
        }
    }
    let now = srv.clock.now();
    let (mut client, secret) = match new_client(registration.new_client(), &srv.hasher, now) {
        Ok(created) => created,
        Err(e) => return Refusal::metadata(e.to_string()).respond(),
    };
    // `client_secret_jwt`: the server must compute the client's HMAC, so the secret is kept sealed too.
    if client.settings.client_secret_jwt.is_some() {
        let sealer = &srv.client_secrets;
        client.secret_sealed = secret.as_deref().map(|s| domain::client_rules::seal_secret(sealer, &client.id, s));
    }
    if let Err(e) = srv.store.insert_client(&client).await {
        return crate::errors::internal("client insert", &e).to_token_response();
    }
    answer::created(&client, &registration, secret, now)
}

/// RFC 7591 §3: registration needs the initial access token from configuration (off when none
/// is set). Compared as keyed hashes: equal length, constant time.
fn check_initial_access_token(req: &HttpRequest, srv: &AuthorizationServer) -> Result<(), Unregistrable> {
    let Some(expected) = srv.config.registration_token.as_ref() else {
        return Err(Unregistrable::Off);
    };
    let given =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let hash = |token: &str| srv.hasher.hash("registration-token", token);
    if given.is_some_and(|g| hash(g.trim()).matches(&hash(expected.expose()))) {
        return Ok(());
    }
    Err(Unregistrable::BadToken)
}

/// Why `/register` does not take the request at all.
enum Unregistrable {
    /// Registration is off (no initial access token is configured).
    Off,
    /// RFC 6750 §3.1: the initial access token is missing or wrong.
    BadToken,
}

impl Unregistrable {
    fn respond(self) -> HttpResponse {
        match self {
            Unregistrable::Off => HttpResponse::NotFound().json(serde_json::json!({ "error": "not_found" })),
            Unregistrable::BadToken => HttpResponse::build(StatusCode::UNAUTHORIZED)
                .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""))
                .json(serde_json::json!({ "error": "invalid_token" })),
        }
    }
}

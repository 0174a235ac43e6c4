//! `GET|POST /userinfo` (OIDC Core §5.3): the claims the access token's scope releases, and those
//! the `claims` parameter asked `/userinfo` for (§5.5).

use std::sync::Arc;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::AuthorizationServer;
use crate::errors::internal;
use crate::params::{Params, is_form};

/// `GET|POST /userinfo` (OIDC Core §5.3) with a bearer access token (RFC 6750 §2.1, §2.2), or a
/// DPoP-bound one with its proof (RFC 9449 §7.1).
pub async fn userinfo(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    let from_header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.split_once(' ')?;
        let dpop = scheme.eq_ignore_ascii_case("dpop");
        (dpop || scheme.eq_ignore_ascii_case("bearer")).then(|| (token.trim().to_owned(), dpop))
    });
    let from_body = (req.method() == actix_web::http::Method::POST && is_form(&req))
        .then(|| Params::parse(&body).get("access_token").map(|t| (t.to_owned(), false)))
        .flatten();
    let (token, dpop) = match (from_header, from_body) {
        (Some(t), None) | (None, Some(t)) => t,
        // RFC 6750 §2: a client must not use more than one method.
        (Some(_), Some(_)) => {
            return BearerError::InvalidRequest.respond(&srv);
        }
        (None, None) => return BearerError::Missing.respond(&srv),
    };
    let claims = match crate::inspect::live_claims(&srv, &token, srv.clock.now()).await {
        Ok(Some(claims)) => claims,
        Ok(None) if dpop => return BearerError::InvalidDpopToken.respond(&srv),
        Ok(None) => return BearerError::InvalidToken.respond(&srv),
        Err(e) => return internal("token lookup", &e).to_token_response(),
    };
    // RFC 9449 §7: a bound token comes under the DPoP scheme with a proof of its key (never as a
    // bearer token), and the DPoP scheme carries only bound tokens.
    if let Err(refused) = check_binding(&srv, &req, &token, dpop, claims.jkt()).await {
        return refused.respond(&srv);
    }
    let Some(client_id) = domain::ClientId::parse(&claims.client_id) else {
        return BearerError::InvalidToken.respond(&srv);
    };
    let client = match srv.userinfo_clients.of(&srv, &client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return BearerError::InvalidToken.respond(&srv),
        Err(e) => return internal("client lookup", &e).to_token_response(),
    };
    let user = match token_user(&srv, &client, &claims).await {
        Ok(Some(u)) if !u.is_blocked() => u,
        Ok(_) => return BearerError::InvalidToken.respond(&srv),
        Err(e) => return internal("user lookup", &e).to_token_response(),
    };
    let mut out = serde_json::Map::new();
    // §5.3.2: the `sub` of the ID token, as this client sees it.
    out.insert("sub".into(), serde_json::json!(crate::subject::subject(&srv.hasher, &client, &user.id)));
    out.extend(crate::claims::released(&user, &domain::Scope::parse(&claims.scope), &claims.userinfo_claims));
    match client.settings.userinfo_signed_response_alg {
        Some(alg) => signed(&srv, alg, &client_id, out),
        None => HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(out),
    }
}

/// The user an access token was issued for. A public `sub` names the user; a pairwise one cannot
/// be read back, so the user is the one its grant (named by its `jti`) was made to.
async fn token_user(
    srv: &AuthorizationServer,
    client: &domain::Client,
    claims: &crate::mint::AccessClaims,
) -> Result<Option<domain::User>, domain::StorageError> {
    let user_id = match &client.settings.pairwise {
        None => domain::UserId::parse(&claims.sub),
        Some(_) => match crate::mint::issued_token(claims).and_then(|t| t.grant_id) {
            Some(grant) => srv.store.grant_user(&grant).await?,
            None => None,
        },
    };
    match user_id {
        Some(id) => srv.store.user(&id).await,
        None => Ok(None),
    }
}

/// The clients `/userinfo` answers (their `userinfo_signed_response_alg` and subject type), each
/// read from its record at most every [`Clients::TTL`] seconds: a change made through the admin
/// API applies within that time, and `/userinfo` does not read the client's row at every call (it
/// cost a third of the endpoint's CPU).
#[derive(Default)]
pub(crate) struct Clients(std::sync::Mutex<std::collections::HashMap<domain::ClientId, (Arc<domain::Client>, i64)>>);

impl Clients {
    const TTL: i64 = 30;
    /// Clients remembered at most; past it the map starts over.
    const MAX: usize = 4096;

    /// The client; `Ok(None)` when it is gone.
    async fn of(
        &self,
        srv: &AuthorizationServer,
        id: &domain::ClientId,
    ) -> Result<Option<Arc<domain::Client>>, domain::StorageError> {
        let now = srv.clock.now();
        let known = self.lock().get(id).cloned();
        if let Some((client, at)) = known
            && now - at < Self::TTL
        {
            return Ok(Some(client));
        }
        let Some(record) = srv.store.client(id).await? else { return Ok(None) };
        let client = Arc::new(record);
        let mut map = self.lock();
        if map.len() >= Self::MAX {
            map.clear();
        }
        map.insert(id.clone(), (Arc::clone(&client), now));
        Ok(Some(client))
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<domain::ClientId, (Arc<domain::Client>, i64)>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// OIDC Core §5.3.2: the claims as a JWT signed with the client's registered algorithm, with
/// `iss` and `aud` (the client) added, as `application/jwt`.
fn signed(
    srv: &AuthorizationServer,
    alg: crate::Alg,
    client: &domain::ClientId,
    mut claims: serde_json::Map<String, serde_json::Value>,
) -> HttpResponse {
    claims.insert("iss".into(), serde_json::json!(srv.config.issuer));
    claims.insert("aud".into(), serde_json::json!(client.to_string()));
    let ring = srv.keys.ring();
    let Some(key) = ring.active(alg, srv.clock.now()) else {
        return crate::errors::SERVER_ERROR.to_token_response();
    };
    match crate::jwt::sign(key, "JWT", &claims) {
        Ok(jwt) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("application/jwt")
            .body(jwt),
        Err(e) => internal("signed userinfo", &e).to_token_response(),
    }
}

/// RFC 9449 §7.1: the proof of a bound token's request, made with the token's key, for this
/// request and naming this token (`ath`).
async fn check_binding(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    token: &str,
    dpop: bool,
    jkt: Option<&str>,
) -> Result<(), BearerError> {
    match (dpop, jkt) {
        (false, None) => Ok(()),
        (false, Some(_)) => Err(BearerError::InvalidToken),
        (true, None) => Err(BearerError::InvalidDpopToken),
        (true, Some(jkt)) => match crate::dpop::proof(srv, req, crate::paths::USERINFO, Some(token)).await {
            Ok(Some(proof)) if proof.jkt == jkt => Ok(()),
            Ok(_) => Err(BearerError::InvalidProof),
            Err(e) if e.error == crate::errors::ErrorCode::UseDpopNonce => Err(BearerError::UseNonce),
            Err(e) if e.error == crate::errors::ErrorCode::InvalidDpopProof => Err(BearerError::InvalidProof),
            Err(_) => Err(BearerError::Unavailable),
        },
    }
}

/// Why a bearer token was refused (RFC 6750 §3.1), or a DPoP one (RFC 9449 §7.1).
enum BearerError {
    /// No token.
    Missing,
    /// The token came by more than one method.
    InvalidRequest,
    /// Expired, revoked, not ours, or its user is gone; or a bound token sent as a bearer token.
    InvalidToken,
    /// The same, under the DPoP scheme (or an unbound token sent under it).
    InvalidDpopToken,
    /// The DPoP proof is missing, invalid, or made with another key.
    InvalidProof,
    /// The DPoP proof must carry the nonce in the answer's `DPoP-Nonce` header.
    UseNonce,
    /// The proof could not be checked (its replay check is away): fail closed.
    Unavailable,
}

impl BearerError {
    /// RFC 6750 §3 and RFC 9449 §7.1: the error goes in `WWW-Authenticate`, under the scheme the
    /// request used.
    fn respond(self, srv: &AuthorizationServer) -> HttpResponse {
        let bearer = |e: &str| format!("Bearer realm=\"ostiary\", error=\"{e}\"");
        let dpop = |e: &str| format!("DPoP error=\"{e}\", algs=\"{}\"", crate::discovery::dpop_algs().join(" "));
        let (status, challenge, error) = match self {
            BearerError::Missing => (StatusCode::UNAUTHORIZED, "Bearer realm=\"ostiary\"".to_owned(), None),
            BearerError::InvalidRequest => {
                (StatusCode::BAD_REQUEST, bearer("invalid_request"), Some("invalid_request"))
            }
            BearerError::InvalidToken => (StatusCode::UNAUTHORIZED, bearer("invalid_token"), Some("invalid_token")),
            BearerError::InvalidDpopToken => (StatusCode::UNAUTHORIZED, dpop("invalid_token"), Some("invalid_token")),
            BearerError::InvalidProof => {
                (StatusCode::UNAUTHORIZED, dpop("invalid_dpop_proof"), Some("invalid_dpop_proof"))
            }
            BearerError::UseNonce => (StatusCode::UNAUTHORIZED, dpop("use_dpop_nonce"), Some("use_dpop_nonce")),
            BearerError::Unavailable => return crate::errors::UNAVAILABLE.to_token_response(),
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::WWW_AUTHENTICATE, challenge)).insert_header((header::CACHE_CONTROL, "no-store"));
        if let Some((name, value)) = crate::dpop::nonce_header(srv) {
            resp.insert_header((name, value));
        }
        match error {
            Some(error) => resp.json(serde_json::json!({ "error": error })),
            None => resp.finish(),
        }
    }
}

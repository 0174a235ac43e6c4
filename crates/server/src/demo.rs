//! The demo relying party at `/demo`: an ordinary confidential OIDC client, registered at start-up
//! in development, that signs in through this very provider over HTTP and shows the verified
//! ID token. It uses the openidconnect crate exactly as a real app would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::cookie::{Cookie, SameSite};

use actix_web::{HttpRequest, HttpResponse, web};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken as State, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

use crate::rp::{back_channel_client, http_call};

pub const DEMO_CLIENT_ID: &str = "demo-app";
const COOKIE: &str = "ostiary-demo";
const MAX_ENTRIES: usize = 10_000;

struct Pending {
    verifier: String,
    nonce: String,
    state: String,
}

/// A browser signed in to the demo: what it shows, and the ID token its sign-out hands back to the
/// provider (`id_token_hint`).
#[derive(Clone)]
struct SignedIn {
    claims: String,
    userinfo: String,
    id_token: String,
}

pub struct Demo {
    issuer: String,
    secret: String,
    http: reqwest::Client,
    tera: Arc<tera::Tera>,
    catalog: Arc<domain::i18n::Catalog>,
    https: bool,
    pending: Mutex<HashMap<String, Pending>>,
    signed_in: Mutex<HashMap<String, SignedIn>>,
}

impl Demo {
    pub fn new(issuer: String, secret: String, tera: Arc<tera::Tera>, catalog: Arc<domain::i18n::Catalog>) -> Self {
        let https = issuer.starts_with("https://");
        Self {
            issuer,
            secret,
            http: back_channel_client(),
            tera,
            catalog,
            https,
            pending: Mutex::default(),
            signed_in: Mutex::default(),
        }
    }

    pub fn redirect_uri(issuer: &str) -> String {
        format!("{}/demo/callback", issuer.trim_end_matches('/'))
    }

    pub fn routes(cfg: &mut web::ServiceConfig) {
        cfg.route("/demo", web::get().to(home))
            .route("/demo/login", web::get().to(login))
            .route("/demo/callback", web::get().to(callback))
            .route("/demo/logout", web::post().to(logout));
    }

    async fn client(
        &self,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        String,
    > {
        let http = |r| http_call(&self.http, r);
        let issuer = IssuerUrl::new(self.issuer.clone()).map_err(|e| e.to_string())?;
        let meta =
            CoreProviderMetadata::discover_async(issuer, &http).await.map_err(|e| format!("discovery failed: {e}"))?;
        let redirect = RedirectUrl::new(Self::redirect_uri(&self.issuer)).map_err(|e| e.to_string())?;
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(DEMO_CLIENT_ID.into()),
            Some(ClientSecret::new(self.secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    fn cookie(&self, value: String) -> Cookie<'static> {
        Cookie::build(COOKIE, value).path("/demo").http_only(true).secure(self.https).same_site(SameSite::Lax).finish()
    }
}

fn page(demo: &Demo, req: &HttpRequest, claims: Option<&SignedIn>, error: Option<&str>) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert("claims", &claims.map(|c| c.claims.as_str()));
    ctx.insert("userinfo", &claims.map(|c| c.userinfo.as_str()));
    ctx.insert("error", &error);
    // The demo client may use the passwordless API too (`api_login`): the page shows the two calls,
    // with this run's secret (development only: the demo is refused in production).
    let base = demo.issuer.trim_end_matches('/');
    ctx.insert(
        "api_start",
        &format!(
            "curl -s {base}/passwordless/start -H 'Content-Type: application/json' \\\n  -d '{{\"client_id\":\"{DEMO_CLIENT_ID}\",\"client_secret\":\"{}\",\"connection\":\"email\",\"send\":\"code\",\"email\":\"you@example.com\"}}'",
            demo.secret
        ),
    );
    ctx.insert(
        "api_token",
        &format!(
            "curl -s {base}/oauth/token -H 'Content-Type: application/json' \\\n  -d '{{\"grant_type\":\"http://auth0.com/oauth/grant-type/passwordless/otp\",\"realm\":\"email\",\"username\":\"you@example.com\",\"otp\":\"CODE\",\"scope\":\"openid email\",\"client_id\":\"{DEMO_CLIENT_ID}\",\"client_secret\":\"{}\"}}'",
            demo.secret
        ),
    );
    let lang = web_layer::Lang::of(req).pick(&demo.catalog, None);
    let page = web_layer::Page::new(req, &demo.tera, &demo.catalog, lang).product("Ostiary");
    page.render(actix_web::http::StatusCode::OK, "pages/demo.html", ctx)
}

/// The demo's cookie lives on the issuer's host: reached by another name (127.0.0.1 for localhost),
/// send the browser to the issuer's own address first.
fn on_issuer_host(demo: &Demo, req: &HttpRequest) -> Option<HttpResponse> {
    let url = url::Url::parse(&demo.issuer).ok()?;
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str()?),
        None => url.host_str()?.to_owned(),
    };
    let host = req.connection_info().host().to_ascii_lowercase();
    (host != authority).then(|| web_layer::see_other(&format!("{}/demo", demo.issuer.trim_end_matches('/'))))
}

async fn home(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    if let Some(redirect) = on_issuer_host(&demo, &req) {
        return redirect;
    }
    let session = req.cookie(COOKIE).map(|c| c.value().to_owned());
    let claims = session.and_then(|s| demo.signed_in.lock().ok()?.get(&s).cloned());
    page(&demo, &req, claims.as_ref(), None)
}

async fn login(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    if let Some(redirect) = on_issuer_host(&demo, &req) {
        return redirect;
    }
    let client = match demo.client().await {
        Ok(c) => c,
        Err(e) => {
            return page(&demo, &req, None, Some(&format!("The demo app could not reach the provider: {e}")));
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, State::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("phone".into()))
        .set_pkce_challenge(challenge);
    // "Ask for a second factor": the demo shows step-up by demanding multi-factor (OIDC Core §3.1.2.1).
    if req.query_string().split('&').any(|p| p == "mfa=on") {
        request = request.add_extra_param("acr_values", domain::Acr::MultiFactor.as_str());
    }
    let (url, state, nonce) = request.url();
    let key = domain::secret::random_token(16);
    if let Ok(mut pending) = demo.pending.lock() {
        if pending.len() >= MAX_ENTRIES {
            pending.clear();
        }
        pending.insert(
            key.clone(),
            Pending {
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                state: state.secret().clone(),
            },
        );
    }
    let mut resp = web_layer::see_other(url.as_str());
    if let Err(e) = resp.add_cookie(&demo.cookie(key)) {
        tracing::warn!(error = %e, "the demo's cookie could not be set");
    }
    resp
}

#[derive(serde::Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(req: HttpRequest, query: web::Query<Callback>, demo: web::Data<Demo>) -> HttpResponse {
    let Some(key) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else {
        return page(&demo, &req, None, Some("This sign-in was not started here. Press Sign in."));
    };
    let Some(pending) = demo.pending.lock().ok().and_then(|mut p| p.remove(&key)) else {
        return page(&demo, &req, None, Some("This sign-in has already been used. Press Sign in."));
    };
    if !query.state.as_deref().is_some_and(|s| domain::secret::constant_time_eq(s.as_bytes(), pending.state.as_bytes()))
    {
        return page(&demo, &req, None, Some("The state did not match; the response was refused."));
    }
    // RFC 9207 §2.4: the response must come from the issuer we sent the user to.
    if query.iss.as_deref() != Some(demo.issuer.as_str()) {
        return page(&demo, &req, None, Some("The response did not name the expected issuer; it was refused."));
    }
    if let Some(error) = &query.error {
        let text = format!("Sign-in failed: {error} {}", query.error_description.as_deref().unwrap_or_default());
        return page(&demo, &req, None, Some(&text));
    }
    let Some(code) = query.code.clone() else {
        return page(&demo, &req, None, Some("The response had no code."));
    };
    match finish(&demo, code, pending).await {
        Ok(claims) => {
            if let Ok(mut signed_in) = demo.signed_in.lock() {
                if signed_in.len() >= MAX_ENTRIES {
                    signed_in.clear();
                }
                signed_in.insert(key, claims);
            }
            web_layer::see_other("/demo")
        }
        Err(e) => page(&demo, &req, None, Some(&format!("Sign-in failed: {e}"))),
    }
}

/// Exchanges the code (with the PKCE verifier), verifies the ID token against the JWKS and the
/// nonce, and asks `/userinfo`; returns both as pretty JSON.
async fn finish(demo: &Demo, code: String, pending: Pending) -> Result<SignedIn, String> {
    let client = demo.client().await?;
    let http = |r| http_call(&demo.http, r);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&http)
        .await
        .map_err(|e| format!("token exchange failed: {e}"))?;
    let id_token = tokens.id_token().ok_or("the token response had no ID token")?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
        .map_err(|e| format!("ID token rejected: {e}"))?;
    let userinfo: openidconnect::core::CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .map_err(|e| e.to_string())?
        .request_async(&http)
        .await
        .map_err(|e| format!("userinfo failed: {e}"))?;
    Ok(SignedIn {
        claims: serde_json::to_string_pretty(claims).map_err(|e| e.to_string())?,
        userinfo: serde_json::to_string_pretty(&userinfo).map_err(|e| e.to_string())?,
        id_token: id_token.to_string(),
    })
}

/// Signs out of the demo and, with RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0
/// §2), of the provider too: its ID token names this browser's session, so the provider ends it
/// without asking and sends the browser back to `/demo`, where the next sign-in shows the login page.
async fn logout(req: HttpRequest, demo: web::Data<Demo>) -> HttpResponse {
    let gone =
        req.cookie(COOKIE).map(|c| c.value().to_owned()).and_then(|key| demo.signed_in.lock().ok()?.remove(&key));
    let Some(signed_in) = gone else { return web_layer::see_other("/demo") };
    let base = demo.issuer.trim_end_matches('/');
    let mut url = match url::Url::parse(&format!("{base}{}", authorization_server::paths::LOGOUT)) {
        Ok(u) => u,
        Err(_) => return web_layer::see_other("/demo"),
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", &signed_in.id_token)
        .append_pair("client_id", DEMO_CLIENT_ID)
        .append_pair("post_logout_redirect_uri", &format!("{base}/demo"));
    web_layer::see_other(url.as_str())
}

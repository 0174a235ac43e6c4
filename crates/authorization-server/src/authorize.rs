//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2) as a pipeline of named checks,
//! one rule each, in order. Until client and redirect URI are verified, errors are shown as a page;
//! after that they go back to the client with `state` and `iss` (RFC 9207).

use actix_web::HttpMessage;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use domain::web::BrowserId;
use domain::{Acr, InteractionId};
use serde::{Deserialize, Serialize};
use store::clients::Client;
use store::interactions::NewInteraction;

use crate::AuthorizationServer;
use crate::errors::OAuthError;
use crate::pages::error_page;
use crate::params::{Params, is_form};

/// The validated request, kept with the interaction until the login completes. Private to this crate.
#[derive(Serialize, Deserialize)]
pub(crate) struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub max_age: Option<i64>,
    pub acr_values: Option<String>,
    #[serde(default)]
    pub form_post: bool,
    /// `acr` values the client demanded as essential through the `claims` parameter.
    #[serde(default)]
    pub essential_acr: Option<Vec<String>>,
    /// The `sub` of a valid `id_token_hint`: the user the client expects (OIDC Core §3.1.2.2).
    #[serde(default)]
    pub hinted_sub: Option<String>,
}

impl AuthorizationRequest {
    /// A request with no redirect (the OTP grant, whose tokens go straight back to the client).
    pub(crate) fn for_client(client: &domain::ClientId, scope: Vec<&str>) -> Self {
        AuthorizationRequest {
            client_id: client.to_string(),
            redirect_uri: String::new(),
            scope: scope.into_iter().map(str::to_owned).collect(),
            state: None,
            nonce: None,
            code_challenge: None,
            max_age: None,
            acr_values: None,
            form_post: false,
            essential_acr: None,
            hinted_sub: None,
        }
    }
}

/// Scopes this provider knows; others are ignored, which RFC 6749 §3.3 allows.
pub const SUPPORTED_SCOPES: [&str; 6] = ["openid", "profile", "email", "address", "phone", "offline_access"];
const MAX_PARAM: usize = 2048;
const MAX_CLAIMS: usize = 4096;
const MAX_ID_TOKEN_HINT: usize = 8192;

/// A failure before the redirect URI is trusted: shown to the user, never redirected. The key names
/// the page's texts in the catalog; the detail goes to the log only.
pub(crate) struct PageError(pub StatusCode, pub &'static str, pub &'static str);

impl PageError {
    const fn bad(key: &'static str, detail: &'static str) -> Self {
        PageError(StatusCode::BAD_REQUEST, key, detail)
    }

    fn page(self, srv: &AuthorizationServer, req: &HttpRequest) -> HttpResponse {
        tracing::info!(reason = self.2, "authorization request refused with a page");
        error_page(srv, req, self.0, self.1)
    }
}

/// Where responses (and errors, once the client and its redirect URI are verified) go.
pub(crate) struct Redirector<'a> {
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
    pub issuer: &'a str,
    /// `response_mode=form_post` (OAuth 2.0 Form Post Response Mode): the response is an
    /// auto-submitting form, and nothing goes in the URL.
    pub form_post: Option<FormPost<'a>>,
}

/// What the auto-submitting form page is rendered with: the templates and the user's language.
#[derive(Clone, Copy)]
pub(crate) struct FormPost<'a> {
    pub tera: &'a tera::Tera,
    pub lang: &'a str,
    pub texts: &'a domain::i18n::Table,
}

impl<'a> FormPost<'a> {
    pub(crate) fn of(srv: &'a AuthorizationServer, lang: &'a str) -> Self {
        FormPost { tera: &srv.tera, lang, texts: srv.catalog.table(lang) }
    }
}

impl Redirector<'_> {
    /// The response parameters, then `state`, then `iss` (RFC 9207 §2).
    fn fields<'p>(&'p self, params: &[(&'p str, &'p str)]) -> Vec<(&'p str, &'p str)> {
        let mut fields = params.to_vec();
        if let Some(state) = self.state {
            fields.push(("state", state));
        }
        fields.push(("iss", self.issuer));
        fields
    }

    /// `redirect_uri` with the response parameters added to its query (RFC 6749 §4.1.2, keeping any
    /// registered query).
    pub fn url(&self, params: &[(&str, &str)]) -> String {
        let mut url = match url::Url::parse(self.redirect_uri) {
            Ok(u) => u,
            Err(_) => return self.redirect_uri.to_owned(),
        };
        url.query_pairs_mut().extend_pairs(self.fields(params));
        url.to_string()
    }

    /// Sends the response to the client in the requested response mode.
    pub fn respond(&self, params: &[(&str, &str)]) -> HttpResponse {
        let Some(page) = self.form_post else { return see_other(&self.url(params)) };
        let fields: Vec<serde_json::Value> = self
            .fields(params)
            .into_iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        let mut ctx = tera::Context::new();
        ctx.insert("action", self.redirect_uri);
        ctx.insert("fields", &fields);
        ctx.insert("lang", page.lang);
        ctx.insert("t", page.texts);
        match page.tera.render("pages/form_post.html", &ctx) {
            Ok(body) => HttpResponse::Ok()
                .insert_header((
                    header::CONTENT_SECURITY_POLICY,
                    domain::web::content_security_policy(domain::web::origin_of(self.redirect_uri).as_deref()),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .content_type("text/html; charset=utf-8")
                .body(body),
            Err(e) => {
                tracing::error!(error = ?e, "form_post page could not be rendered");
                HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("server_error")
            }
        }
    }

    pub fn error(&self, err: OAuthError) -> HttpResponse {
        self.respond(&[("error", err.error), ("error_description", err.description)])
    }
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

pub async fn authorize_get(req: HttpRequest, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(&req, &srv, params).await
}

pub async fn authorize_post(req: HttpRequest, body: web::Bytes, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    if !is_form(&req) {
        return error_page(&srv, &req, StatusCode::BAD_REQUEST, "bad_request");
    }
    authorize(&req, &srv, Params::parse(&body)).await
}

/// Why an authorization request was refused: before the client and its redirect URI are trusted,
/// a page for the user; after, an error for the client's redirect URI (RFC 6749 §4.1.2.1).
pub(crate) enum Refused<'p> {
    Page(PageError),
    Redirect(Redirector<'p>, OAuthError),
}

/// A request that passed every check.
pub(crate) struct Checked<'p> {
    pub client: Client,
    pub request: AuthorizationRequest,
    pub prompt: Prompt,
    pub back: Redirector<'p>,
}

/// Every check of an authorization request, in order, one rule each.
pub(crate) async fn check_request<'p>(
    srv: &'p AuthorizationServer,
    params: &'p Params,
    lang: &'p str,
) -> Result<Checked<'p>, Refused<'p>> {
    check_params(params).map_err(Refused::Page)?;
    let client = check_client(srv, params).await.map_err(Refused::Page)?;
    let redirect_uri = check_redirect_uri(&client, params).map_err(Refused::Page)?;
    let form_post = params.get("response_mode") == Some("form_post");
    let back = Redirector {
        redirect_uri,
        state: params.get("state"),
        issuer: &srv.config.issuer,
        form_post: form_post.then_some(FormPost::of(srv, lang)),
    };
    let checked = check_request_object(params)
        .and_then(|()| check_response_type(params))
        .and_then(|()| check_response_mode(params))
        .and_then(|()| check_scope(&client, params))
        .and_then(|scope| Ok((scope, check_pkce(&client, params)?)))
        .and_then(|v| Ok((v, check_max_age(params)?)))
        .and_then(|v| Ok((v, check_prompt(params)?)))
        .and_then(|v| Ok((v, check_essential_acr(params)?)))
        .and_then(|v| Ok((v, check_id_token_hint(srv, params.get("id_token_hint"), srv.clock.now())?)));
    let (((((scope, code_challenge), max_age), prompt), essential_acr), hinted_sub) = match checked {
        Ok(v) => v,
        Err(e) => return Err(Refused::Redirect(back, e)),
    };
    let request = AuthorizationRequest {
        client_id: client.id.to_string(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: params.get("state").map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        max_age,
        acr_values: params.get("acr_values").map(str::to_owned),
        form_post,
        essential_acr,
        hinted_sub,
    };
    Ok(Checked { client, request, prompt, back })
}

async fn authorize(req: &HttpRequest, srv: &AuthorizationServer, params: Params) -> HttpResponse {
    let accept = req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let lang = srv.catalog.negotiate(params.get("ui_locales"), accept);
    let Checked { client, request, prompt, back } = match check_request(srv, &params, lang).await {
        Ok(checked) => checked,
        Err(Refused::Page(e)) => return e.page(srv, req),
        Err(Refused::Redirect(back, e)) => return back.error(e),
    };
    let now = srv.clock.now();
    let demanded = request.demanded_acr();
    match check_session(req, srv, prompt, request.max_age, request.hinted_sub.as_deref(), now).await {
        // Single sign-on: the browser's session satisfies the request; the code goes back at once.
        Ok(Some(session)) if acr_satisfies(&session.acr, demanded.as_deref()) => {
            match crate::grant::issue_code(srv, &request, &session, now).await {
                Ok(code) => back.respond(&[("code", &code)]),
                Err(e) => back.error(e),
            }
        }
        // A session too weak for what the client demands: the user proves a second factor (step-up)
        // instead of signing in again. OIDC Core §3.1.2.6: under prompt=none, interaction_required.
        Ok(Some(_)) if prompt == Prompt::None => {
            back.error(OAuthError::new("interaction_required", "a second factor is required"))
        }
        Ok(Some(session)) => {
            let first_factor = session_login(&session);
            match new_interaction(req, srv, &client, request, &params, first_factor).await {
                Ok(id) => see_other(&format!("/step-up/{id}")),
                Err(e) => back.error(e),
            }
        }
        Ok(None) => match new_interaction(req, srv, &client, request, &params, None).await {
            Ok(id) => see_other(&format!("/login/{id}")),
            Err(e) => back.error(e),
        },
        Err(e) => back.error(e),
    }
}

/// The login a session stands for.
fn session_login(session: &store::sessions::Session) -> Option<domain::LoginResult> {
    Some(domain::LoginResult {
        user_id: session.user_id.clone(),
        amr: serde_json::from_str(&session.amr).ok()?,
        acr: serde_json::from_value(serde_json::Value::String(session.acr.clone())).ok()?,
        auth_time: domain::AuthTime(session.auth_time),
    })
}

/// An interaction bound to this browser, within the client IP's hourly budget.
async fn new_interaction(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    client: &Client,
    request: AuthorizationRequest,
    params: &Params,
    first_factor: Option<domain::LoginResult>,
) -> Result<InteractionId, OAuthError> {
    let browser = browser_hash(req, srv)?;
    check_interaction_budget(req, srv).await?;
    start_interaction(srv, client, request, params, domain::InteractionKind::Hosted, browser, first_factor).await
}

/// Every interaction is a stored row that anyone can ask for: one client IP (or IPv6 /64) may open
/// `interactions_per_ip_per_hour` of them. A limit that cannot be checked is not skipped.
async fn check_interaction_budget(req: &HttpRequest, srv: &AuthorizationServer) -> Result<(), OAuthError> {
    use domain::counters::Decision;
    let ip = domain::web::ClientIp::new(domain::web::client_ip(req.extensions().get(), req.peer_addr()));
    let key = format!("interaction:ip:{}", ip.limit_key());
    match srv.limiter.hit(&key, srv.config.interactions_per_ip_per_hour, 3600, srv.clock.now()).await {
        Ok(Decision::Allowed { .. }) => Ok(()),
        Ok(Decision::Limited { .. }) => Err(OAuthError::new(
            "temporarily_unavailable",
            "too many sign-ins were started from this network; try again later",
        )),
        Err(e) => {
            tracing::error!(error = %e, "rate limiter unavailable");
            Err(OAuthError::new("temporarily_unavailable", "the sign-in cannot be started right now"))
        }
    }
}

/// RFC 6749 §3.1: parameters must not repeat; oversized values are refused before any lookup.
/// Every value is capped, so nobody can make an interaction (a stored row, open to anyone) large.
fn check_params(params: &Params) -> Result<(), PageError> {
    if params.duplicated {
        return Err(PageError::bad("bad_request", "a parameter is repeated"));
    }
    let limit = |name: &str| match name {
        // A JSON claims request (OIDC Core §5.5) and a signed ID token are legitimately longer.
        "claims" => MAX_CLAIMS,
        "id_token_hint" => MAX_ID_TOKEN_HINT,
        _ => MAX_PARAM,
    };
    if params.iter().any(|(name, value)| value.len() > limit(name)) {
        return Err(PageError::bad("bad_request", "a parameter is too large"));
    }
    Ok(())
}

/// The client must be registered. RFC 6749 §4.1.2.1: an unknown client gets a page, not a redirect.
async fn check_client(srv: &AuthorizationServer, params: &Params) -> Result<Client, PageError> {
    const UNKNOWN: PageError = PageError::bad("unknown_app", "unknown client_id");
    let id = params.get("client_id").and_then(domain::ClientId::parse).ok_or(UNKNOWN)?;
    match srv.store.client(&id).await {
        Ok(Some(c)) => Ok(c),
        Ok(None) => Err(UNKNOWN),
        Err(e) => {
            tracing::error!(error = %e, "client lookup failed");
            Err(PageError(StatusCode::INTERNAL_SERVER_ERROR, "unavailable", "client lookup failed"))
        }
    }
}

/// The redirect URI must be present and equal, character for character, to a registered one
/// (OIDC Core §3.1.2.1 requires it; RFC 9700 §2.1 requires exact string matching).
fn check_redirect_uri<'a>(client: &Client, params: &'a Params) -> Result<&'a str, PageError> {
    let given = params.get("redirect_uri").ok_or(PageError::bad("bad_request", "no redirect_uri"))?;
    if client.redirect_uris.iter().any(|r| r == given || native_loopback_match(client, r, given)) {
        Ok(given)
    } else {
        Err(PageError::bad("bad_redirect", "redirect_uri is not registered"))
    }
}

/// RFC 8252 §7.3: a native app's loopback redirect URI (`http://127.0.0.1` or `http://[::1]`) matches
/// with any port, since the app picks a free one at run time; everything else must still be equal.
fn native_loopback_match(client: &Client, registered: &str, given: &str) -> bool {
    if client.application_type != domain::ApplicationType::Native {
        return false;
    }
    let (Ok(r), Ok(g)) = (url::Url::parse(registered), url::Url::parse(given)) else { return false };
    let loopback = |u: &url::Url| {
        u.scheme() == "http" && matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || u.scheme() == "http" && matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    };
    loopback(&r)
        && loopback(&g)
        && r.host() == g.host()
        && r.path() == g.path()
        && r.query() == g.query()
        && g.fragment().is_none()
        && g.username().is_empty()
        && g.password().is_none()
}

/// OIDC Core §6: `request` and `request_uri` are not supported and say so with their own codes.
fn check_request_object(params: &Params) -> Result<(), OAuthError> {
    if params.has("request") {
        return Err(OAuthError::new("request_not_supported", "request objects are not supported"));
    }
    if params.has("request_uri") {
        return Err(OAuthError::new("request_uri_not_supported", "request_uri is not supported"));
    }
    Ok(())
}

/// Only the authorization code flow (RFC 9700 §2.1.2: no implicit grant).
fn check_response_type(params: &Params) -> Result<(), OAuthError> {
    match params.get("response_type") {
        Some("code") => Ok(()),
        None => Err(OAuthError::new("invalid_request", "response_type is required")),
        Some(_) => Err(OAuthError::new("unsupported_response_type", "only response_type=code is supported")),
    }
}

fn check_response_mode(params: &Params) -> Result<(), OAuthError> {
    match params.get("response_mode") {
        None | Some("query" | "form_post") => Ok(()),
        Some(_) => Err(OAuthError::new("invalid_request", "response_mode must be query or form_post")),
    }
}

/// OIDC Core §3.1.2.1: `openid` is required. Unknown scopes are dropped, not refused, and so is
/// `offline_access` for a client whose policy never issues refresh tokens.
fn check_scope(client: &Client, params: &Params) -> Result<Vec<String>, OAuthError> {
    let requested: Vec<&str> = params.get("scope").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    if !requested.contains(&"openid") {
        return Err(OAuthError::new("invalid_scope", "the openid scope is required"));
    }
    let mut scope: Vec<String> = Vec::new();
    let never_offline = client.settings.refresh_tokens == domain::RefreshPolicy::Never;
    for s in SUPPORTED_SCOPES {
        if requested.contains(&s) && !(s == "offline_access" && never_offline) {
            scope.push(s.to_owned());
        }
    }
    Ok(scope)
}

/// RFC 7636 with RFC 9700 §2.1.1: S256 only (`plain` refused); required for public clients,
/// honoured for confidential ones. A method without a challenge is malformed.
fn check_pkce(client: &Client, params: &Params) -> Result<Option<String>, OAuthError> {
    let challenge = params.get("code_challenge");
    match (challenge, params.get("code_challenge_method")) {
        (None, Some(_)) => Err(OAuthError::new("invalid_request", "code_challenge_method without code_challenge")),
        (None, None) if client.is_public => {
            Err(OAuthError::new("invalid_request", "PKCE with S256 is required for public clients"))
        }
        (None, None) => Ok(None),
        (Some(_), None | Some("plain")) => {
            Err(OAuthError::new("invalid_request", "only code_challenge_method=S256 is supported"))
        }
        (Some(_), Some(m)) if m != "S256" => {
            Err(OAuthError::new("invalid_request", "only code_challenge_method=S256 is supported"))
        }
        // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
        (Some(c), Some(_))
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Err(OAuthError::new("invalid_request", "code_challenge is not a valid S256 challenge"))
        }
        (Some(c), Some(_)) => Ok(Some(c.to_owned())),
    }
}

/// OIDC Core §3.1.2.1: `max_age` is a non-negative number of seconds.
fn check_max_age(params: &Params) -> Result<Option<i64>, OAuthError> {
    params
        .get("max_age")
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(OAuthError::new("invalid_request", "max_age must be a non-negative integer"))
        })
        .transpose()
}

/// OIDC Core §3.1.2.1 `prompt`: unknown values are invalid, and `none` combined with anything is.
fn check_prompt(params: &Params) -> Result<Prompt, OAuthError> {
    let prompts: Vec<&str> = params.get("prompt").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    if prompts.iter().any(|p| !["none", "login", "consent", "select_account"].contains(p)) {
        return Err(OAuthError::new("invalid_request", "unknown prompt value"));
    }
    if prompts.contains(&"none") {
        if prompts.len() > 1 {
            return Err(OAuthError::new("invalid_request", "prompt=none cannot be combined with other values"));
        }
        return Ok(Prompt::None);
    }
    Ok(if prompts.contains(&"login") { Prompt::Login } else { Prompt::Default })
}

/// OIDC Core §5.5.1.1: `{"id_token": {"acr": {"essential": true, "values": [...]}}}` demands one of
/// these `acr` values. A malformed `claims` parameter is `invalid_request`. A demand for a value
/// this provider cannot give fails at once rather than passing a weaker `acr` off as the requested
/// one; the multi-factor value is met by step-up.
fn check_essential_acr(params: &Params) -> Result<Option<Vec<String>>, OAuthError> {
    let Some(raw) = params.get("claims") else { return Ok(None) };
    const MALFORMED: OAuthError =
        OAuthError::new("invalid_request", "the claims parameter is not a valid JSON claims request");
    let claims: serde_json::Value = serde_json::from_str(raw).map_err(|_| MALFORMED)?;
    if !claims.is_object() {
        return Err(MALFORMED);
    }
    let acr = &claims["id_token"]["acr"];
    if acr.is_null() || acr["essential"] != true {
        return Ok(None);
    }
    let values: Vec<String> = match (&acr["value"], &acr["values"]) {
        (serde_json::Value::String(v), _) => vec![v.clone()],
        (_, serde_json::Value::Array(vs)) => vs.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => return Ok(None),
    };
    if !Acr::ALL.iter().any(|acr| acr_satisfies(acr.as_str(), Some(&values))) {
        return Err(UNMET);
    }
    Ok(Some(values))
}

/// OpenID Connect Core Unmet Authentication Requirements 1.0 §2.
const UNMET: OAuthError =
    OAuthError::new("unmet_authentication_requirements", "the requested authentication context cannot be satisfied");

fn acr_satisfies(acr: &str, essential: Option<&[String]>) -> bool {
    essential.is_none_or(|values| values.iter().any(|v| v == acr))
}

impl AuthorizationRequest {
    /// The `acr` values a login must reach, if any: the essential ones, or, when `acr_values` asks
    /// only for multi-factor (as Ostiary's clients use it to demand step-up), that.
    fn demanded_acr(&self) -> Option<Vec<String>> {
        if let Some(essential) = &self.essential_acr {
            return Some(essential.clone());
        }
        let voluntary: Vec<String> = self
            .acr_values
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect();
        let mfa = Acr::MultiFactor.as_str();
        (!voluntary.is_empty() && voluntary.iter().all(|v| v == mfa)).then_some(voluntary)
    }
}

/// What `prompt` asks of the session (OIDC Core §3.1.2.1). `consent` and `select_account` need no
/// screen here: there is one account per browser session and first-party consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prompt {
    Default,
    /// Never show a page: reuse the session or fail with `login_required`.
    None,
    /// Always authenticate again, whatever the session.
    Login,
}

/// The session this request may reuse, if any (OIDC Core §3.1.2.1, §3.1.2.3): none under
/// `prompt=login`; none if older than `max_age`; none if `id_token_hint` names another user. With
/// `prompt=none` and nothing reusable the answer is `login_required`.
async fn check_session(
    req: &HttpRequest,
    srv: &AuthorizationServer,
    prompt: Prompt,
    max_age: Option<i64>,
    hinted_sub: Option<&str>,
    now: i64,
) -> Result<Option<store::sessions::Session>, OAuthError> {
    let session = if prompt == Prompt::Login { None } else { crate::grant::current_session(req, srv, now).await? };
    let session = session
        .filter(|s| max_age.is_none_or(|max| now - s.auth_time <= max))
        .filter(|s| hinted_sub.is_none_or(|sub| sub == s.user_id.as_str()));
    if prompt == Prompt::None && session.is_none() {
        return Err(OAuthError::new("login_required", "the user must sign in"));
    }
    Ok(session)
}

/// An `id_token_hint` must be an ID token this provider signed (it may have expired: OIDC Core
/// §3.1.2.1 uses it only to name the expected user). Returns its `sub`.
fn check_id_token_hint(srv: &AuthorizationServer, hint: Option<&str>, now: i64) -> Result<Option<String>, OAuthError> {
    const INVALID: OAuthError = OAuthError::new("invalid_request", "id_token_hint is not an ID token issued here");
    let Some(hint) = hint else { return Ok(None) };
    let claims: serde_json::Value =
        crate::jwt::verify(&srv.keys.ring(), hint, "JWT", now, srv.config.key_retention()).ok_or(INVALID)?;
    if claims["iss"] != srv.config.issuer.as_str() {
        return Err(INVALID);
    }
    claims["sub"].as_str().map(|sub| Some(sub.to_owned())).ok_or(INVALID)
}

/// Stores the validated request as an interaction bound to `browser` (a keyed hash of its cookie;
/// empty: the first browser to use the magic link) and hands the user to the login pages.
/// OIDC Core §3.1.2.1 `ui_locales`: kept only when it is plausibly a list of language tags.
pub(crate) fn plausible_ui_locales(v: &str) -> bool {
    v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b' ')
}

pub(crate) async fn start_interaction(
    srv: &AuthorizationServer,
    client: &Client,
    request: AuthorizationRequest,
    params: &Params,
    kind: domain::InteractionKind,
    browser: Vec<u8>,
    first_factor: Option<domain::LoginResult>,
) -> Result<InteractionId, OAuthError> {
    let login_hint = params.get("login_hint");
    // OIDC Core §3.1.2.1 `ui_locales`: the pages and messages of this sign-in use the first language
    // available. Kept only when it is plausibly a list of language tags.
    let ui_locales = params.get("ui_locales").filter(|v| plausible_ui_locales(v));
    let now = srv.clock.now();
    let id = InteractionId::generate();
    let new = NewInteraction {
        id: id.clone(),
        kind,
        client_id: client.id.clone(),
        redirect_uri: Some(request.redirect_uri.clone()),
        login_hint: login_hint.filter(|h| h.len() <= 254).map(str::to_owned),
        ui_locales: ui_locales.map(str::to_owned),
        // What step-up must reach: the same rule the session check and resume apply.
        requested_acr: request.demanded_acr().unwrap_or_default(),
        first_factor,
        request: serde_json::to_string(&request).map_err(|e| crate::errors::internal("request encode", &e))?,
        browser_hash: browser,
        created_at: now,
        expires_at: now + srv.config.interaction_ttl,
    };
    srv.store.insert_interaction(new).await.map_err(|e| crate::errors::internal("interaction insert", &e))?;
    Ok(id)
}

pub(crate) fn browser_hash(req: &HttpRequest, srv: &AuthorizationServer) -> Result<Vec<u8>, OAuthError> {
    let ext = req.extensions();
    let browser = ext.get::<BrowserId>().ok_or_else(|| {
        tracing::error!("the browser-id middleware is not mounted");
        crate::errors::SERVER_ERROR
    })?;
    Ok(srv.hasher.hash("browser", browser.0.expose()).0)
}

/// `GET /authorize/resume/{interaction}`: the connection has completed the login. In the browser
/// that started it, and only once, start a session and send the code to the client.
pub async fn resume(req: HttpRequest, path: web::Path<String>, srv: web::Data<AuthorizationServer>) -> HttpResponse {
    resume_with(&req, &path, &srv, None).await
}

#[derive(Deserialize)]
pub struct SwitchForm {
    /// `switch` (sign in as the link's account) or `stay` (keep the session; the client is told
    /// `access_denied`).
    choice: String,
}

/// `POST /authorize/resume/{interaction}`: the answer to "switch account?".
pub async fn resume_confirmed(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<SwitchForm>,
    srv: web::Data<AuthorizationServer>,
) -> HttpResponse {
    resume_with(&req, &path, &srv, Some(form.choice == "switch")).await
}

/// Resumes an interaction; `switch` is the user's answer to "switch account?", when asked.
async fn resume_with(req: &HttpRequest, raw: &str, srv: &AuthorizationServer, switch: Option<bool>) -> HttpResponse {
    let expired = || error_page(srv, req, StatusCode::BAD_REQUEST, "expired");
    let Some(id) = InteractionId::parse(raw) else {
        return expired();
    };
    let (interaction, request) = match srv.store.interaction(&id).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired(),
        Err(e) => return server_error_page(srv, req, "interaction lookup", &e),
    };
    let Ok(browser) = browser_hash(req, srv) else {
        return error_page(srv, req, StatusCode::INTERNAL_SERVER_ERROR, "unavailable");
    };
    if !domain::secret::constant_time_eq(&browser, &interaction.browser_hash) {
        return error_page(srv, req, StatusCode::FORBIDDEN, "different_browser");
    }
    let Ok(request) = serde_json::from_str::<AuthorizationRequest>(&request) else {
        return expired();
    };
    let back = Redirector {
        redirect_uri: &request.redirect_uri,
        state: request.state.as_deref(),
        issuer: &srv.config.issuer,
        form_post: request.form_post.then_some(FormPost::of(srv, crate::pages::language(srv, req))),
    };
    if interaction.denied.is_some() {
        // RFC 6749 §4.1.2.1: the user (or step-up's policy) refused; the client learns only that.
        return back.error(OAuthError::new("access_denied", "the sign-in was not allowed"));
    }
    let Some(result) = interaction.result.clone() else {
        return expired();
    };
    let now = srv.clock.now();
    let current = match crate::grant::current_session(req, srv, now).await {
        Ok(session) => session,
        Err(e) => return back.error(e),
    };
    // A sign-in link the API sent was bound to whichever browser opened it first. If that browser
    // is signed in to another account, the link must not replace it silently (login CSRF: a link
    // forwarded by someone else would sign the visitor in as its sender). The user chooses.
    let other_account = current.as_ref().filter(|s| s.user_id != result.user_id);
    if interaction.kind == domain::InteractionKind::ApiLink
        && let Some(session) = other_account
    {
        match switch {
            None => return switch_account_page(srv, req, &interaction, &session.user_id, &result.user_id).await,
            Some(false) => {
                return match srv.store.resume_interaction(&id, now).await {
                    Ok(_) => back.error(OAuthError::new("access_denied", "the user kept their current account")),
                    Err(e) => server_error_page(srv, req, "interaction resume", &e),
                };
            }
            Some(true) => {}
        }
    }
    match srv.store.resume_interaction(&id, now).await {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(e) => return server_error_page(srv, req, "interaction resume", &e),
    }
    // Never a weaker `acr` passed off as the one demanded (step-up should have reached it).
    if !acr_satisfies(result.acr.as_str(), request.demanded_acr().as_deref()) {
        return back.error(UNMET);
    }
    // OIDC Core §3.1.2.2: a login for another user than the `id_token_hint` named is refused.
    if request.hinted_sub.as_deref().is_some_and(|sub| sub != result.user_id.as_str()) {
        return back.error(OAuthError::new("login_required", "the user who signed in is not the one the client named"));
    }
    // A session this browser still holds is ended: the new login replaces it.
    if let Some(old) = current
        && let Err(e) = srv.store.end_session(old.id_hash, now).await
    {
        tracing::warn!(error = %e, "the previous session could not be ended");
    }
    let issued = match crate::grant::start_session(srv, &result, now).await {
        Ok((session, cookie)) => {
            crate::grant::issue_code(srv, &request, &session, now).await.map(|code| (code, cookie))
        }
        Err(e) => Err(e),
    };
    match issued {
        Ok((code, cookie)) => {
            let mut resp = back.respond(&[("code", &code)]);
            if let Err(e) = resp.add_cookie(&cookie) {
                tracing::error!(error = %e, "session cookie could not be set");
            }
            resp
        }
        Err(e) => back.error(e),
    }
}

/// "This browser is signed in as A; the link is for B": the user picks.
async fn switch_account_page(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    interaction: &domain::Interaction,
    current: &domain::UserId,
    new: &domain::UserId,
) -> HttpResponse {
    let name = |user: Option<store::users::User>| {
        user.and_then(|u| u.email.map(|e| e.to_string()).or_else(|| u.phone.map(|p| p.masked()))).unwrap_or_default()
    };
    let (current, new) = match (srv.store.user(current).await, srv.store.user(new).await) {
        (Ok(a), Ok(b)) => (name(a), name(b)),
        (Err(e), _) | (_, Err(e)) => return server_error_page(srv, req, "user lookup", &e),
    };
    let lang = crate::pages::language(srv, req);
    let mut ctx = tera::Context::new();
    ctx.insert("lang", lang);
    ctx.insert("t", srv.catalog.table(lang));
    ctx.insert("csrf", &req.extensions().get::<domain::web::CsrfToken>().map(|t| t.0.clone()).unwrap_or_default());
    ctx.insert("interaction", interaction.id.as_str());
    ctx.insert("current", &current);
    ctx.insert("new", &new);
    let csp = domain::web::content_security_policy(
        interaction.redirect_uri.as_deref().and_then(domain::web::origin_of).as_deref(),
    );
    match srv.tera.render("pages/switch_account.html", &ctx) {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CONTENT_SECURITY_POLICY, csp))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(e) => {
            tracing::error!(error = ?e, "switch-account page could not be rendered");
            error_page(srv, req, StatusCode::INTERNAL_SERVER_ERROR, "unavailable")
        }
    }
}

fn server_error_page(
    srv: &AuthorizationServer,
    req: &HttpRequest,
    context: &'static str,
    err: &dyn std::error::Error,
) -> HttpResponse {
    crate::errors::internal(context, err);
    error_page(srv, req, StatusCode::INTERNAL_SERVER_ERROR, "unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool) -> Client {
        Client {
            id: domain::ClientId::generate(),
            name: "t".into(),
            secret_hash: None,
            is_public: public,
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            id_token_alg: domain::SigningAlg::RS256,
            created_at: 0,
            application_type: domain::ApplicationType::Web,
            settings: Default::default(),
        }
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_rules() {
        let p = |q: &str| Params::parse(q.as_bytes());
        let s256 = format!("code_challenge={CHALLENGE}&code_challenge_method=S256");
        assert_eq!(check_pkce(&client(true), &p(&s256)).unwrap().as_deref(), Some(CHALLENGE));
        assert!(check_pkce(&client(true), &p("")).is_err(), "public clients need PKCE");
        assert_eq!(check_pkce(&client(false), &p("")).unwrap(), None);
        assert!(
            check_pkce(&client(false), &p(&format!("code_challenge={CHALLENGE}&code_challenge_method=plain"))).is_err()
        );
        assert!(check_pkce(&client(false), &p(&format!("code_challenge={CHALLENGE}"))).is_err(), "plain by default");
        assert!(check_pkce(&client(false), &p("code_challenge_method=S256")).is_err());
        assert!(check_pkce(&client(false), &p("code_challenge=short&code_challenge_method=S256")).is_err());
    }

    #[test]
    fn redirect_uri_must_match_exactly() {
        let c = client(false);
        for bad in [
            "https://a.example/cb/",
            "https://A.example/cb",
            "https://a.example/cb?x=1",
            "https://a.example/cb#f",
            "https://a.example:444/cb",
            "http://a.example/cb",
        ] {
            let params = Params::parse(
                format!("redirect_uri={}", url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>())
                    .as_bytes(),
            );
            assert!(check_redirect_uri(&c, &params).is_err(), "{bad} accepted");
        }
        assert!(check_redirect_uri(&c, &Params::parse(b"redirect_uri=https%3A%2F%2Fa.example%2Fcb")).is_ok());
    }

    #[test]
    fn responses_carry_state_and_iss_and_keep_registered_query() {
        let r = Redirector {
            redirect_uri: "https://a.example/cb?tenant=1",
            state: Some("s t"),
            issuer: "https://id.example",
            form_post: None,
        };
        assert_eq!(
            r.url(&[("code", "abc")]),
            "https://a.example/cb?tenant=1&code=abc&state=s+t&iss=https%3A%2F%2Fid.example"
        );
    }

    #[test]
    fn prompt_none_cannot_be_combined() {
        assert_eq!(check_prompt(&Params::parse(b"prompt=none+login")).unwrap_err().error, "invalid_request");
        assert_eq!(check_prompt(&Params::parse(b"prompt=none")).unwrap(), Prompt::None);
        assert_eq!(check_prompt(&Params::parse(b"prompt=login+consent")).unwrap(), Prompt::Login);
        assert_eq!(check_prompt(&Params::parse(b"prompt=select_account")).unwrap(), Prompt::Default);
        assert_eq!(check_prompt(&Params::parse(b"prompt=bogus")).unwrap_err().error, "invalid_request");
    }
}

//! Every check of an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), one rule each,
//! in order. Until client and redirect URI are verified, errors are shown as a page; after that
//! they go back to the client (`Refused::Redirect`).

use domain::{Acr, Client, Scope};

use super::redirect_uri::check_redirect_uri;
use super::response::{FormPost, Redirector};
use crate::AuthorizationServer;
use crate::claims::{ClaimsParameter, ClaimsRequest};
use crate::errors::{ErrorCode, OAuthError};
use crate::pages::PageError;
use crate::params::Params;
use crate::request_object::Resolved;
use crate::storage::AuthorizationRequest;

/// Scopes this provider knows; others are ignored, which RFC 6749 §3.3 allows.
pub const SUPPORTED_SCOPES: [&str; 6] = ["openid", "profile", "email", "address", "phone", "offline_access"];
const MAX_PARAM: usize = 2048;
const MAX_CLAIMS: usize = 4096;
const MAX_ID_TOKEN_HINT: usize = 8192;

/// Why an authorization request was refused: before the client and its redirect URI are trusted,
/// a page for the user; after, an error for the client's redirect URI (RFC 6749 §4.1.2.1).
pub(crate) enum Refused<'p> {
    Page(PageError),
    Redirect(Box<Redirector<'p>>, OAuthError),
}

/// A request that passed every check.
pub(crate) struct Checked<'p> {
    pub client: Client,
    pub request: AuthorizationRequest,
    pub prompt: Prompt,
    pub back: Redirector<'p>,
}

/// Every check of an authorization request, in order, one rule each, on its parameters resolved
/// (`request_object::resolve`: the request object merged in, or the pushed request's). Why a
/// request object or pushed request was refused goes back to the client once its redirect URI is
/// verified (RFC 9101 §6.3).
pub(crate) async fn check_request<'p>(
    srv: &'p AuthorizationServer,
    resolved: &'p Resolved,
    lang: &'p str,
) -> Result<Checked<'p>, Refused<'p>> {
    let (params, refused_object) = (&resolved.params, resolved.refused);
    check_params(params).map_err(Refused::Page)?;
    let client = check_client(srv, params).await.map_err(Refused::Page)?;
    let redirect_uri = check_redirect_uri(&client, params).map_err(|e| {
        // The redirect URI may have been in the object refused: say what was wrong first.
        Refused::Page(if refused_object.is_some() {
            PageError::BadRequest("the request object was refused")
        } else {
            e
        })
    })?;
    let form_post = params.get("response_mode") == Some("form_post");
    let back = Redirector {
        redirect_uri,
        state: params.get("state"),
        issuer: &srv.config.issuer,
        form_post: form_post.then_some(FormPost::of(srv, lang)),
    };
    if let Some(e) = refused_object {
        return Err(Refused::Redirect(Box::new(back), e));
    }
    // RFC 9126 §6: a client registered so sends only pushed requests.
    if client.settings.require_pushed_authorization_requests && !resolved.pushed {
        const UNPUSHED: OAuthError = OAuthError::new(
            ErrorCode::InvalidRequest,
            "this client must push its authorization requests first (pushed_authorization_request_endpoint)",
        );
        return Err(Refused::Redirect(Box::new(back), UNPUSHED));
    }
    let checked = check_protocol(&client, params).and_then(|p| {
        let hinted = check_id_token_hint(srv, params.get("id_token_hint"), srv.clock.now())?;
        let expected = expected_user(hinted, p.claims.sub.clone())?;
        Ok((p, expected))
    });
    let (Protocol { scope, code_challenge, max_age, prompt, claims, dpop_jkt }, hinted_sub) = match checked {
        Ok(v) => v,
        Err(e) => return Err(Refused::Redirect(Box::new(back), e)),
    };
    let request = AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope,
        state: params.get("state").map(str::to_owned),
        nonce: params.get("nonce").map(str::to_owned),
        code_challenge,
        max_age,
        acr_values: params.get("acr_values").map(str::to_owned),
        form_post,
        essential_acr: claims.essential_acr,
        claims: claims.requested,
        hinted_sub,
        prompt_login: prompt == Prompt::Login,
        dpop_jkt,
        device: None,
    };
    Ok(Checked { client, request, prompt, back })
}

/// What the protocol parameters ask for, checked.
pub(crate) struct Protocol {
    pub scope: Scope,
    pub code_challenge: Option<String>,
    pub max_age: Option<i64>,
    pub prompt: Prompt,
    pub claims: Claims,
    /// RFC 9449 §10: the DPoP key the code will be bound to.
    pub dpop_jkt: Option<String>,
}

/// The checks that need nothing but the client and the parameters, in order.
pub(crate) fn check_protocol(client: &Client, params: &Params) -> Result<Protocol, OAuthError> {
    check_response_type(params)?;
    check_response_mode(params)?;
    Ok(Protocol {
        scope: check_scope(client, params)?,
        code_challenge: check_pkce(client, params)?,
        max_age: check_max_age(params)?,
        prompt: check_prompt(params)?,
        claims: check_claims(params)?,
        dpop_jkt: crate::dpop::check_dpop_jkt(params.get("dpop_jkt"))?,
    })
}

/// The page-level checks and the protocol checks of a request for `client`, without a server:
/// what `cargo fuzz` drives (see `fuzz/`).
#[cfg(any(test, feature = "fuzzing"))]
pub fn fuzz_parameters(client: &Client, raw: &[u8]) {
    let params = Params::parse(raw);
    if check_params(&params).is_ok() && check_redirect_uri(client, &params).is_ok() {
        let _ = check_protocol(client, &params);
    }
}

/// RFC 6749 §3.1: parameters must not repeat; oversized values are refused before any lookup.
/// Every value is capped, so nobody can make an interaction (a stored row, open to anyone) large.
fn check_params(params: &Params) -> Result<(), PageError> {
    if params.duplicated {
        return Err(PageError::BadRequest("a parameter is repeated"));
    }
    let limit = |name: &str| match name {
        // A JSON claims request (OIDC Core §5.5), a signed ID token and a request object are
        // legitimately longer.
        "claims" => MAX_CLAIMS,
        "request" => crate::request_object::MAX_BYTES,
        "id_token_hint" => MAX_ID_TOKEN_HINT,
        _ => MAX_PARAM,
    };
    if params.iter().any(|(name, value)| value.len() > limit(name)) {
        return Err(PageError::BadRequest("a parameter is too large"));
    }
    Ok(())
}

/// The client must be registered and not disabled. RFC 6749 §4.1.2.1: an unknown client gets a
/// page, not a redirect.
async fn check_client(srv: &AuthorizationServer, params: &Params) -> Result<Client, PageError> {
    let id = params.get("client_id").and_then(domain::ClientId::parse).ok_or(PageError::UnknownApp)?;
    match srv.store.client(&id).await {
        Ok(Some(c)) if !c.is_disabled() => Ok(c),
        Ok(_) => Err(PageError::UnknownApp),
        Err(e) => Err(PageError::failed("client lookup failed", &e)),
    }
}

/// Only the authorization code flow (RFC 9700 §2.1.2: no implicit grant).
fn check_response_type(params: &Params) -> Result<(), OAuthError> {
    match params.get("response_type") {
        Some("code") => Ok(()),
        None => Err(OAuthError::new(ErrorCode::InvalidRequest, "response_type is required")),
        Some(_) => Err(OAuthError::new(ErrorCode::UnsupportedResponseType, "only response_type=code is supported")),
    }
}

fn check_response_mode(params: &Params) -> Result<(), OAuthError> {
    match params.get("response_mode") {
        None | Some("query" | "form_post") => Ok(()),
        Some(_) => Err(OAuthError::new(ErrorCode::InvalidRequest, "response_mode must be query or form_post")),
    }
}

/// OIDC Core §3.1.2.1: `openid` is required. Unknown scopes are dropped, not refused, and so is
/// `offline_access` for a client whose policy never issues refresh tokens.
pub(crate) fn check_scope(client: &Client, params: &Params) -> Result<Scope, OAuthError> {
    let requested: Vec<&str> = params.get("scope").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    if !requested.contains(&"openid") {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "the openid scope is required"));
    }
    let never_offline = client.settings.refresh_tokens == domain::RefreshPolicy::Never;
    let kept =
        SUPPORTED_SCOPES.into_iter().filter(|s| requested.contains(s) && !(*s == "offline_access" && never_offline));
    Ok(Scope::from_tokens(kept))
}

/// RFC 7636 with RFC 9700 §2.1.1: S256 only (`plain` refused); required for public clients,
/// honoured for confidential ones. A method without a challenge is malformed.
fn check_pkce(client: &Client, params: &Params) -> Result<Option<String>, OAuthError> {
    let challenge = params.get("code_challenge");
    match (challenge, params.get("code_challenge_method")) {
        (None, Some(_)) => {
            Err(OAuthError::new(ErrorCode::InvalidRequest, "code_challenge_method without code_challenge"))
        }
        (None, None) if client.is_public => {
            Err(OAuthError::new(ErrorCode::InvalidRequest, "PKCE with S256 is required for public clients"))
        }
        (None, None) => Ok(None),
        (Some(_), None | Some("plain")) => {
            Err(OAuthError::new(ErrorCode::InvalidRequest, "only code_challenge_method=S256 is supported"))
        }
        (Some(_), Some(m)) if m != "S256" => {
            Err(OAuthError::new(ErrorCode::InvalidRequest, "only code_challenge_method=S256 is supported"))
        }
        // RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is exactly 43 characters.
        (Some(c), Some(_))
            if c.len() != 43 || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Err(OAuthError::new(ErrorCode::InvalidRequest, "code_challenge is not a valid S256 challenge"))
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
                .ok_or(OAuthError::new(ErrorCode::InvalidRequest, "max_age must be a non-negative integer"))
        })
        .transpose()
}

/// OIDC Core §3.1.2.1 `prompt`: unknown values are invalid, and `none` combined with anything is.
fn check_prompt(params: &Params) -> Result<Prompt, OAuthError> {
    let prompts: Vec<&str> = params.get("prompt").unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect();
    if prompts.iter().any(|p| !["none", "login", "consent", "select_account"].contains(p)) {
        return Err(OAuthError::new(ErrorCode::InvalidRequest, "unknown prompt value"));
    }
    if prompts.contains(&"none") {
        if prompts.len() > 1 {
            return Err(OAuthError::new(ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values"));
        }
        return Ok(Prompt::None);
    }
    Ok(if prompts.contains(&"login") { Prompt::Login } else { Prompt::Default })
}

/// What the `claims` parameter (OIDC Core §5.5) asks of the request.
#[derive(Default)]
pub(crate) struct Claims {
    /// The `acr` values demanded as essential (§5.5.1.1), those this provider knows.
    pub essential_acr: Option<Vec<Acr>>,
    /// The user the ID token must be about (`sub` with a value, §5.5.1).
    pub sub: Option<String>,
    /// The user claims asked for by name.
    pub requested: ClaimsRequest,
}

/// OIDC Core §5.5: a malformed `claims` parameter is `invalid_request`. An essential `acr` demand
/// (`{"id_token": {"acr": {"essential": true, "values": [...]}}}`, §5.5.1.1) for values this
/// provider cannot give fails at once rather than passing a weaker `acr` off as the requested one;
/// the multi-factor value is met by step-up.
fn check_claims(params: &Params) -> Result<Claims, OAuthError> {
    let Some(raw) = params.get("claims") else { return Ok(Claims::default()) };
    const MALFORMED: OAuthError =
        OAuthError::new(ErrorCode::InvalidRequest, "the claims parameter is not a valid JSON claims request");
    let parsed = ClaimsParameter::parse(raw).map_err(|_| MALFORMED)?;
    let essential_acr = match parsed.essential_acr() {
        None => None,
        // Only values this provider knows can be met; a demand of none of them cannot.
        Some(values) => match values.into_iter().filter_map(Acr::parse).collect::<Vec<_>>() {
            known if known.is_empty() => return Err(UNMET),
            known => Some(known),
        },
    };
    let sub = parsed.sub().map_err(|_| MALFORMED)?.map(str::to_owned);
    Ok(Claims { essential_acr, sub, requested: parsed.requested() })
}

/// The user the client expects (OIDC Core §3.1.2.2 `id_token_hint`, §5.5.1 a `sub` value in the
/// `claims` parameter). Two that name different users can never both be met.
fn expected_user(hinted: Option<String>, claimed: Option<String>) -> Result<Option<String>, OAuthError> {
    match (hinted, claimed) {
        (Some(h), Some(c)) if h != c => Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            "id_token_hint and the claims parameter name different users",
        )),
        (h, c) => Ok(h.or(c)),
    }
}

/// OpenID Connect Core Unmet Authentication Requirements 1.0 §2.
pub(crate) const UNMET: OAuthError = OAuthError::new(
    ErrorCode::UnmetAuthenticationRequirements,
    "the requested authentication context cannot be satisfied",
);

pub(crate) fn acr_satisfies(acr: Acr, demanded: Option<&[Acr]>) -> bool {
    demanded.is_none_or(|values| values.contains(&acr))
}

impl AuthorizationRequest {
    /// The `acr` values a login must reach, if any: the essential ones, or, when `acr_values` asks
    /// only for multi-factor (as Ostiary's clients use it to demand step-up), that.
    pub(crate) fn demanded_acr(&self) -> Option<Vec<Acr>> {
        if let Some(essential) = &self.essential_acr {
            return Some(essential.clone());
        }
        let voluntary: Vec<&str> =
            self.acr_values.as_deref().unwrap_or_default().split(' ').filter(|v| !v.is_empty()).collect();
        let mfa = Acr::MultiFactor.as_str();
        (!voluntary.is_empty() && voluntary.iter().all(|v| *v == mfa)).then(|| vec![Acr::MultiFactor])
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

/// An `id_token_hint` must be an ID token this provider signed (it may have expired: OIDC Core
/// §3.1.2.1 uses it only to name the expected user). Returns its `sub`.
fn check_id_token_hint(srv: &AuthorizationServer, hint: Option<&str>, now: i64) -> Result<Option<String>, OAuthError> {
    const INVALID: OAuthError =
        OAuthError::new(ErrorCode::InvalidRequest, "id_token_hint is not an ID token issued here");
    let Some(hint) = hint else { return Ok(None) };
    let claims = crate::jwt::read_id_token(srv, hint, now).ok_or(INVALID)?;
    claims["sub"].as_str().map(|sub| Some(sub.to_owned())).ok_or(INVALID)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool) -> Client {
        Client {
            id: domain::ClientId::generate(),
            name: "t".into(),
            secret_hash: None,
            secret_sealed: None,
            is_public: public,
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            id_token_alg: domain::SigningAlg::RS256,
            created_at: 0,
            application_type: domain::ApplicationType::Web,
            settings: Default::default(),
            previous_secret: None,
            disabled_at: None,
            version: 1,
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
    fn prompt_none_cannot_be_combined() {
        assert_eq!(check_prompt(&Params::parse(b"prompt=none+login")).unwrap_err().error, "invalid_request");
        assert_eq!(check_prompt(&Params::parse(b"prompt=none")).unwrap(), Prompt::None);
        assert_eq!(check_prompt(&Params::parse(b"prompt=login+consent")).unwrap(), Prompt::Login);
        assert_eq!(check_prompt(&Params::parse(b"prompt=select_account")).unwrap(), Prompt::Default);
        assert_eq!(check_prompt(&Params::parse(b"prompt=bogus")).unwrap_err().error, "invalid_request");
    }
}

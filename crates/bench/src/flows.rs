//! What a virtual user does, one function per operation: the whole sign-in of a relying party
//! (authorization request with PKCE, the provider's pages, the code exchange), and the API calls.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};

use crate::fake_sendgrid::FakeSendGrid;
use crate::http::{Recorder, csrf_of, pkce, query_param};

/// Whose pages a sign-in goes through.
pub enum Kind {
    /// Ostiary's hosted pages: email, then the code that the fake SendGrid hands over, then
    /// step-up when it asks for nothing more.
    Ostiary(FakeSendGrid),
    /// node-oidc-provider with an interaction that finishes by itself (no page, no code).
    Peer,
}

/// A provider under load and the one client the virtual users act as.
pub struct Target {
    pub name: String,
    pub kind: Kind,
    pub issuer: url::Url,
    pub authorize: String,
    pub token: String,
    pub userinfo: String,
    pub introspect: Option<String>,
    pub jwks: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    /// Makes every sign-in's address unique: a new account each time.
    accounts: AtomicU64,
    run_tag: String,
}

impl Target {
    /// Reads the endpoints from the provider's discovery document.
    pub async fn discover(name: &str, kind: Kind, issuer: &str, client: (String, String)) -> anyhow::Result<Target> {
        let api = crate::http::api_client()?;
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let meta: serde_json::Value = api.get(&url).send().await?.error_for_status()?.json().await?;
        let endpoint = |key: &str| -> anyhow::Result<String> {
            meta[key].as_str().map(str::to_owned).ok_or_else(|| anyhow!("discovery of {issuer} lacks {key}"))
        };
        Ok(Target {
            name: name.to_owned(),
            kind,
            issuer: url::Url::parse(issuer)?,
            authorize: endpoint("authorization_endpoint")?,
            token: endpoint("token_endpoint")?,
            userinfo: endpoint("userinfo_endpoint")?,
            introspect: endpoint("introspection_endpoint").ok(),
            jwks: endpoint("jwks_uri")?,
            client_id: client.0,
            client_secret: client.1,
            redirect_uri: REDIRECT_URI.to_owned(),
            accounts: AtomicU64::new(0),
            run_tag: domain::secret::random_token(6).to_lowercase().replace(['-', '_'], "x"),
        })
    }

    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.as_str().trim_end_matches('/'))
    }

    fn new_email(&self) -> String {
        format!("bench-{}-{}@example.com", self.run_tag, self.accounts.fetch_add(1, Ordering::Relaxed))
    }

    /// HTTP Basic client authentication (RFC 6749 §2.3.1: both parts form-urlencoded first).
    fn authenticated(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        request.basic_auth(enc(&self.client_id), Some(enc(&self.client_secret)))
    }
}

/// Never contacted: the virtual user reads the code from the redirect's `Location`.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// A user's tokens, kept by a virtual user between operations.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// The whole sign-in in a new browser, ending with the code exchange.
pub async fn sign_in(t: &Target, api: &reqwest::Client, rec: &mut Recorder) -> anyhow::Result<Tokens> {
    let browser = crate::http::browser()?;
    let (verifier, challenge) = pkce();
    let state = domain::secret::random_token(12);
    let mut authorize = url::Url::parse(&t.authorize)?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &t.client_id)
        .append_pair("redirect_uri", &t.redirect_uri)
        .append_pair("scope", "openid email offline_access")
        .append_pair("state", &state)
        .append_pair("nonce", &domain::secret::random_token(12))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let callback = match &t.kind {
        Kind::Ostiary(fake) => ostiary_pages(t, fake, &browser, rec, authorize.as_str()).await?,
        Kind::Peer => follow_to_client(t, &browser, rec, authorize.as_str()).await?,
    };
    let callback = url::Url::parse(&callback).context("the redirect to the client")?;
    if query_param(&callback, "state").as_deref() != Some(state.as_str()) {
        bail!("the redirect to the client carries another state: {callback}");
    }
    let code = query_param(&callback, "code").ok_or_else(|| anyhow!("no code in {callback}"))?;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &t.redirect_uri),
        ("code_verifier", &verifier),
    ];
    let answer = rec.send("token (code)", t.authenticated(api.post(&t.token)).form(&form)).await?;
    tokens_of(&answer.json("code exchange")?)
}

fn tokens_of(json: &serde_json::Value) -> anyhow::Result<Tokens> {
    let field = |name: &str| json[name].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no {name} in {json}"));
    Ok(Tokens { access: field("access_token")?, refresh: field("refresh_token")? })
}

/// Ostiary's pages, as a person goes through them: the login page, the email, the code page, the
/// code from the email, step-up (which asks nothing more of a new account), the resume redirect.
async fn ostiary_pages(
    t: &Target,
    fake: &FakeSendGrid,
    browser: &reqwest::Client,
    rec: &mut Recorder,
    authorize: &str,
) -> anyhow::Result<String> {
    let answer = rec.send("authorize", browser.get(authorize)).await?;
    let login = t.issuer.join(answer.redirect("authorize")?)?;
    let page = rec.send("login page", browser.get(login.clone())).await?;
    let csrf = csrf_of(page.ok("login page")?)?;
    let email = t.new_email();
    let code = fake.expect_code(&email);
    let answer =
        rec.send("post email", browser.post(login).form(&[("csrf", csrf.as_str()), ("email", &email)])).await?;
    let code_page = t.issuer.join(answer.redirect("email")?)?;
    let page = rec.send("code page", browser.get(code_page.clone())).await?;
    let csrf = csrf_of(page.ok("code page")?)?;
    let code = tokio::time::timeout(Duration::from_secs(30), code)
        .await
        .map_err(|_| anyhow!("no email to {email} within 30 s"))?
        .map_err(|_| anyhow!("the email to {email} was lost"))?;
    let answer =
        rec.send("post code", browser.post(code_page).form(&[("csrf", csrf.as_str()), ("code", &code)])).await?;
    let mut next = t.issuer.join(answer.redirect("code")?)?;
    if next.path().starts_with("/step-up/") {
        let answer = rec.send("step-up", browser.get(next)).await?;
        next = t.issuer.join(answer.redirect("step-up")?)?;
    }
    let answer = rec.send("resume", browser.get(next)).await?;
    Ok(answer.redirect("resume")?.to_owned())
}

/// Follows redirects (the peer's interaction finishes by itself) until one goes to the client.
async fn follow_to_client(
    t: &Target,
    browser: &reqwest::Client,
    rec: &mut Recorder,
    authorize: &str,
) -> anyhow::Result<String> {
    let mut next = url::Url::parse(authorize)?;
    for hop in 0..8 {
        let step = ["authorize", "interaction", "resume"].get(hop).copied().unwrap_or("redirect");
        let answer = rec.send(step, browser.get(next.clone())).await?;
        let location = answer.redirect(next.path())?;
        if location.starts_with(&t.redirect_uri) {
            return Ok(location.to_owned());
        }
        next = next.join(location)?;
    }
    bail!("more than 8 redirects without reaching the client")
}

/// One refresh grant; the rotated refresh token replaces the spent one.
pub async fn refresh(t: &Target, api: &reqwest::Client, rec: &mut Recorder, tokens: &mut Tokens) -> anyhow::Result<()> {
    let form = [("grant_type", "refresh_token"), ("refresh_token", tokens.refresh.as_str())];
    let answer = rec.send("token (refresh)", t.authenticated(api.post(&t.token)).form(&form)).await?;
    *tokens = tokens_of(&answer.json("refresh")?)?;
    Ok(())
}

pub async fn client_credentials(t: &Target, api: &reqwest::Client, rec: &mut Recorder) -> anyhow::Result<()> {
    let answer = rec
        .send(
            "token (client_credentials)",
            t.authenticated(api.post(&t.token)).form(&[("grant_type", "client_credentials")]),
        )
        .await?;
    answer.json("client_credentials")?["access_token"].as_str().map(|_| ()).ok_or_else(|| anyhow!("no access token"))
}

pub async fn introspection(
    t: &Target,
    api: &reqwest::Client,
    rec: &mut Recorder,
    tokens: &Tokens,
) -> anyhow::Result<()> {
    let endpoint = t.introspect.as_deref().ok_or_else(|| anyhow!("{} has no introspection endpoint", t.name))?;
    let answer =
        rec.send("introspect", t.authenticated(api.post(endpoint)).form(&[("token", tokens.access.as_str())])).await?;
    let json = answer.json("introspection")?;
    if json["active"] != true {
        bail!("introspection: the access token is not active: {json}");
    }
    Ok(())
}

pub async fn userinfo(t: &Target, api: &reqwest::Client, rec: &mut Recorder, tokens: &Tokens) -> anyhow::Result<()> {
    let answer = rec.send("userinfo", api.get(&t.userinfo).bearer_auth(&tokens.access)).await?;
    answer.json("userinfo")?["sub"].as_str().map(|_| ()).ok_or_else(|| anyhow!("userinfo without sub"))
}

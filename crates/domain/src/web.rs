//! Values the server's middleware places in each request for the crates' handlers to read. Kept
//! free of any web framework so every crate can name them.

/// The random id in the browser cookie. It binds an interaction (and a magic link) to the browser
/// that started the login, and it is the key of the CSRF token.
#[derive(Clone, Debug)]
pub struct BrowserId(pub crate::Secret);

/// The CSRF token every HTML form of this request must carry in a field named `csrf`.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// The client's IP address as established by the trusted-proxy rules of the server.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub std::net::IpAddr);

/// Whether the public issuer is served over https; decides `Secure` and the `__Host-` prefix.
#[derive(Clone, Copy, Debug)]
pub struct Https(pub bool);

/// The Content-Security-Policy of every page. `form_action` adds an origin to `form-action` for the
/// pages whose forms end in a redirect to a relying party: browsers enforce `form-action` on the
/// redirects after a submission (CSP Level 3 §6.3.1).
pub fn content_security_policy(form_action: Option<&str>) -> String {
    let extra = form_action.map(|o| format!(" {o}")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The origin (`scheme://host[:port]`) of a URL, for CSP sources.
pub fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

//! Values the server's middleware places in each request for the crates' handlers to read. Kept
//! free of any web framework so every crate can name them.

/// The random id in the browser cookie. It binds an interaction (and a magic link) to the browser
/// that started the login, and it is the key of the CSRF token.
#[derive(Clone, Debug)]
pub struct BrowserId(pub crate::Secret);

/// The CSRF token every HTML form of this request must carry in a field named `csrf`.
#[derive(Clone, Debug)]
pub struct CsrfToken(pub String);

/// The client's IP address as established by the trusted-proxy rules of the server. Always
/// canonical: an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket reports an
/// IPv4 peer) is the IPv4 address it maps (RFC 4291 §2.5.5.2), so limits, blocks and the sign-in
/// history never see one client under two names. This constructor is the one place that rule lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(std::net::IpAddr);

impl ClientIp {
    pub fn new(ip: std::net::IpAddr) -> Self {
        Self(ip.to_canonical())
    }

    pub fn ip(self) -> std::net::IpAddr {
        self.0
    }

    /// What per-IP limits and blocks count under: an IPv4 address itself, or the /64 network of an
    /// IPv6 address. One subscriber is usually given a whole /64 or more (RFC 6177, RFC 7934 §6), so
    /// counting single IPv6 addresses would let one client rotate through 2^64 of them.
    pub fn limit_key(self) -> String {
        match self.0 {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        }
    }
}

/// The IP a request comes from: what the middleware established ([`ClientIp`]), else the TCP
/// peer, else the unspecified address (a request with neither, as in some unit tests). Canonical.
pub fn client_ip(found: Option<&ClientIp>, peer: Option<std::net::SocketAddr>) -> std::net::IpAddr {
    found
        .copied()
        .unwrap_or_else(|| {
            ClientIp::new(peer.map(|a| a.ip()).unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)))
        })
        .ip()
}

/// The media type of a request body (`application/json`, lower case, without parameters), if the
/// body is sent as is. A body with a `Content-Encoding` other than `identity` is not read: Ostiary
/// accepts no compressed requests (RFC 9110 §8.4.1), and each endpoint refuses one in its own
/// protocol's words rather than a decoder's.
pub fn plain_media_type(content_type: Option<&str>, content_encoding: Option<&str>) -> Option<String> {
    if content_encoding.is_some_and(|e| !e.split(',').all(|c| c.trim().eq_ignore_ascii_case("identity"))) {
        return None;
    }
    content_type.and_then(|v| v.split(';').next()).map(|t| t.trim().to_ascii_lowercase())
}

/// The country of the client IP (ISO 3166-1 alpha-2), when the server's IP-to-country data knows it.
#[derive(Clone, Debug)]
pub struct ClientCountry(pub Option<String>);

/// Whether the public issuer is served over https; decides `Secure` and the `__Host-` prefix.
#[derive(Clone, Copy, Debug)]
pub struct Https(pub bool);

/// The Content-Security-Policy of every page. `form_action` adds an origin to `form-action` for the
/// pages whose forms end in a redirect to a relying party: browsers enforce `form-action` on the
/// redirects after a submission (CSP Level 3 §6.3.1).
pub fn content_security_policy(form_action: Option<&str>) -> String {
    content_security_policy_with(form_action, None, None)
}

/// [`content_security_policy`] that also allows a client's branding: its logo's origin in
/// `img-src` and its stylesheet's origin in `style-src`.
pub fn content_security_policy_with(
    form_action: Option<&str>,
    img_src: Option<&str>,
    style_src: Option<&str>,
) -> String {
    let more = |o: Option<&str>| o.map(|o| format!(" {o}")).unwrap_or_default();
    let (form, img, style) = (more(form_action), more(img_src), more(style_src));
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'{style}; img-src 'self' data:{img}; connect-src 'self'; \
         form-action 'self'{form}; frame-ancestors 'none'; base-uri 'none'"
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

/// "Firefox on Linux" from a User-Agent header, for messages that say where a sign-in came from.
/// `None` when the agent cannot be recognised (bots, empty or hostile values).
pub fn describe_user_agent(user_agent: &str) -> Option<String> {
    if user_agent.len() > 512 {
        return None;
    }
    let r = woothee::parser::Parser::new().parse(user_agent)?;
    let known = |s: &str| !s.is_empty() && s != "UNKNOWN";
    match (known(r.name), known(r.os)) {
        (true, true) => Some(format!("{} on {}", r.name, r.os)),
        (true, false) => Some(r.name.to_owned()),
        (false, true) => Some(r.os.to_owned()),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_canonical_and_ipv6_counts_by_its_slash_64() {
        let ip = |s: &str| ClientIp::new(s.parse().unwrap());
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
        assert_eq!(ip("::ffff:192.0.2.1").limit_key(), "192.0.2.1");
        assert_eq!(ip("2001:db8:1:2:aaaa::1").limit_key(), "2001:db8:1:2::/64");
        assert_eq!(ip("2001:db8:1:2:ffff:ffff:ffff:ffff").limit_key(), ip("2001:db8:1:2::9").limit_key());
        assert_ne!(ip("2001:db8:1:3::1").limit_key(), ip("2001:db8:1:2::1").limit_key());
    }

    #[test]
    fn compressed_bodies_have_no_media_type() {
        let form = Some("application/x-www-form-urlencoded; charset=utf-8");
        assert_eq!(plain_media_type(form, None).as_deref(), Some("application/x-www-form-urlencoded"));
        assert_eq!(plain_media_type(form, Some("identity")).as_deref(), Some("application/x-www-form-urlencoded"));
        assert_eq!(plain_media_type(form, Some("gzip")), None);
        assert_eq!(plain_media_type(Some("Application/JSON"), None).as_deref(), Some("application/json"));
    }

    #[test]
    fn user_agents_are_described_briefly() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_user_agent(firefox).as_deref(), Some("Firefox on Linux"));
        assert_eq!(describe_user_agent(""), None);
        assert_eq!(describe_user_agent("curl-ish \u{0}"), None);
    }
}

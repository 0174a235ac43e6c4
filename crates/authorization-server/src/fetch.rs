//! Fetching what a client's registration points at (its `jwks_uri`, `request_uris`), and posting its
//! back-channel logout tokens, through a guarded HTTP client:
//! any registered client can name any URL, so the provider must not become a way into its own
//! network (server-side request forgery). https only outside development; no private, loopback or
//! link-local address unless the operator allows them (`oidc.fetch_private_addresses`), checked on
//! the addresses actually connected to; no redirects; a time limit and a size limit.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The most a fetched document may weigh.
pub const MAX_BYTES: usize = 64 * 1024;

/// What may be fetched.
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchPolicy {
    /// Plain `http://` URLs (development only: the server decides).
    pub http: bool,
    /// Private, loopback, link-local and other non-public addresses (a development machine, an intranet).
    pub private_addresses: bool,
}

/// Why a URL was not, or could not be, fetched. The text is for the client's developer.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Refused(&'static str),
    #[error("{0}")]
    Failed(String),
}

pub struct Fetcher {
    /// Built at the first fetch: most deployments never fetch anything, and a client holds the
    /// system's root certificates (about 0.1 MiB).
    http: std::sync::OnceLock<reqwest::Client>,
    policy: FetchPolicy,
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Self {
        Fetcher { http: std::sync::OnceLock::new(), policy }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .dns_resolver(PublicOnly { private_addresses: self.policy.private_addresses })
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("ostiary/", env!("CARGO_PKG_VERSION")))
                .build()
                // Only a missing TLS backend fails here, which the build rules out; then nothing is fetched.
                .unwrap_or_default()
        })
    }

    /// Whether `url` may be fetched at all (checked at registration too, so a bad one is refused
    /// there, with its reason).
    pub fn check_url(&self, url: &str) -> Result<url::Url, FetchError> {
        let url = url::Url::parse(url).map_err(|_| FetchError::Refused("it is not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.policy.http => {}
            _ => return Err(FetchError::Refused("it must be an https URL")),
        }
        if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Refused("it must have no fragment and no user name or password"));
        }
        // An address written in the URL is connected to without asking the resolver.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(FetchError::Refused("it names no host")),
        };
        if literal.is_some_and(|ip| !self.policy.private_addresses && !is_public(ip)) {
            return Err(FetchError::Refused("it points at a private address"));
        }
        Ok(url)
    }

    /// GETs `url` and reads its body as JSON: a 200, at most [`MAX_BYTES`], within the time limit.
    pub async fn json(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        let body = self.body(url, "application/json").await?;
        serde_json::from_slice(&body).map_err(|_| FetchError::Failed("it is not JSON".into()))
    }

    /// GETs `url` and reads its body as UTF-8 text, the same way as [`Fetcher::json`].
    pub async fn text(&self, url: &str, accept: &str) -> Result<String, FetchError> {
        let body = self.body(url, accept).await?;
        String::from_utf8(body).map_err(|_| FetchError::Failed("it is not UTF-8 text".into()))
    }

    /// POSTs `form` form-encoded to `url` (a client's back-channel endpoint): the status of the
    /// answer, whose body is not read.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<u16, FetchError> {
        let url = self.check_url(url)?;
        let resp = self.http().post(url).form(form).send().await;
        resp.map(|r| r.status().as_u16()).map_err(|e| FetchError::Failed(e.without_url().to_string()))
    }

    /// The body of a 200 answer to a GET of `url`: at most [`MAX_BYTES`], within the time limit.
    async fn body(&self, url: &str, accept: &str) -> Result<Vec<u8>, FetchError> {
        let url = self.check_url(url)?;
        // The error without the URL: the caller knows it, and its log line names it once.
        let failed = |e: reqwest::Error| FetchError::Failed(e.without_url().to_string());
        let mut resp = self.http().get(url).header("accept", accept).send().await.map_err(failed)?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Failed(format!("it answered {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
            return Err(FetchError::Failed(format!("it is larger than {MAX_BYTES} bytes")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::Failed(format!("it is larger than {MAX_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A resolver that keeps only public addresses (unless private ones are allowed), so that a name
/// pointing inside the network, or re-pointed there between a check and the connection (DNS
/// rebinding), is never connected to: the check is on the very addresses used.
struct PublicOnly {
    private_addresses: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let private_addresses = self.private_addresses;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.into_iter().filter(|a| private_addresses || is_public(a.ip())).collect();
            if kept.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address: not in the IANA special-purpose registries' ranges
/// that are not globally reachable (RFC 6890, RFC 6598's shared space, RFC 4193's unique local
/// IPv6), nor an IPv4-mapped or NAT64 form of one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (b & 0xc0) == 64)
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (b & 0xfe) == 18))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b {
                let [.., a, b, c, d] = v6.octets();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[0] == 0x0100)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "10.0.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "193.0.6.139", "2a00:1450:4007::1", "64:ff9b::808:808"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_checked_before_anything_is_fetched() {
        let strict = Fetcher::new(FetchPolicy::default());
        assert!(strict.check_url("https://rp.example/jwks").is_ok());
        for bad in [
            "http://rp.example/jwks",
            "https://127.0.0.1/jwks",
            "https://[::1]/jwks",
            "https://10.1.2.3/jwks",
            "https://user:pw@rp.example/jwks",
            "https://rp.example/jwks#k",
            "file:///etc/passwd",
            "jwks",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad}");
        }
        let development = Fetcher::new(FetchPolicy { http: true, private_addresses: true });
        assert!(development.check_url("http://127.0.0.1:8080/jwks").is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_private_addresses_is_not_connected_to() {
        let strict = Fetcher::new(FetchPolicy { http: true, private_addresses: false });
        match strict.json("http://localhost:9/jwks").await {
            Err(FetchError::Failed(why)) => assert!(!why.is_empty()),
            other => panic!("{other:?}"),
        }
    }
}

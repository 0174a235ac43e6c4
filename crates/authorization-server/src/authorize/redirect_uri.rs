//! Which redirect URI an authorization request may name: the one rule the authorization endpoint,
//! its error pages and the resume after a login all rely on.

use domain::Client;

use crate::pages::PageError;
use crate::params::Params;

/// The redirect URI must be present and equal, character for character, to a registered one
/// (OIDC Core §3.1.2.1 requires it; RFC 9700 §2.1 requires exact string matching).
pub(super) fn check_redirect_uri<'a>(client: &Client, params: &'a Params) -> Result<&'a str, PageError> {
    let given = params.get("redirect_uri").ok_or(PageError::BadRequest("no redirect_uri"))?;
    if client.redirect_uris.iter().any(|r| r == given || native_loopback_match(client, r, given)) {
        Ok(given)
    } else {
        Err(PageError::BadRedirect)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn client(application_type: domain::ApplicationType, redirect_uri: &str) -> Client {
        Client {
            id: domain::ClientId::generate(),
            name: "t".into(),
            secret_hash: None,
            secret_sealed: None,
            is_public: false,
            redirect_uris: vec![redirect_uri.into()],
            post_logout_redirect_uris: vec![],
            id_token_alg: domain::SigningAlg::RS256,
            created_at: 0,
            application_type,
            settings: Default::default(),
            previous_secret: None,
            disabled_at: None,
            version: 1,
        }
    }

    #[test]
    fn redirect_uri_must_match_exactly() {
        let c = client(domain::ApplicationType::Web, "https://a.example/cb");
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
    fn native_loopback_redirects_match_any_port() {
        let native = client(domain::ApplicationType::Native, "http://127.0.0.1/cb");
        assert!(native_loopback_match(&native, "http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"));
        assert!(!native_loopback_match(&native, "http://127.0.0.1/cb", "http://127.0.0.1:51004/other"));
        assert!(!native_loopback_match(&native, "http://127.0.0.1/cb", "http://localhost:51004/cb"));
        assert!(!native_loopback_match(&native, "http://127.0.0.1/cb", "http://[::1]:51004/cb"));
        let web = client(domain::ApplicationType::Web, "http://127.0.0.1/cb");
        assert!(
            !native_loopback_match(&web, "http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"),
            "web apps match exactly"
        );
    }
}

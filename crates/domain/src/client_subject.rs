//! Which `sub` a client's users get (OpenID Connect Core §8): the public one, the user's id, or a
//! pairwise one of the client's sector, which no other sector sees.

use serde::{Deserialize, Serialize};

/// Pairwise subjects (Core §8.1): each user's `sub` is derived from the sector and the user's id,
/// so applications of different sectors cannot match their users with each other.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pairwise {
    /// The host the `sub` values belong to: the `sector_identifier_uri`'s, else the one host of
    /// every redirect URI. Fixed once the client exists: a new sector would give every user a new `sub`.
    pub sector: String,
    /// Registration §2: an https document listing every redirect URI of the clients of the sector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
}

/// Core §8.1: without a `sector_identifier_uri`, the sector is the host of the redirect URIs,
/// which must then all have the same one. None when they do not, when none has a host, or when the
/// host is one many unrelated apps share ([`is_shared_host`]).
pub fn redirect_sector(redirect_uris: &[String]) -> Option<String> {
    let mut hosts = redirect_uris.iter().map(|uri| url::Url::parse(uri).ok()?.host_str().map(str::to_owned));
    let first = hosts.next()??;
    let one = hosts.all(|host| host.as_deref() == Some(first.as_str()));
    (one && !is_shared_host(&first)).then_some(first)
}

/// `localhost` or an IP address: the loopback redirect URIs of native apps share them, so as a
/// sector they would give unrelated apps the same `sub` for a user.
pub fn is_shared_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok()
}

/// Whether `sector` is a host name or address, as a URL's host would be written.
pub fn is_sector(sector: &str) -> bool {
    !sector.is_empty() && url::Url::parse(&format!("https://{sector}/")).is_ok_and(|u| u.host_str() == Some(sector))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_sector_is_the_one_host_of_the_redirect_uris() {
        let one = uris(&["https://app.example/cb", "https://app.example:8443/other"]);
        assert_eq!(redirect_sector(&one).as_deref(), Some("app.example"));
        assert_eq!(redirect_sector(&uris(&["https://a.example/cb", "https://b.example/cb"])), None);
        assert_eq!(redirect_sector(&uris(&["com.example.app:/cb"])), None);
        assert_eq!(redirect_sector(&uris(&["http://127.0.0.1/cb"])), None, "shared by native apps");
        assert_eq!(redirect_sector(&uris(&["http://[::1]:8080/cb"])), None);
        assert_eq!(redirect_sector(&uris(&["http://localhost/cb"])), None);
        assert_eq!(redirect_sector(&[]), None);
    }

    #[test]
    fn a_sector_is_a_bare_host() {
        assert!(is_sector("app.example"));
        assert!(is_sector("127.0.0.1"));
        for bad in ["", "app.example/path", "https://app.example", "a b", "app.example:443", "User@host"] {
            assert!(!is_sector(bad), "{bad}");
        }
    }
}

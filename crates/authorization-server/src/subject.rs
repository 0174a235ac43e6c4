//! The `sub` a client sees (OpenID Connect Core §8), in one place: the user's id for a client of
//! public subjects, and for a client of pairwise subjects (§8.1) a keyed hash of its sector and
//! the user's id, the same for every client of the sector and unlinkable across sectors. Every
//! token, answer and hint that names a user to a client goes through [`subject`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::{Client, KeyedHasher, UserId};

use crate::fetch::Fetcher;

/// The purpose of the keyed hash (see `KeyedHasher::hash`): these values never match a stored hash.
const PAIRWISE: &str = "pairwise-subject";

/// The `sub` of `user` for `client`. A pairwise `sub` is 43 characters of base64url: Core §2
/// allows 255 ASCII characters. It depends on the master key, which is never rotated.
pub(crate) fn subject(hasher: &KeyedHasher, client: &Client, user: &UserId) -> String {
    match &client.settings.pairwise {
        None => user.to_string(),
        // A sector is a host, which holds no NUL: the two parts cannot run into each other.
        Some(p) => URL_SAFE_NO_PAD.encode(hasher.hash(PAIRWISE, &format!("{}\0{user}", p.sector)).0),
    }
}

/// Registration §5 (and Core §8.1): the `sector_identifier_uri` is an https document, a JSON array
/// of URIs that holds every redirect URI the client registers. Returns the sector, its host.
pub(crate) async fn check_sector_identifier(
    fetcher: &Fetcher,
    uri: &str,
    redirect_uris: &[String],
) -> Result<String, String> {
    let url = fetcher.check_url(uri).map_err(|e| format!("sector_identifier_uri: {e}"))?;
    let host = url.host_str().ok_or("sector_identifier_uri names no host")?.to_owned();
    let listed = fetcher.json(uri).await.map_err(|e| format!("sector_identifier_uri could not be read: {e}"))?;
    let listed: Vec<&str> = match listed.as_array() {
        Some(items) => items.iter().filter_map(serde_json::Value::as_str).collect(),
        None => return Err("sector_identifier_uri must hold a JSON array of redirect URIs".into()),
    };
    match redirect_uris.iter().find(|uri| !listed.contains(&uri.as_str())) {
        Some(missing) => Err(format!("{missing} is not listed at the sector_identifier_uri")),
        None => Ok(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(sector: Option<&str>) -> Client {
        let pairwise = sector.map(|s| domain::Pairwise { sector: s.to_owned(), sector_identifier_uri: None });
        let new = domain::client_rules::NewClient {
            name: "App".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            public: true,
            id_token_alg: domain::SigningAlg::RS256,
            native: false,
            settings: domain::ClientSettings { pairwise, ..Default::default() },
        };
        domain::client_rules::new_client(new, &domain::MasterKey::generate().hasher(), 0).unwrap().0
    }

    #[test]
    fn pairwise_subjects_are_per_sector_and_stable() {
        let hasher = domain::MasterKey::generate().hasher();
        let (ann, bob) = (UserId::parse("ann").unwrap(), UserId::parse("bob").unwrap());
        assert_eq!(subject(&hasher, &client(None), &ann), "ann");
        let a = subject(&hasher, &client(Some("a.example")), &ann);
        assert_eq!(a.len(), 43);
        assert_eq!(a, subject(&hasher, &client(Some("a.example")), &ann), "stable");
        assert_ne!(a, subject(&hasher, &client(Some("b.example")), &ann), "per sector");
        assert_ne!(a, subject(&hasher, &client(Some("a.example")), &bob), "per user");
        let other_key = domain::MasterKey::generate().hasher();
        assert_ne!(a, subject(&other_key, &client(Some("a.example")), &ann), "keyed");
    }
}

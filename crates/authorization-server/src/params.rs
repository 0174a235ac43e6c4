//! Form and query parameters as OAuth reads them.

use std::collections::HashMap;

use actix_web::HttpRequest;
use actix_web::http::header;

/// Parameters of one request. Empty values count as absent (RFC 6749 §3.1); a repeated parameter
/// makes the request invalid (RFC 6749 §3.1, §3.2).
pub struct Params {
    map: HashMap<String, String>,
    pub duplicated: bool,
}

impl Params {
    pub fn parse(raw: &[u8]) -> Self {
        let mut map = HashMap::new();
        let mut duplicated = false;
        for (k, v) in url::form_urlencoded::parse(raw) {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.into_owned(), v.into_owned()).is_some() {
                duplicated = true;
            }
        }
        Self { map, duplicated }
    }

    /// Parameters given as pairs (the passwordless API's `authParams`).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut map = HashMap::new();
        let mut duplicated = false;
        for (k, v) in pairs.into_iter().filter(|(_, v)| !v.is_empty()) {
            duplicated |= map.insert(k, v).is_some();
        }
        Self { map, duplicated }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(String::as_str)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// POST bodies must be `application/x-www-form-urlencoded` (RFC 6749 §3.2, OIDC Core §3.1.2.1).
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

//! Form and query parameters as OAuth reads them.

use std::collections::HashMap;

use actix_web::HttpRequest;

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

    /// A JSON object's members as parameters, for Auth0's token endpoint, which takes JSON bodies
    /// too: strings as they are, numbers and booleans written out, `null` absent; the same rules
    /// as a form after that (a repeated member makes the request invalid). `None`: not a JSON
    /// object of such values.
    pub fn from_json(raw: &[u8]) -> Option<Self> {
        let members: JsonMembers = serde_json::from_slice(raw).ok()?;
        let mut map = HashMap::new();
        let mut duplicated = false;
        for (k, v) in members.0 {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => continue,
                _ => return None,
            };
            if v.is_empty() {
                continue;
            }
            duplicated |= map.insert(k, v).is_some();
        }
        Some(Self { map, duplicated })
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

pub use web_layer::plain_media_type as media_type;

/// POST bodies must be `application/x-www-form-urlencoded` (RFC 6749 §3.2, OIDC Core §3.1.2.1),
/// and uncompressed.
pub fn is_form(req: &HttpRequest) -> bool {
    media_type(req).as_deref() == Some("application/x-www-form-urlencoded")
}

/// A JSON object's members in order, repeats kept (serde_json's map would keep only the last).
struct JsonMembers(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = JsonMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonMembers, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, serde_json::Value>()? {
                    if members.len() >= 100 {
                        return Err(serde::de::Error::custom("too many members"));
                    }
                    members.push(member);
                }
                Ok(JsonMembers(members))
            }
        }
        d.deserialize_map(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_follow_the_form_rules() {
        let p = Params::from_json(br#"{"grant_type":"x","realm":"email","n":5,"b":true,"none":null,"e":""}"#).unwrap();
        assert_eq!((p.get("grant_type"), p.get("n"), p.get("b")), (Some("x"), Some("5"), Some("true")));
        assert!(!p.has("none") && !p.has("e") && !p.duplicated);
        assert!(Params::from_json(br#"{"a":"1","a":"2"}"#).unwrap().duplicated);
        assert!(Params::from_json(br#"{"a":["1"]}"#).is_none());
        assert!(Params::from_json(br#"["a"]"#).is_none());
        assert!(Params::from_json(b"a=1").is_none());
    }
}

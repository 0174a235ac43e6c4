//! A client's branding: how the hosted pages (and the account page) look for its users.

use serde::{Deserialize, Serialize};

use crate::client::is_display_name;

/// How the hosted pages look for this client. Colours and URLs are checked when set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Branding {
    /// Replaces the provider's product name on pages and in messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_name: Option<String>,
    /// `#rgb` or `#rrggbb`: buttons and links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
    /// An https URL of a logo shown above the form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// An https URL of a stylesheet loaded after Ostiary's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub css_url: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrandingError {
    #[error("primary_color: {0:?} is not a colour like #0a7 or #00aa77")]
    Color(String),
    #[error("{0}: {1:?} is not an https:// URL")]
    Url(&'static str, String),
    #[error("product_name: must be 1 to 60 characters without control or invisible formatting characters")]
    Name,
}

impl Branding {
    /// Checks every value, so a page never carries a colour or URL that could break out of it.
    pub fn validate(&self) -> Result<(), BrandingError> {
        if let Some(c) = &self.primary_color {
            let hex = c.strip_prefix('#').unwrap_or("");
            if !matches!(hex.len(), 3 | 6) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BrandingError::Color(c.clone()));
            }
        }
        for (key, url) in [("logo_url", &self.logo_url), ("css_url", &self.css_url)] {
            if let Some(u) = url {
                let ok = url::Url::parse(u).is_ok_and(|p| p.scheme() == "https" && p.host().is_some());
                if !ok || u.contains(['"', '\'', ' ', ';']) {
                    return Err(BrandingError::Url(key, u.clone()));
                }
            }
        }
        if let Some(n) = &self.product_name
            && !is_display_name(n, 60)
        {
            return Err(BrandingError::Name);
        }
        Ok(())
    }
}

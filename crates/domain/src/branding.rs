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
    /// The application's home page, linked from its name on the login page (registration's
    /// `client_uri`, OIDC Registration §2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_url: Option<String>,
    /// The application's privacy policy, linked on the login page (`policy_uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_url: Option<String>,
    /// The application's terms of service, linked on the login page (`tos_uri`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_url: Option<String>,
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
        let urls = [
            ("logo_url", &self.logo_url),
            ("css_url", &self.css_url),
            ("client_url", &self.client_url),
            ("policy_url", &self.policy_url),
            ("tos_url", &self.tos_url),
        ];
        for (key, url) in urls {
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

/// WCAG 2.x contrast, for text on a brand colour and for the colour as text on a page
/// (https://www.w3.org/TR/WCAG21/#contrast-minimum: at least 4.5:1 for AA).
pub mod contrast {
    /// WCAG AA's minimum for normal text.
    pub const AA: f64 = 4.5;
    /// The pages' light and dark card backgrounds (`static/ostiary.css`), on which links are read.
    pub const LIGHT_CARD: &str = "#fff";
    pub const DARK_CARD: &str = "#161b22";
    /// The pages' text colours, which links fall back to when the brand colour is too faint.
    pub const LIGHT_TEXT: &str = "#1b1f24";
    pub const DARK_TEXT: &str = "#e6edf3";

    /// The relative luminance of `#rgb` or `#rrggbb` (WCAG 2.x), or `None` for anything else.
    pub fn luminance(color: &str) -> Option<f64> {
        let hex = color.strip_prefix('#')?;
        let full: String = match hex.len() {
            3 => hex.chars().flat_map(|c| [c, c]).collect(),
            6 => hex.to_owned(),
            _ => return None,
        };
        let channel = |i: usize| -> Option<f64> {
            let v = f64::from(u8::from_str_radix(full.get(i..i + 2)?, 16).ok()?) / 255.0;
            Some(if v <= 0.04045 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) })
        };
        Some(0.2126 * channel(0)? + 0.7152 * channel(2)? + 0.0722 * channel(4)?)
    }

    /// The contrast ratio of two colours, 1 to 21 (1 when either is not a colour).
    pub fn ratio(a: &str, b: &str) -> f64 {
        match (luminance(a), luminance(b)) {
            (Some(x), Some(y)) => (x.max(y) + 0.05) / (x.min(y) + 0.05),
            _ => 1.0,
        }
    }

    /// The text colour of a button in `color`: white when it reaches AA, else black (one of the
    /// two always does).
    pub fn text_on(color: &str) -> &'static str {
        if ratio(color, "#fff") >= AA { "#fff" } else { "#000" }
    }

    /// `color` as link text on `card`, when it reaches AA there; else the page's own `text`.
    pub fn link_on<'a>(color: &'a str, card: &str, text: &'a str) -> &'a str {
        if ratio(color, card) >= AA { color } else { text }
    }
}

#[cfg(test)]
mod contrast_tests {
    use super::contrast::*;

    #[test]
    fn contrast_follows_wcag() {
        assert!((ratio("#000", "#fff") - 21.0).abs() < 1e-9);
        assert!((ratio("#fff", "#fff") - 1.0).abs() < 1e-9);
        // WCAG's reference greys: #767676 is the lightest to reach 4.5:1 on white, #777 is not.
        assert!(ratio("#767676", "#ffffff") >= AA && ratio("#777", "#fff") < AA);
        assert_eq!(ratio("#0a7", "#fff"), ratio("#00aa77", "#ffffff"), "short and long forms");
        assert_eq!(ratio("red", "#fff"), 1.0, "not a colour");
    }

    #[test]
    fn a_brand_colour_gets_the_text_and_links_that_read() {
        assert_eq!(text_on("#123456"), "#fff");
        assert_eq!(text_on("#0a7"), "#000");
        assert_eq!(text_on("#ffeb3b"), "#000");
        // Every colour reads with white or black text.
        for c in ["#767676", "#777", "#0a7", "#f00", "#0f0", "#00f", "#888", "#ff6600"] {
            assert!(ratio(c, text_on(c)) >= AA, "{c}");
        }
        assert_eq!(link_on("#123456", LIGHT_CARD, LIGHT_TEXT), "#123456");
        assert_eq!(link_on("#0a7", LIGHT_CARD, LIGHT_TEXT), LIGHT_TEXT);
        assert_eq!(link_on("#123456", DARK_CARD, DARK_TEXT), DARK_TEXT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branding_values_are_checked() {
        let ok = Branding {
            product_name: Some("Shop".into()),
            primary_color: Some("#0a7".into()),
            logo_url: Some("https://cdn.example/logo.svg".into()),
            css_url: None,
            client_url: Some("https://shop.example/".into()),
            policy_url: Some("https://shop.example/privacy".into()),
            tos_url: None,
        };
        assert_eq!(ok.validate(), Ok(()));
        let bad = |b: Branding| b.validate().is_err();
        assert!(bad(Branding { primary_color: Some("red; background:url(x)".into()), ..Default::default() }));
        assert!(bad(Branding { logo_url: Some("http://cdn.example/l.png".into()), ..Default::default() }));
        assert!(bad(Branding { policy_url: Some("javascript:alert(1)".into()), ..Default::default() }));
        assert!(bad(Branding { tos_url: Some("https://shop.example/\"x".into()), ..Default::default() }));
        assert!(bad(Branding { css_url: Some("javascript:alert(1)".into()), ..Default::default() }));
        assert!(bad(Branding { product_name: Some(" ".into()), ..Default::default() }));
        assert!(bad(Branding { product_name: Some("Shop\r\nBcc: all@example.com".into()), ..Default::default() }));
        assert!(bad(Branding { product_name: Some("Shop\u{202E}kcab".into()), ..Default::default() }));
    }
}

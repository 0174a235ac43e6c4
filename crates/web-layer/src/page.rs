//! One renderer for every HTML page: the language, the CSRF token, the Content-Security-Policy and
//! `Cache-Control: no-store` are set here and nowhere else.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use domain::i18n::Catalog;

use crate::{CsrfToken, RequestId};

/// The Content-Security-Policy of every page. `form_action` adds an origin to `form-action` for the
/// pages whose forms end in a redirect to a relying party: browsers enforce `form-action` on the
/// redirects after a submission (CSP Level 3 §6.3.1).
pub fn content_security_policy(form_action: Option<&str>) -> String {
    content_security_policy_with(form_action, None, None, None)
}

/// [`content_security_policy`] that also allows a client's branding: its logo's origin in
/// `img-src` and its stylesheet's origin in `style-src`; and the clients' origins a signed-out page
/// frames (`frame-src`, Front-Channel Logout 1.0).
pub fn content_security_policy_with(
    form_action: Option<&str>,
    img_src: Option<&str>,
    style_src: Option<&str>,
    frame_src: Option<&str>,
) -> String {
    let more = |o: Option<&str>| o.map(|o| format!(" {o}")).unwrap_or_default();
    let (form, img, style) = (more(form_action), more(img_src), more(style_src));
    let frames = frame_src.map(|o| format!(" frame-src {o};")).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'{style}; img-src 'self' data:{img}; connect-src 'self';{frames} \
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

/// `303 See Other` to `location`: after a form post, and between the crates' pages.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// A page about to be rendered for one request, in one language.
#[derive(Clone)]
pub struct Page<'a> {
    tera: &'a tera::Tera,
    catalog: &'a Catalog,
    lang: &'a str,
    csrf: String,
    /// The request's id, shown on error pages.
    request_id: Option<String>,
    product: Option<&'a str>,
    form_action: Option<String>,
    img_src: Option<String>,
    style_src: Option<String>,
    /// The origins the page frames, space-separated.
    frame_src: Option<String>,
    /// Values every template of this page gets (a client's branding).
    values: Vec<(&'static str, String)>,
    /// The link a message page ([`Page::titled`]) offers on or back: its URL and its text's key.
    way_back: Option<(String, &'a str)>,
}

impl<'a> Page<'a> {
    /// A page for `req` in `lang` (see [`crate::Lang::pick`]).
    pub fn new(req: &HttpRequest, tera: &'a tera::Tera, catalog: &'a Catalog, lang: &'a str) -> Self {
        let csrf = req.extensions().get::<CsrfToken>().map(|t| t.0.clone()).unwrap_or_default();
        let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
        Page { csrf, request_id, ..Page::new_with(tera, catalog, lang) }
    }

    fn new_with(tera: &'a tera::Tera, catalog: &'a Catalog, lang: &'a str) -> Self {
        Page {
            tera,
            catalog,
            lang,
            csrf: String::new(),
            request_id: None,
            product: None,
            form_action: None,
            img_src: None,
            style_src: None,
            frame_src: None,
            values: Vec::new(),
            way_back: None,
        }
    }

    /// A page without a form of ours (no CSRF token), such as the auto-submitting form that
    /// posts a response to a client.
    pub fn plain(tera: &'a tera::Tera, catalog: &'a Catalog, lang: &'a str) -> Self {
        Page { csrf: String::new(), ..Page::new_with(tera, catalog, lang) }
    }

    /// The product name the page shows (the client's branding, or the operator's).
    pub fn product(mut self, name: &'a str) -> Self {
        self.product = Some(name);
        self
    }

    /// The page's forms may end in a redirect to `uri`'s origin (a client's redirect URI).
    pub fn ending_at(mut self, uri: Option<&str>) -> Self {
        self.form_action = uri.and_then(origin_of);
        self
    }

    /// The page frames pages at these URLs (`frame-src`: their origins alone).
    pub fn framing(mut self, urls: &[String]) -> Self {
        let mut origins: Vec<String> = urls.iter().filter_map(|u| origin_of(u)).collect();
        origins.dedup();
        self.frame_src = (!origins.is_empty()).then(|| origins.join(" "));
        self
    }

    /// The page in `client`'s branding, the one rule for every page a client's users see: its
    /// product name (else `product`); its logo and stylesheet, their origins alone allowed by CSP
    /// (`logo_url`, `external_css`); its colours (`brand_css`, [`crate::paths::brand`]); and the
    /// links to its own pages (`client_url`, `policy_url`, `tos_url`, OIDC Registration §2).
    pub fn branded(mut self, client: &domain::ClientId, b: &'a domain::Branding, product: &'a str) -> Self {
        self.product = Some(b.product_name.as_deref().unwrap_or(product));
        self.img_src = b.logo_url.as_deref().and_then(origin_of);
        self.style_src = b.css_url.as_deref().and_then(origin_of);
        if b.primary_color.is_some() {
            self.values.push(("brand_css", crate::paths::brand(client)));
        }
        let values = [
            ("logo_url", &b.logo_url),
            ("external_css", &b.css_url),
            ("client_url", &b.client_url),
            ("policy_url", &b.policy_url),
            ("tos_url", &b.tos_url),
        ];
        for (key, value) in values {
            if let Some(value) = value {
                self.values.push((key, value.clone()));
            }
        }
        self
    }

    /// A page that shows a secret (an authenticator's key, recovery codes): the client's own
    /// stylesheet is left out, so no outside CSS can read the page's attributes (selectors on an
    /// `otpauth:` link's key, fetching images by what matches). Its colours and logo stay.
    pub fn showing_secrets(mut self) -> Self {
        self.style_src = None;
        self.values.retain(|(key, _)| *key != "external_css");
        self
    }

    /// The link a message page offers, so none is a dead end: `href`, labelled with the catalog's
    /// `label` (the account's pages lead back to the account, the console's to its home).
    pub fn way_back(mut self, href: String, label: &'a str) -> Self {
        self.way_back = Some((href, label));
        self
    }

    /// No link back: where the way back would lead nowhere (a deleted account, a refused console).
    pub fn no_way_back(mut self) -> Self {
        self.way_back = None;
        self
    }

    /// A value every template of this page gets.
    pub fn with(mut self, key: &'static str, value: String) -> Self {
        self.values.push((key, value));
        self
    }

    pub fn lang(&self) -> &'a str {
        self.lang
    }

    pub fn catalog(&self) -> &'a Catalog {
        self.catalog
    }

    /// One text in the page's language.
    pub fn text(&self, key: &'a str) -> &'a str {
        self.catalog.text(self.lang, key)
    }

    /// Renders `template` with `ctx`, the page's language, texts and CSRF token. A 503 page says
    /// when to try again (`Retry-After`).
    pub fn render(&self, status: StatusCode, template: &str, mut ctx: tera::Context) -> HttpResponse {
        ctx.insert("csrf", &self.csrf);
        ctx.insert("lang", self.lang);
        ctx.insert("t", self.catalog.table_for(self.lang, template));
        if let Some(product) = self.product {
            ctx.insert("product_name", product);
        }
        for (key, value) in &self.values {
            ctx.insert(*key, value);
        }
        let csp = content_security_policy_with(
            self.form_action.as_deref(),
            self.img_src.as_deref(),
            self.style_src.as_deref(),
            self.frame_src.as_deref(),
        );
        match self.tera.render(template, &ctx) {
            Ok(body) => {
                let mut resp = HttpResponse::build(status)
                    .insert_header((header::CONTENT_SECURITY_POLICY, csp))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .content_type("text/html; charset=utf-8")
                    .body(body);
                crate::failure::retry_later(&mut resp);
                resp
            }
            Err(e) => {
                tracing::error!(error = ?e, template, "page could not be rendered");
                HttpResponse::InternalServerError().content_type("text/plain; charset=utf-8").body("server_error")
            }
        }
    }

    /// A page with the catalog's `{key}_title` and `{key}_text`, `{placeholders}` filled in.
    pub fn message(&self, status: StatusCode, key: &str, fill: &[(&str, &str)]) -> HttpResponse {
        self.titled(status, &format!("{key}_title"), &format!("{key}_text"), fill)
    }

    /// A page with a title and a text from two catalog keys. A refusal or failure (4xx, 5xx) also
    /// shows its error code (the title's key without `_title`, listed in docs/operations.md) and
    /// the request's id, which an admin can look up in the logs; never anything internal.
    pub fn titled(&self, status: StatusCode, title: &str, text: &str, fill: &[(&str, &str)]) -> HttpResponse {
        let mut ctx = tera::Context::new();
        ctx.insert("title", self.catalog.text(self.lang, title));
        ctx.insert("message", &self.catalog.fill(self.lang, text, fill));
        if let Some((href, label)) = &self.way_back {
            ctx.insert("back_url", href);
            ctx.insert("back_label", self.catalog.text(self.lang, label));
        }
        if status.is_client_error() || status.is_server_error() {
            ctx.insert("error_code", title.strip_suffix("_title").unwrap_or(title));
            ctx.insert("request_id", &self.request_id);
        }
        self.render(status, "pages/error.html", ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_denies_framing_and_allows_only_its_form_target() {
        let csp = content_security_policy(Some("https://rp.example"));
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("form-action 'self' https://rp.example;"), "{csp}");
        assert_eq!(origin_of("https://rp.example:8443/cb?x=1").as_deref(), Some("https://rp.example:8443"));
        assert_eq!(origin_of("com.example.app:/cb"), None);
    }
}

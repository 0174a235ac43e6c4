//! Where an authorization response goes: the client's redirect URI, with `state` and `iss`
//! (RFC 9207), by redirect or by an auto-submitting form (`response_mode=form_post`).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use web_layer::{Page, see_other};

use crate::AuthorizationServer;
use crate::errors::OAuthError;

/// Where responses (and errors, once the client and its redirect URI are verified) go.
pub(crate) struct Redirector<'a> {
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
    pub issuer: &'a str,
    /// `response_mode=form_post` (OAuth 2.0 Form Post Response Mode): the response is an
    /// auto-submitting form, and nothing goes in the URL.
    pub form_post: Option<FormPost<'a>>,
}

/// The auto-submitting form page, in the user's language. It has no form of ours to protect, so
/// it carries no CSRF token.
pub(crate) struct FormPost<'a>(pub Page<'a>);

impl<'a> FormPost<'a> {
    pub(crate) fn of(srv: &'a AuthorizationServer, lang: &'a str) -> Self {
        FormPost(Page::plain(&srv.tera, &srv.catalog, lang))
    }
}

impl Redirector<'_> {
    /// The response parameters, then `state`, then `iss` (RFC 9207 §2).
    fn fields<'p>(&'p self, params: &[(&'p str, &'p str)]) -> Vec<(&'p str, &'p str)> {
        let mut fields = params.to_vec();
        if let Some(state) = self.state {
            fields.push(("state", state));
        }
        fields.push(("iss", self.issuer));
        fields
    }

    /// `redirect_uri` with the response parameters added to its query (RFC 6749 §4.1.2, keeping any
    /// registered query).
    pub fn url(&self, params: &[(&str, &str)]) -> String {
        let mut url = match url::Url::parse(self.redirect_uri) {
            Ok(u) => u,
            Err(_) => return self.redirect_uri.to_owned(),
        };
        url.query_pairs_mut().extend_pairs(self.fields(params));
        url.to_string()
    }

    /// Sends the response to the client in the requested response mode.
    pub fn respond(&self, params: &[(&str, &str)]) -> HttpResponse {
        let Some(FormPost(page)) = &self.form_post else { return see_other(&self.url(params)) };
        let fields: Vec<serde_json::Value> = self
            .fields(params)
            .into_iter()
            .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
            .collect();
        let mut ctx = tera::Context::new();
        ctx.insert("action", self.redirect_uri);
        ctx.insert("fields", &fields);
        // The form posts to the client: CSP `form-action` allows its origin.
        page.clone().ending_at(Some(self.redirect_uri)).render(StatusCode::OK, "pages/form_post.html", ctx)
    }

    pub fn error(&self, err: OAuthError) -> HttpResponse {
        self.respond(&[("error", err.error.as_str()), ("error_description", err.description)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_carry_state_and_iss_and_keep_registered_query() {
        let r = Redirector {
            redirect_uri: "https://a.example/cb?tenant=1",
            state: Some("s t"),
            issuer: "https://id.example",
            form_post: None,
        };
        assert_eq!(
            r.url(&[("code", "abc")]),
            "https://a.example/cb?tenant=1&code=abc&state=s+t&iss=https%3A%2F%2Fid.example"
        );
    }
}

//! A cookie-keeping HTTP client that follows nothing by itself, and helpers to read its answers.

use std::sync::Arc;
use std::time::Duration;

impl Browser {
    /// A browser for the server at `base`; with `forwarded_for`, every request says it was
    /// relayed for that client IP (believed only from trusted proxies).
    pub fn new(base: &str, forwarded_for: Option<&str>) -> Browser {
        Browser::build(base, forwarded_for, Arc::new(reqwest::cookie::Jar::default()))
    }

    pub(crate) fn build(base: &str, forwarded_for: Option<&str>, jar: Arc<reqwest::cookie::Jar>) -> Browser {
        Browser::build_with(base, forwarded_for, None, jar)
    }

    pub(crate) fn build_with(
        base: &str,
        forwarded_for: Option<&str>,
        language: Option<&str>,
        jar: Arc<reqwest::cookie::Jar>,
    ) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(ip) = forwarded_for {
            headers.insert("x-forwarded-for", ip.parse().expect("header value"));
        }
        if let Some(lang) = language {
            headers.insert("accept-language", lang.parse().expect("header value"));
        }
        Browser {
            client: reqwest::Client::builder()
                .default_headers(headers)
                // Tests speak plain http: no trust store to load for every simulated browser.
                .tls_certs_only([])
                .cookie_provider(Arc::clone(&jar))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            base: base.to_owned(),
            jar,
        }
    }
}

pub struct Browser {
    pub client: reqwest::Client,
    base: String,
    pub(crate) jar: Arc<reqwest::cookie::Jar>,
}

impl Browser {
    /// The value of the cookie `name` this browser would send to the server, if it holds one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let header = self.jar.cookies(&url::Url::parse(&self.base).ok()?)?;
        let header = header.to_str().ok()?.to_owned();
        header.split("; ").find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=').map(str::to_owned))
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.url(path)).form(form).send().await.expect("POST")
    }
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location header on a {} response", resp.status()))
        .to_str()
        .expect("ascii location")
        .to_owned()
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap_or_else(|| panic!("no csrf field in page: {html}")) + marker.len();
    html[start..].split('"').next().expect("csrf value").to_owned()
}

/// A query parameter of a URL.
pub fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// openidconnect's HTTP client over reqwest (the demo app's glue).
pub fn oidc_http() -> impl Fn(
    openidconnect::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, reqwest::Error>>>,
> {
    let client = ostiary::rp::back_channel_client();
    move |req| {
        let client = client.clone();
        Box::pin(async move { ostiary::rp::http_call(&client, req).await })
    }
}

//! Local stand-ins for the delivery providers' HTTP APIs. Each one checks a request the way the
//! provider's API reference defines it (method, path, authentication, content type, body) and
//! answers as that provider would: its success status and body, or its own error shape. Every
//! accepted message is recorded; every refused request is recorded with the reason, so a test can
//! assert both that delivery worked and that nothing was sent wrongly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

mod email;
mod sms;

use email::{mandrill, sendgrid, ses};
use sms::{gateway, send_message, twilio};

pub const SENDGRID_KEY: &str = "SG.test-key-0123456789";
pub const MANDRILL_KEY: &str = "md-test-key-0123456789";
pub const SES_REGION: &str = "eu-west-1";
pub const SES_ACCESS_KEY_ID: &str = "AKIDEXAMPLE0123456789";
pub const SES_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const TWILIO_KEY_SID: &str = "SK0123456789abcdef0123456789abcdef";
pub const TWILIO_SECRET: &str = "twilio-test-secret";
pub const TWILIO_FROM: &str = "+15005550006";
pub const GATEWAY_SECRET: &str = "gateway-test-secret-0123456789-abcdef";
pub const HOOK_SECRET: &str = "whsec_c2VuZC1tZXNzYWdlLXRlc3Qtc2VjcmV0LTAxMjM0";
pub const EMAIL_FROM: &str = "Ostiary Login <login@example.com>";

/// One message a fake provider accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub provider: &'static str,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

impl Received {
    /// The first run of `digits` digits in the text.
    pub fn code(&self, digits: usize) -> String {
        self.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == digits)
            .unwrap_or_else(|| panic!("no {digits}-digit code in {:?}", self.text))
            .to_owned()
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    refused: Vec<String>,
    /// Status codes to answer with instead of accepting, per provider, used up in order.
    failures: HashMap<&'static str, Vec<u16>>,
    gateway_ids: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

pub struct FakeProviders {
    pub base: String,
    state: Shared,
    server: actix_web::dev::ServerHandle,
}

impl FakeProviders {
    pub async fn start() -> Self {
        let state: Shared = Arc::default();
        let data = web::Data::new(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .route("/sendgrid/v3/mail/send", web::post().to(sendgrid))
                .route("/mandrill/api/1.0/messages/send", web::post().to(mandrill))
                .route("/mandrill/api/1.0/messages/send.json", web::post().to(mandrill))
                .route("/ses/v2/email/outbound-emails", web::post().to(ses))
                .route("/twilio/2010-04-01/Accounts/{account}/Messages.json", web::post().to(twilio))
                .route("/gateway/sms", web::post().to(gateway))
                .route("/hook/send_message", web::post().to(send_message))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { base: format!("http://127.0.0.1:{port}"), state, server: handle }
    }

    /// Points every provider of `settings` at this server, with the credentials it expects.
    pub fn configure(&self, s: &mut ostiary::config::Settings) {
        let d = &mut s.delivery;
        d.email_from = Some(EMAIL_FROM.parse().expect("a mailbox"));
        d.sendgrid.base_url = self.url("/sendgrid");
        d.sendgrid.api_key = domain::Secret::new(SENDGRID_KEY.into());
        d.mandrill.base_url = self.url("/mandrill/api/1.0");
        d.mandrill.api_key = domain::Secret::new(MANDRILL_KEY.into());
        d.ses.base_url = Some(self.url("/ses"));
        d.ses.region = SES_REGION.into();
        d.ses.access_key_id = SES_ACCESS_KEY_ID.into();
        d.ses.secret_access_key = domain::Secret::new(SES_SECRET.into());
        d.twilio.base_url = self.url("/twilio");
        d.twilio.account_sid = TWILIO_ACCOUNT.into();
        d.twilio.api_key_sid = TWILIO_KEY_SID.into();
        d.twilio.auth_token = domain::Secret::new(TWILIO_SECRET.into());
        d.twilio.from = TWILIO_FROM.into();
        d.gateway.url = Some(self.url("/gateway/sms"));
        d.gateway.secret = Some(domain::Secret::new(GATEWAY_SECRET.into()));
        let hook = serde_json::json!({ "url": self.url("/hook/send_message").as_str(), "secret": HOOK_SECRET });
        s.hooks.send_message = Some(serde_json::from_value(hook).expect("hook settings"));
    }

    /// A URL of these fakes.
    fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("{}{path}", self.base)).expect("a URL")
    }

    /// Makes `provider` answer its next requests with these statuses instead of accepting.
    pub fn fail_next(&self, provider: &'static str, statuses: &[u16]) {
        self.state.lock().expect("state").failures.entry(provider).or_default().extend_from_slice(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("state").received.clone()
    }

    /// Requests refused because they broke the provider's API rules.
    pub fn refused(&self) -> Vec<String> {
        self.state.lock().expect("state").refused.clone()
    }

    /// Waits (up to 10 s) for a message to `to` not among the first `skip` ones to it.
    pub async fn message_to(&self, to: &str, skip: usize) -> Received {
        for _ in 0..1000 {
            if let Some(m) = self.received().into_iter().filter(|m| m.to == to).nth(skip) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no message to {to} reached the fake providers; refused requests: {:?}", self.refused());
    }
}

impl Drop for FakeProviders {
    fn drop(&mut self) {
        let handle = self.server.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Records a refused request and answers with the provider's error.
fn refuse(state: &Shared, provider: &str, why: &str, status: u16, body: Value) -> HttpResponse {
    state.lock().expect("state").refused.push(format!("{provider}: {why}"));
    HttpResponse::build(StatusCode::from_u16(status).expect("status")).json(body)
}

/// The next forced failure of `provider`, if any.
fn forced(state: &Shared, provider: &'static str) -> Option<u16> {
    let mut s = state.lock().expect("state");
    let list = s.failures.get_mut(provider)?;
    (!list.is_empty()).then(|| list.remove(0))
}

fn accept(state: &Shared, m: Received) {
    state.lock().expect("state").received.push(m);
}

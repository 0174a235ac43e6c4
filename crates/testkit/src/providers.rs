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
use base64::Engine;
use serde_json::{Value, json};

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
        d.email_from = EMAIL_FROM.into();
        d.sendgrid.base_url = format!("{}/sendgrid", self.base);
        d.sendgrid.api_key = domain::Secret::new(SENDGRID_KEY.into());
        d.mandrill.base_url = format!("{}/mandrill/api/1.0", self.base);
        d.mandrill.api_key = domain::Secret::new(MANDRILL_KEY.into());
        d.ses.base_url = format!("{}/ses", self.base);
        d.ses.region = SES_REGION.into();
        d.ses.access_key_id = SES_ACCESS_KEY_ID.into();
        d.ses.secret_access_key = domain::Secret::new(SES_SECRET.into());
        d.twilio.base_url = format!("{}/twilio", self.base);
        d.twilio.account_sid = TWILIO_ACCOUNT.into();
        d.twilio.api_key_sid = TWILIO_KEY_SID.into();
        d.twilio.auth_token = domain::Secret::new(TWILIO_SECRET.into());
        d.twilio.from = TWILIO_FROM.into();
        d.gateway.url = format!("{}/gateway/sms", self.base);
        d.gateway.secret = Some(domain::Secret::new(GATEWAY_SECRET.into()));
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

/// SendGrid v3 `POST /v3/mail/send`: Bearer key, JSON, `personalizations[].to`, `from`, `subject`,
/// `content` with text/plain first; 202 with no body.
async fn sendgrid(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let error = |msg: &str| json!({ "errors": [{ "message": msg, "field": null }] });
    if header(&req, "authorization") != format!("Bearer {SENDGRID_KEY}") {
        return refuse(&state, "sendgrid", "bad authorization", 401, error("authorization required"));
    }
    if !header(&req, "content-type").starts_with("application/json") {
        return refuse(&state, "sendgrid", "not JSON", 415, error("content type must be application/json"));
    }
    if let Some(status) = forced(&state, "sendgrid") {
        return HttpResponse::build(StatusCode::from_u16(status).expect("status")).json(error("internal server error"));
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&state, "sendgrid", "body is not JSON", 400, error("invalid request"));
    };
    let to = v["personalizations"][0]["to"][0]["email"].as_str();
    let content = v["content"].as_array().cloned().unwrap_or_default();
    let text = content.iter().find(|c| c["type"] == "text/plain").and_then(|c| c["value"].as_str());
    let html = content.iter().find(|c| c["type"] == "text/html").and_then(|c| c["value"].as_str());
    let ok = to.is_some()
        && v["from"]["email"] == "login@example.com"
        && v["subject"].as_str().is_some_and(|s| !s.is_empty())
        && content.first().is_some_and(|c| c["type"] == "text/plain")
        && content.iter().all(|c| c["value"].as_str().is_some_and(|v| !v.is_empty()));
    if !ok {
        return refuse(&state, "sendgrid", &format!("malformed body {v}"), 400, error("invalid request"));
    }
    accept(
        &state,
        Received {
            provider: "sendgrid",
            to: to.unwrap_or_default().into(),
            subject: v["subject"].as_str().unwrap_or_default().into(),
            text: text.unwrap_or_default().into(),
            html: html.map(str::to_owned),
        },
    );
    HttpResponse::Accepted().finish()
}

/// Mandrill `messages/send`: the key in the body, a message with from_email, to[{email,type}],
/// subject, text/html; 200 with one status object per recipient.
async fn mandrill(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let error = |name: &str, msg: &str| json!({ "status": "error", "code": -1, "name": name, "message": msg });
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&state, "mandrill", "body is not JSON", 400, error("ValidationError", "bad JSON"));
    };
    if !header(&req, "authorization").is_empty() {
        return refuse(
            &state,
            "mandrill",
            "sent an Authorization header",
            400,
            error("ValidationError", "no header auth"),
        );
    }
    if v["key"] != MANDRILL_KEY {
        return refuse(&state, "mandrill", "bad key", 401, error("Invalid_Key", "Invalid API key"));
    }
    if let Some(status) = forced(&state, "mandrill") {
        return HttpResponse::build(StatusCode::from_u16(status).expect("status"))
            .json(error("GeneralError", "temporary failure"));
    }
    let m = &v["message"];
    let to = m["to"][0]["email"].as_str();
    let ok = to.is_some()
        && m["to"][0]["type"] == "to"
        && m["from_email"] == "login@example.com"
        && m["subject"].as_str().is_some_and(|s| !s.is_empty())
        && m["text"].as_str().is_some();
    if !ok {
        return refuse(&state, "mandrill", &format!("malformed message {m}"), 400, error("ValidationError", "invalid"));
    }
    accept(
        &state,
        Received {
            provider: "mandrill",
            to: to.unwrap_or_default().into(),
            subject: m["subject"].as_str().unwrap_or_default().into(),
            text: m["text"].as_str().unwrap_or_default().into(),
            html: m["html"].as_str().map(str::to_owned),
        },
    );
    HttpResponse::Ok().json(json!([{ "email": to, "status": "sent", "reject_reason": null, "_id": "abc123" }]))
}

/// `YYYYMMDDTHHMMSSZ` (the `x-amz-date` header) as a time.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    if text.len() != 16 || !text.ends_with('Z') || text.as_bytes()[8] != b'T' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Recomputes the SigV4 signature of the request with the known secret, as AWS would.
fn sigv4_matches(req: &HttpRequest, body: &[u8]) -> Result<(), String> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let auth = header(req, "authorization");
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or("not AWS4-HMAC-SHA256")?;
    let (mut credential, mut signed, mut signature) = ("", "", "");
    for part in rest.split(", ") {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = v,
            Some(("SignedHeaders", v)) => signed = v,
            Some(("Signature", v)) => signature = v,
            _ => return Err(format!("unexpected part {part:?}")),
        }
    }
    let amz_date = header(req, "x-amz-date");
    let scope: Vec<&str> = credential.split('/').collect();
    if scope != [SES_ACCESS_KEY_ID, amz_date.get(..8).unwrap_or(""), SES_REGION, "ses", "aws4_request"] {
        return Err(format!("credential scope {credential:?}"));
    }
    let time = parse_amz_date(amz_date).ok_or("bad x-amz-date")?;
    let skew = SystemTime::now().duration_since(time).unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(300) {
        return Err("request time is more than 5 minutes off".into());
    }
    let names: Vec<&str> = signed.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") {
        return Err(format!("SignedHeaders {signed:?} lacks host or x-amz-date"));
    }
    let pairs: Vec<(&str, &str)> =
        names.iter().filter(|h| !matches!(**h, "host" | "x-amz-date")).map(|h| (*h, header(req, h))).collect();
    let url = format!("http://{}{}", header(req, "host"), req.uri().path());
    let identity = aws_credential_types::Credentials::new(SES_ACCESS_KEY_ID, SES_SECRET, None, None, "fake-ses").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(SES_REGION)
        .name("ses")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable =
        SignableRequest::new(req.method().as_str(), url.as_str(), pairs.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| e.to_string())?;
    let expected = sign(signable, &params).map_err(|e| e.to_string())?;
    if expected.signature() == signature { Ok(()) } else { Err("the signature does not match".into()) }
}

/// SES v2 `POST /v2/email/outbound-emails`, SigV4 (`ses`), JSON; 200 `{"MessageId"}`.
async fn ses(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    if let Err(why) = sigv4_matches(&req, &body) {
        state.lock().expect("state").refused.push(format!("ses: {why}"));
        return HttpResponse::Forbidden()
            .insert_header((
                "x-amzn-ErrorType",
                "SignatureDoesNotMatch:http://internal.amazon.com/coral/com.amazon.coral.service/",
            ))
            .json(
                json!({ "message": "The request signature we calculated does not match the signature you provided." }),
            );
    }
    if let Some(status) = forced(&state, "ses") {
        return HttpResponse::build(StatusCode::from_u16(status).expect("status"))
            .insert_header(("x-amzn-ErrorType", "InternalFailure"))
            .json(json!({ "message": "internal failure" }));
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&state, "ses", "body is not JSON", 400, json!({ "message": "bad JSON" }));
    };
    let simple = &v["Content"]["Simple"];
    let to = v["Destination"]["ToAddresses"][0].as_str();
    let ok = to.is_some()
        && v["FromEmailAddress"].as_str().is_some_and(|f| f.contains("login@example.com"))
        && simple["Subject"]["Data"].as_str().is_some_and(|s| !s.is_empty())
        && simple["Body"]["Text"]["Data"].as_str().is_some();
    if !ok {
        return refuse(&state, "ses", &format!("malformed body {v}"), 400, json!({ "message": "BadRequest" }));
    }
    accept(
        &state,
        Received {
            provider: "ses",
            to: to.unwrap_or_default().into(),
            subject: simple["Subject"]["Data"].as_str().unwrap_or_default().into(),
            text: simple["Body"]["Text"]["Data"].as_str().unwrap_or_default().into(),
            html: simple["Body"]["Html"]["Data"].as_str().map(str::to_owned),
        },
    );
    HttpResponse::Ok().json(json!({ "MessageId": "0100018b-fake" }))
}

/// Twilio `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP Basic (API key SID and
/// secret), a form with `To`, `From` or `MessagingServiceSid`, `Body`; 201 with the message resource.
async fn twilio(req: HttpRequest, path: web::Path<String>, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let error = |code: i64, msg: &str, status: u16| json!({ "code": code, "message": msg, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status });
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{TWILIO_KEY_SID}:{TWILIO_SECRET}"))
    );
    if path.as_str() != TWILIO_ACCOUNT || header(&req, "authorization") != expected {
        return refuse(&state, "twilio", "bad account or credentials", 401, error(20003, "Authenticate", 401));
    }
    if !header(&req, "content-type").starts_with("application/x-www-form-urlencoded") {
        return refuse(&state, "twilio", "not a form", 400, error(20001, "bad content type", 400));
    }
    if let Some(status) = forced(&state, "twilio") {
        return HttpResponse::build(StatusCode::from_u16(status).expect("status")).json(error(
            20500,
            "Internal Server Error",
            status,
        ));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let to = form.get("To").cloned().unwrap_or_default();
    let from_ok = form.get("From").is_some_and(|f| f == TWILIO_FROM) != form.contains_key("MessagingServiceSid");
    if !to.starts_with('+') || !from_ok || form.get("Body").is_none_or(String::is_empty) {
        return refuse(
            &state,
            "twilio",
            &format!("bad form {form:?}"),
            400,
            error(21211, "The 'To' number is not valid.", 400),
        );
    }
    let text = form.get("Body").cloned().unwrap_or_default();
    accept(
        &state,
        Received { provider: "twilio", to: to.clone(), subject: String::new(), text: text.clone(), html: None },
    );
    HttpResponse::Created().json(json!({
        "sid": "SM0123456789abcdef0123456789abcdef", "account_sid": TWILIO_ACCOUNT, "to": to, "from": TWILIO_FROM,
        "body": text, "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
    }))
}

/// The signed custom gateway: `X-Ostiary-Signature: t=…,v1=…` over `t.` + the raw body, fresh
/// within 300 s, each `id` once.
async fn gateway(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    use aws_lc_rs::hmac;
    let sig = header(&req, "x-ostiary-signature");
    let mut t = None;
    let mut tags = Vec::new();
    for part in sig.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => tags.push(v.to_owned()),
            _ => {}
        }
    }
    let Some(t) = t else {
        return refuse(&state, "gateway", "no timestamp", 401, json!({ "message": "unsigned" }));
    };
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    if (now - t).abs() > 300 {
        return refuse(&state, "gateway", "stale timestamp", 401, json!({ "message": "stale" }));
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, GATEWAY_SECRET.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&body);
    let valid = tags.iter().any(|tag| {
        let bytes: Option<Vec<u8>> =
            (0..tag.len()).step_by(2).map(|i| u8::from_str_radix(tag.get(i..i + 2)?, 16).ok()).collect();
        bytes.is_some_and(|b| hmac::verify(&key, &signed, &b).is_ok())
    });
    if !valid {
        return refuse(&state, "gateway", "bad signature", 401, json!({ "message": "bad signature" }));
    }
    if let Some(status) = forced(&state, "gateway") {
        return HttpResponse::build(StatusCode::from_u16(status).expect("status")).json(json!({ "message": "busy" }));
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&state, "gateway", "not JSON", 400, json!({ "message": "bad JSON" }));
    };
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    {
        let mut s = state.lock().expect("state");
        if s.gateway_ids.contains(&id) {
            // A repeated id is the same message again: accepted, not sent twice.
            return HttpResponse::Ok().json(json!({ "id": id, "duplicate": true }));
        }
        s.gateway_ids.push(id.clone());
    }
    let (Some(to), Some(text)) = (v["to"].as_str(), v["text"].as_str()) else {
        return refuse(&state, "gateway", "no to or text", 400, json!({ "message": "to and text are required" }));
    };
    accept(
        &state,
        Received { provider: "gateway", to: to.into(), subject: String::new(), text: text.into(), html: None },
    );
    HttpResponse::Accepted().json(json!({ "id": id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_to_unix_time() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_440_938_160);
        assert!(parse_amz_date("2015-08-30").is_none());
    }
}

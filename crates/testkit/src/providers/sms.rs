//! The SMS providers: Twilio (Messages API) and the signed custom gateway.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::{Value, json};

use super::*;

/// Twilio `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: HTTP Basic (API key SID and
/// secret), a form with `To`, `From` or `MessagingServiceSid`, `Body`; 201 with the message resource.
pub(super) async fn twilio(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<Shared>,
) -> HttpResponse {
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
pub(super) async fn gateway(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
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

/// The operator's sender, `[hooks.send_message]`: signed per the Standard Webhooks specification
/// (`webhook-id` the message's id, fresh within 300 s), JSON with `type` `send_message`, `id`,
/// `channel`, `to`, `subject` (email only), `text` and `html`; each id once.
pub(super) async fn send_message(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let secret = hooks::SigningSecret::parse(HOOK_SECRET).expect("a secret");
    let ts: i64 = header(&req, "webhook-timestamp").parse().unwrap_or_default();
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let id = header(&req, "webhook-id").to_owned();
    if !secret.verify(&id, ts, &body, header(&req, "webhook-signature"), now, 300) {
        return refuse(&state, "hook", "bad or stale signature", 401, json!({ "message": "bad signature" }));
    }
    if let Some(status) = forced(&state, "hook") {
        return HttpResponse::build(StatusCode::from_u16(status).expect("status")).json(json!({ "message": "busy" }));
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return refuse(&state, "hook", "not JSON", 400, json!({ "message": "bad JSON" }));
    };
    let email = v["channel"] == "email";
    let well_formed = v["type"] == "send_message"
        && v["id"] == id.as_str()
        && (email || v["channel"] == "sms")
        && v["subject"].is_string() == email
        && v["to"].is_string()
        && v["text"].is_string();
    if !well_formed {
        return refuse(&state, "hook", "not a send_message request", 400, json!({ "message": "malformed" }));
    }
    {
        let mut s = state.lock().expect("state");
        if s.gateway_ids.contains(&id) {
            return HttpResponse::Ok().finish();
        }
        s.gateway_ids.push(id.clone());
    }
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    accept(
        &state,
        Received {
            provider: "hook",
            to: text("to"),
            subject: text("subject"),
            text: text("text"),
            html: v["html"].as_str().map(str::to_owned),
        },
    );
    HttpResponse::NoContent().finish()
}

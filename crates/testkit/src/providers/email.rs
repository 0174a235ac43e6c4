//! The email providers: SendGrid (v3 Mail Send), Mandrill (messages/send) and Amazon SES (v2,
//! SigV4-signed).

use std::time::{Duration, SystemTime};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::*;

/// SendGrid v3 `POST /v3/mail/send`: Bearer key, JSON, `personalizations[].to`, `from`, `subject`,
/// `content` with text/plain first; 202 with no body.
pub(super) async fn sendgrid(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
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
pub(super) async fn mandrill(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
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
pub(super) async fn ses(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
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

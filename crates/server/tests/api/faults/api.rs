//! The calls the load and the checks make, each answer sorted: acknowledged (2xx), refused (4xx),
//! or lost (no answer: the server was dead, or died mid-request). A 5xx is an answer too, and a
//! failure: it is counted, and the test asserts there was none.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

/// What the server said.
#[derive(Debug)]
pub enum Answer {
    /// A 2xx, with its JSON body: the server acknowledged the request.
    Ok(Value),
    /// A 4xx or 5xx, with its body.
    Refused(u16, Value),
    /// No answer at all.
    Lost,
}

impl Answer {
    /// The OAuth error of a 400 answer (RFC 6749 §5.2).
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Answer::Refused(400, body) => body["error"].as_str(),
            _ => None,
        }
    }
}

/// Everything that went wrong, and how many answers, losses and 5xx there were.
#[derive(Default)]
pub struct Tally {
    problems: Mutex<Vec<String>>,
    pub answers: AtomicUsize,
    pub lost: AtomicUsize,
    pub server_errors: AtomicUsize,
}

impl Tally {
    pub fn problem(&self, text: String) {
        self.problems.lock().unwrap().push(text);
    }

    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }
}

/// Where a sign-in code goes. One sign-in in four is by text.
#[derive(Clone, Debug)]
pub enum Destination {
    Email(String),
    Phone(String),
}

/// Numbers are handed out in order: one account per number.
static NEXT_PHONE: AtomicU32 = AtomicU32::new(0);

impl Destination {
    pub fn fresh() -> Destination {
        if rand::random_range(0..4) == 0 {
            Destination::Phone(format!("+447400{:06}", NEXT_PHONE.fetch_add(1, Ordering::Relaxed)))
        } else {
            Destination::Email(crate::unique_email())
        }
    }

    pub fn address(&self) -> &str {
        match self {
            Destination::Email(a) | Destination::Phone(a) => a,
        }
    }

    /// The Auth0 connection and realm, and the admin API's field for it.
    fn names(&self) -> (&'static str, &'static str) {
        match self {
            Destination::Email(_) => ("email", "email"),
            Destination::Phone(_) => ("sms", "phone_number"),
        }
    }

    pub fn field(&self) -> &'static str {
        self.names().1
    }
}

/// One server incarnation: a new HTTP client each time, so no pooled connection outlives a kill.
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub client_id: String,
    pub client_secret: String,
    admin_token: String,
    pub tally: std::sync::Arc<Tally>,
}

impl Api {
    pub fn new(base: &str, client: &(String, String), admin_token: &str, tally: std::sync::Arc<Tally>) -> Api {
        Api {
            // Longer than any request of a live server takes; a timeout is reported as a problem.
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
            base: base.to_owned(),
            client_id: client.0.clone(),
            client_secret: client.1.clone(),
            admin_token: admin_token.to_owned(),
            tally,
        }
    }

    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> Answer {
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => return self.lost(what, &e),
        };
        let status = resp.status().as_u16();
        // Only a whole body is an answer: a body cut short by the kill acknowledges nothing.
        let body = match resp.bytes().await {
            Ok(body) => body,
            Err(e) => return self.lost(what, &e),
        };
        self.tally.answers.fetch_add(1, Ordering::Relaxed);
        let json =
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into()));
        if status >= 500 {
            self.tally.server_errors.fetch_add(1, Ordering::Relaxed);
            self.tally.problem(format!("{what}: {status} {json}"));
        }
        if (200..300).contains(&status) { Answer::Ok(json) } else { Answer::Refused(status, json) }
    }

    fn lost(&self, what: &str, e: &reqwest::Error) -> Answer {
        if e.is_timeout() {
            self.tally.problem(format!("{what}: no answer in 20 s (a killed server resets its connections)"));
        }
        self.tally.lost.fetch_add(1, Ordering::Relaxed);
        Answer::Lost
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn start(&self, to: &Destination) -> Answer {
        let (connection, field) = to.names();
        let body = serde_json::json!({
            "client_id": self.client_id, "client_secret": self.client_secret, "connection": connection,
            field: to.address(), "send": "code",
        });
        self.send("start", self.http.post(self.url("/passwordless/start")).json(&body)).await
    }

    /// The first phone number a server parses loads the numbering plans (a second in a debug
    /// build): done here, so that kills fall among sign-ins rather than during that pause. A number
    /// refused as invalid costs nothing else.
    pub async fn warm_up(&self) {
        let answer = self.start(&Destination::Phone("+44".into())).await;
        assert_eq!(answer.oauth_error(), Some("bad.phone_number"), "{answer:?}");
    }

    /// The code in the newest message to `to`: `Ok(None)` when the outbox has none, `Err(())` when
    /// the outbox did not answer.
    pub async fn code_for(&self, to: &Destination) -> Result<Option<String>, ()> {
        match self.send("outbox", self.http.get(self.url("/dev/outbox.json"))).await {
            Answer::Ok(list) => {
                let list: Vec<testkit::OutboxMessage> = serde_json::from_value(list).unwrap();
                Ok(list.into_iter().find(|m| m.to == to.address()).map(|m| m.code()))
            }
            Answer::Refused(..) => Ok(None),
            Answer::Lost => Err(()),
        }
    }

    /// Auth0's `passwordless/otp` grant.
    pub async fn otp(&self, to: &Destination, code: &str) -> Answer {
        let form = [
            ("grant_type", "http://auth0.com/oauth/grant-type/passwordless/otp"),
            ("realm", to.names().0),
            ("username", to.address()),
            ("otp", code),
            ("scope", "openid offline_access email phone"),
        ];
        let req = self.http.post(self.url("/oauth/token")).form(&form);
        self.send("otp grant", req.basic_auth(&self.client_id, Some(&self.client_secret))).await
    }

    pub async fn refresh(&self, token: &str) -> Answer {
        let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
        let req = self.http.post(self.url("/token")).form(&form);
        self.send("refresh", req.basic_auth(&self.client_id, Some(&self.client_secret))).await
    }

    /// `GET /api/admin/v1/users/{sub}{rest}` with the admin token obtained before the first kill.
    pub async fn admin(&self, sub: &str, rest: &str) -> Answer {
        let req = self.http.get(self.url(&format!("/api/admin/v1/users/{sub}{rest}"))).bearer_auth(&self.admin_token);
        self.send("admin API", req).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Answer {
        self.send("userinfo", self.http.get(self.url("/userinfo")).bearer_auth(access_token)).await
    }

    pub async fn jwks(&self) -> Answer {
        self.send("jwks", self.http.get(self.url("/jwks.json"))).await
    }
}

//! The load: workers signing in (passwordless API and OTP grant) and refreshing their token chains,
//! each remembering what the server acknowledged and what it left unanswered.

use std::sync::Arc;

use serde_json::Value;

use super::api::{Answer, Api, Destination};

/// A worker keeps this many chains going; older ones are retired (checked now and then, and at the
/// end) so that checking every live chain after each restart stays quick.
const MAX_CHAINS: usize = 4;

/// An acknowledged sign-in: the OTP grant answered 200.
#[derive(Clone, Debug)]
pub struct SignIn {
    pub to: Destination,
    /// The code it spent.
    pub code: String,
    pub sub: String,
    pub sid: String,
    pub id_token: String,
    pub access_token: String,
}

/// A refresh-token family as its client sees it.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// The user it was issued to (the `sub` of its sign-in).
    pub sub: String,
    /// The newest token the server gave (in an answer the client received).
    pub token: String,
    /// The last request presenting `token` got no answer: the server may have rotated it, and the
    /// client must retry with the same token (within the reuse leeway).
    pub unanswered: bool,
    /// The token rotated into `token`, and the one rotated into that: a token whose successor was
    /// used, which no leeway covers (presenting it again is reuse, RFC 9700 §4.14.2).
    previous: Option<String>,
    pub stale: Option<String>,
}

impl Chain {
    fn new(sub: String, token: String) -> Chain {
        Chain { sub, token, ..Chain::default() }
    }

    /// An acknowledged rotation of `token` into the refresh token of `tokens`.
    pub fn rotated(&mut self, tokens: &Value) {
        let next = tokens["refresh_token"].as_str().unwrap_or_else(|| panic!("a rotated refresh token in {tokens}"));
        self.stale = self.previous.replace(std::mem::replace(&mut self.token, next.to_owned()));
        self.unanswered = false;
    }
}

/// A sign-in step that got no answer.
#[derive(Debug)]
pub enum Pending {
    /// The start was acknowledged, but the outbox did not answer: the code is in the database.
    Start(Destination),
    /// The OTP grant got no answer: the code may or may not have been spent.
    Otp(Destination, String),
}

/// What became of an OTP grant.
#[derive(Debug)]
pub enum Redeemed {
    Acknowledged,
    Lost,
    Refused(Answer),
}

#[derive(Default)]
pub struct Worker {
    pub chains: Vec<Chain>,
    pub retired: Vec<Chain>,
    /// Sign-ins acknowledged since the last check.
    pub fresh: Vec<SignIn>,
    pub pending: Option<Pending>,
    pub refreshes: usize,
}

impl Worker {
    /// Signs in and refreshes until a request goes unanswered: the server was killed.
    pub async fn run(mut self, api: Arc<Api>) -> Worker {
        loop {
            let lost = if self.chains.len() < 2 || rand::random_bool(0.3) {
                self.sign_in(&api).await
            } else {
                self.refresh_one(&api).await
            };
            if lost {
                return self;
            }
        }
    }

    /// One sign-in; true when a step got no answer.
    async fn sign_in(&mut self, api: &Api) -> bool {
        let to = Destination::fresh();
        match api.start(&to).await {
            // Maybe started, maybe not: nothing was acknowledged.
            Answer::Lost => return true,
            Answer::Refused(status, body) => {
                api.tally.problem(format!("start for {to:?}: {status} {body}"));
                return false;
            }
            Answer::Ok(_) => {}
        }
        match api.code_for(&to).await {
            Err(()) => {
                self.pending = Some(Pending::Start(to));
                true
            }
            Ok(None) => {
                api.tally.problem(format!("start for {to:?} acknowledged, but no message in the outbox"));
                false
            }
            Ok(Some(code)) => match self.redeem(api, to.clone(), code).await {
                Redeemed::Acknowledged => false,
                Redeemed::Lost => true,
                Redeemed::Refused(answer) => {
                    api.tally.problem(format!("otp grant for {to:?}: {answer:?}"));
                    false
                }
            },
        }
    }

    /// The OTP grant; a lost answer leaves the code pending.
    pub async fn redeem(&mut self, api: &Api, to: Destination, code: String) -> Redeemed {
        match api.otp(&to, &code).await {
            Answer::Lost => {
                self.pending = Some(Pending::Otp(to, code));
                Redeemed::Lost
            }
            Answer::Ok(tokens) => {
                self.signed_in(to, code, &tokens);
                Redeemed::Acknowledged
            }
            refused => Redeemed::Refused(refused),
        }
    }

    fn signed_in(&mut self, to: Destination, code: String, tokens: &Value) {
        let text = |name: &str| tokens[name].as_str().unwrap_or_else(|| panic!("no {name} in {tokens}")).to_owned();
        let id_token = text("id_token");
        let (_, claims) = crate::jwt_parts(&id_token);
        let claim = |name: &str| claims[name].as_str().unwrap_or_else(|| panic!("no {name} in {claims}")).to_owned();
        let sign_in =
            SignIn { sub: claim("sub"), sid: claim("sid"), to, code, access_token: text("access_token"), id_token };
        self.chains.push(Chain::new(sign_in.sub.clone(), text("refresh_token")));
        self.fresh.push(sign_in);
        if self.chains.len() > MAX_CHAINS {
            self.retired.push(self.chains.remove(0));
        }
    }

    /// One refresh of one of this worker's chains; true when it got no answer.
    async fn refresh_one(&mut self, api: &Api) -> bool {
        let i = rand::random_range(0..self.chains.len());
        match api.refresh(&self.chains[i].token).await {
            Answer::Lost => {
                self.chains[i].unanswered = true;
                true
            }
            Answer::Ok(tokens) => {
                self.chains[i].rotated(&tokens);
                self.refreshes += 1;
                false
            }
            refused => {
                api.tally.problem(format!("refresh of a live chain: {refused:?}"));
                self.chains.remove(i);
                false
            }
        }
    }
}

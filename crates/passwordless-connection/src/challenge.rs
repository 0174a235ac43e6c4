//! The rules of a challenge, each in one place: `start_challenge` (a code, a link and a matching
//! number derived from the challenge id, newest wins, queued with its message), `resend` (the same
//! message again), `verify_code` and `spend` (constant-time, attempt cap, single use), and
//! `FirstFactor` (the user and `amr`, found in the transaction that spends the challenge).
//!
//! The code, link token and matching number are HMACs of the challenge id under a server key, so a
//! resend repeats exactly the code the user may already be typing, while the database holds only
//! their keyed hashes (and the id, which is worthless without the master key).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub(crate) use domain::Destination;
use domain::{ChallengeId, Channel, Interaction, LoginMethod, StorageError};

use crate::storage::{Answer, Challenge, NewChallenge, Purpose, Spend, Spent};

use crate::PasswordlessConnection;
use crate::messages::Sent;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the code is wrong")]
    Mismatch { remaining: i32 },
    #[error("too many wrong codes")]
    TooManyAttempts,
    #[error("the challenge has expired or was replaced by a newer one")]
    Expired,
    #[error("the challenge was already used")]
    Used,
    #[error("this sign-in method is not offered to this application")]
    MethodOff,
    #[error("too many wrong codes from this network: it is blocked for now")]
    Blocked,
    #[error("the failure counters cannot be reached")]
    Unavailable,
    /// The code or link was right, but an admin has blocked the account.
    #[error("the account is blocked")]
    AccountBlocked,
    /// The code or link was right, but the operator's `before_user_created` hook refused to make
    /// the address or number an account (with its message for the user).
    #[error("the sign-up was refused")]
    SignUpRefused(Option<String>),
    #[error(transparent)]
    Store(#[from] StorageError),
}

impl VerifyError {
    /// The result label of `ostiary_sign_ins_total`.
    fn label(&self) -> &'static str {
        match self {
            VerifyError::Mismatch { .. } => "wrong_code",
            VerifyError::TooManyAttempts => "too_many_attempts",
            VerifyError::Expired => "expired",
            VerifyError::Used => "used",
            VerifyError::MethodOff => "method_off",
            VerifyError::Blocked => "ip_blocked",
            VerifyError::Unavailable => "unavailable",
            VerifyError::AccountBlocked => "account_blocked",
            VerifyError::SignUpRefused(_) => "signup_refused",
            VerifyError::Store(_) => "error",
        }
    }
}

/// Counts a first-factor check for `/metrics`: `ostiary_sign_ins_total{channel, result}`, where
/// the channel is `email_code`, `sms_code` or `email_link` and the result `success` or the refusal;
/// and logs it at info (in the request's span, with its id; never the code or the address).
fn count_sign_in<T>(channel: &'static str, result: &Result<T, VerifyError>) {
    let result = result.as_ref().map_or_else(VerifyError::label, |_| "success");
    metrics::counter!("ostiary_sign_ins_total", "channel" => channel, "result" => result).increment(1);
    tracing::info!(channel, result, "first factor checked");
}

fn code_channel(challenge: &Option<Challenge>) -> &'static str {
    match challenge.as_ref().map(|c| &c.destination) {
        Some(Destination::Phone(_)) => "sms_code",
        Some(Destination::Email(_)) => "email_code",
        None => "unknown",
    }
}

pub(crate) use crate::first_factor::{Asking, FirstFactor};
/// Where a request came from: the client IP, its country and device (see [`RequestOrigin`]).
pub(crate) use web_layer::RequestOrigin as Origin;

fn code_purpose(challenge_id: &str) -> String {
    format!("challenge-code:{challenge_id}")
}
pub(crate) const LINK_PURPOSE: &str = "challenge-link";

/// A challenge's secrets, derived from its id.
pub(crate) struct Secrets {
    pub code: String,
    pub link_token: String,
    /// Two digits shown on both screens of a cross-device sign-in.
    pub match_number: String,
}

pub(crate) fn secrets(conn: &PasswordlessConnection, challenge_id: &str, code_length: usize) -> Secrets {
    let seed = |purpose: &str| conn.hasher.hash(purpose, challenge_id).0;
    let number = |bytes: &[u8]| u64::from_be_bytes(bytes[..8].try_into().unwrap_or_default());
    // 2^64 against at most 10^10 values: the bias of the modulo is below 10^-9.
    let modulus = 10u64.pow(code_length.clamp(4, 10) as u32);
    let code = format!("{:0width$}", number(&seed("challenge-code-seed")) % modulus, width = code_length);
    let link_token = URL_SAFE_NO_PAD.encode(seed("challenge-link-seed"));
    let match_number = format!("{}", 10 + number(&seed("challenge-match-seed")) % 90);
    Secrets { code, link_token, match_number }
}

/// Creates the challenge for `to` and queues its message in the same transaction. The work done is
/// the same whether or not an account exists, so neither the response nor its timing tells which
/// (no account enumeration). Limits are checked before (`abuse::check_send`). `Ok(None)`: the
/// interaction is not in a state for this `purpose` (a first factor is already recorded, or not
/// yet for a second one), and nothing was created or sent.
pub(crate) async fn start_challenge(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    to: &Destination,
    purpose: Purpose,
    sent: Sent,
    origin: &Origin,
    lang: &str,
) -> Result<Option<ChallengeId>, StorageError> {
    let now = conn.clock.now();
    let id = ChallengeId::sortable();
    let channel = conn.config.channel(to.channel());
    let s = secrets(conn, id.as_str(), channel.code_length);
    let mut message = crate::messages::for_challenge(conn, interaction, to, &s, sent, origin, lang, now).await?;
    // Written once, already leased to this node's worker, which gets it at once: no claim to write.
    let lease = conn.handoff.lease(message.as_mut(), now);
    let challenge = NewChallenge {
        code_hash: conn.hasher.hash(&code_purpose(id.as_str()), &s.code).0,
        link_hash: conn.hasher.hash(LINK_PURPOSE, &s.link_token).0,
        id,
        interaction_id: interaction.id.clone(),
        destination: to.clone(),
        max_attempts: conn.config.max_attempts,
        created_at: now,
        expires_at: now + channel.ttl,
        client_id: interaction.client_id.clone(),
        origin: origin.place(),
        purpose,
    };
    let challenge_id = challenge.id.clone();
    let texted = message.as_ref().is_some_and(|m| m.channel == Channel::Sms);
    if !conn.store.create_challenge(challenge, message).await? {
        return Ok(None);
    }
    match lease {
        Some(lease) => lease.hand(),
        None => conn.outbox_ready.notify_one(),
    }
    if texted {
        crate::abuse::record_sms_sent(conn).await;
    }
    Ok(Some(challenge_id))
}

/// Sends a live challenge's message again, with the same code and link: a code the user is already
/// typing stays good. The challenge's lifetime is not extended. Limits are checked before.
pub(crate) async fn resend(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    challenge: &Challenge,
    origin: &Origin,
    lang: &str,
) -> Result<(), VerifyError> {
    let now = conn.clock.now();
    check_live(challenge, now)?;
    let to = challenge.destination.clone();
    let s = secrets(conn, challenge.id.as_str(), conn.config.channel(to.channel()).code_length);
    let sent = Sent::for_client(&interaction.client_settings);
    if let Some(message) = crate::messages::for_challenge(conn, interaction, &to, &s, sent, origin, lang, now).await? {
        let texted = message.channel == Channel::Sms;
        conn.store.enqueue_message(message, now).await?;
        conn.outbox_ready.notify_one();
        if texted {
            crate::abuse::record_sms_sent(conn).await;
        }
    }
    Ok(())
}

pub(crate) fn check_live(c: &Challenge, now: i64) -> Result<(), VerifyError> {
    if c.consumed_at.is_some() {
        return Err(VerifyError::Used);
    }
    if c.attempts >= c.max_attempts {
        return Err(VerifyError::TooManyAttempts);
    }
    if c.superseded || c.expires_at <= now {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

/// Whether a challenge was approved on another device and waits to be spent in the browser that
/// asked (the approval may have taken its last attempt).
pub(crate) fn awaits_spending(c: &Challenge, now: i64) -> bool {
    c.approved_at.is_some() && c.consumed_at.is_none() && !c.superseded && c.expires_at > now
}

/// Whether a typed code may be used for this challenge under the client's policy.
fn code_allowed(settings: &domain::ClientSettings, c: &Challenge) -> bool {
    match c.destination.channel() {
        Channel::Sms => settings.allows(LoginMethod::SmsCode),
        Channel::Email => settings.allows(LoginMethod::EmailCode),
    }
}

/// Checks a typed code against `challenge` (the newest of an interaction, or of a client and
/// destination). Attempts are spent before they are judged: one of the challenge's attempts is
/// taken first (so answers beyond the cap charge nothing), then one unit of the IP's failure
/// budgets, then the transaction compares, so N parallel guesses get exactly as many comparisons
/// as the cap and the budgets allow. A right code
/// gives the budget back and spends the challenge (only one of any concurrent submissions wins);
/// a wrong one keeps both. With `first`, a right code also signs in, in the same transaction, and
/// the login is returned.
pub(crate) async fn verify_code(
    conn: &PasswordlessConnection,
    settings: &domain::ClientSettings,
    challenge: Option<Challenge>,
    typed: &str,
    origin: &Origin,
    first: Option<&FirstFactor<'_>>,
) -> Result<(Challenge, Option<domain::LoginResult>), VerifyError> {
    let channel = code_channel(&challenge);
    let result = check_code(conn, settings, challenge, typed, origin, first).await;
    count_sign_in(channel, &result);
    result
}

async fn check_code(
    conn: &PasswordlessConnection,
    settings: &domain::ClientSettings,
    challenge: Option<Challenge>,
    typed: &str,
    origin: &Origin,
    first: Option<&FirstFactor<'_>>,
) -> Result<(Challenge, Option<domain::LoginResult>), VerifyError> {
    let now = conn.clock.now();
    let challenge = challenge.ok_or(VerifyError::Expired)?;
    if !code_allowed(settings, &challenge) {
        return Err(VerifyError::MethodOff);
    }
    if crate::abuse::is_blocked(conn, origin, challenge.destination.as_str()).await? {
        return Err(VerifyError::Blocked);
    }
    check_live(&challenge, now)?;
    let budget = take_attempt(conn, &challenge, origin, now).await?;
    let typed: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').take(32).collect();
    let given = conn.hasher.hash(&code_purpose(challenge.id.as_str()), &typed);
    let spend = Spend {
        challenge: challenge.id.clone(),
        answer: Answer::Code(given.0),
        now,
        sign_in: first.map(|f| f.plan(conn, &challenge)),
    };
    let signed = match conn.store.spend_challenge(spend).await {
        Ok(Spent::Right(signed)) => {
            budget.give_back(conn).await;
            signed
        }
        Ok(Spent::Wrong { remaining }) => {
            budget.failed(conn, &challenge).await;
            return Err(if remaining <= 0 {
                VerifyError::TooManyAttempts
            } else {
                VerifyError::Mismatch { remaining }
            });
        }
        // Spent, replaced or expired since the attempt was taken (a concurrent right answer):
        // nothing was compared, no failure.
        Ok(Spent::Closed) => {
            budget.give_back(conn).await;
            return Err(VerifyError::Used);
        }
        Err(e) => {
            budget.give_back(conn).await;
            return Err(e.into());
        }
    };
    let login = match first {
        Some(first) => Some(first.conclude(conn, &challenge, signed, now).await?),
        None => None,
    };
    Ok((challenge, login))
}

/// Takes one attempt of `challenge` and one unit of the failure budgets, before an answer is
/// judged. Fails closed: counters that cannot be reached stop the check.
async fn take_attempt(
    conn: &PasswordlessConnection,
    challenge: &Challenge,
    origin: &Origin,
    now: i64,
) -> Result<crate::abuse::FailureBudget, VerifyError> {
    if !conn.store.take_attempt(&challenge.id, now).await? {
        return Err(VerifyError::TooManyAttempts);
    }
    match crate::abuse::take_failure_budget(conn, origin, challenge.destination.as_str()).await {
        Ok(Some(budget)) => Ok(budget),
        Ok(None) => Err(VerifyError::Blocked),
        Err(e) => {
            tracing::error!(error = %e, "failure counters unavailable");
            Err(VerifyError::Unavailable)
        }
    }
}

/// What a wrong answer leaves: the attempts still open on the challenge.
async fn wrong(conn: &PasswordlessConnection, challenge: &Challenge) -> Result<VerifyError, VerifyError> {
    let remaining = conn.store.challenge_attempts_left(&challenge.id).await?;
    Ok(if remaining <= 0 { VerifyError::TooManyAttempts } else { VerifyError::Mismatch { remaining } })
}

/// Checks the number typed on the device that opened a magic link against the one shown in the
/// browser that asked to sign in (cross-device approval), under the same attempt cap and failure
/// budgets as a code: an email scanner that submits the form approves nothing, and a wrong number
/// counts as a failure. A right one records the approval.
pub(crate) async fn approve(
    conn: &PasswordlessConnection,
    challenge: &Challenge,
    typed: &str,
    origin: &Origin,
) -> Result<(), VerifyError> {
    let now = conn.clock.now();
    if crate::abuse::is_blocked(conn, origin, challenge.destination.as_str()).await? {
        return Err(VerifyError::Blocked);
    }
    check_live(challenge, now)?;
    let budget = take_attempt(conn, challenge, origin, now).await?;
    let expected = secrets(conn, challenge.id.as_str(), conn.config.email.code_length).match_number;
    let typed: String = typed.chars().filter(char::is_ascii_digit).take(4).collect();
    if !domain::secret::constant_time_eq(typed.as_bytes(), expected.as_bytes()) {
        budget.failed(conn, challenge).await;
        return Err(wrong(conn, challenge).await?);
    }
    budget.give_back(conn).await;
    if !conn.store.approve_challenge(&challenge.id, now).await? {
        return Err(VerifyError::Used);
    }
    Ok(())
}

/// Finds the live challenge behind a magic-link token without spending it (a GET must not). A
/// link that is spent, replaced or expired comes back as `Dead` with the sign-in it was sent for,
/// so that its page can lead back there.
pub(crate) async fn find_link(conn: &PasswordlessConnection, token: &str) -> Result<Challenge, LinkError> {
    if token.len() > 128 {
        return Err(LinkError::Dead(None));
    }
    let found =
        conn.store.challenge_by_link(conn.hasher.hash(LINK_PURPOSE, token).0).await.map_err(LinkError::Store)?;
    let Some(challenge) = found else {
        count_sign_in::<()>("email_link", &Err(VerifyError::Expired));
        return Err(LinkError::Dead(None));
    };
    let live = check_live(&challenge, conn.clock.now());
    if live.is_err() {
        count_sign_in("email_link", &live);
        return Err(LinkError::Dead(Some(challenge.interaction_id)));
    }
    Ok(challenge)
}

/// Why a magic link leads nowhere.
pub(crate) enum LinkError {
    /// Unknown, spent, replaced or expired; with the sign-in it was sent for, when known.
    Dead(Option<domain::InteractionId>),
    Store(StorageError),
}

/// Spends a challenge whose link was opened (from the POST of the "continue" page), or approved on
/// another device and continued in the browser that started (`approved`: the approval took an
/// attempt for its number), and signs in as `first` says, in the same transaction.
pub(crate) async fn spend(
    conn: &PasswordlessConnection,
    challenge: &Challenge,
    approved: bool,
    first: &FirstFactor<'_>,
) -> Result<domain::LoginResult, VerifyError> {
    let now = conn.clock.now();
    let spend = Spend {
        challenge: challenge.id.clone(),
        answer: Answer::Link { approved },
        now,
        sign_in: Some(first.plan(conn, challenge)),
    };
    let result = match conn.store.spend_challenge(spend).await {
        Ok(Spent::Right(signed)) => first.conclude(conn, challenge, signed, now).await,
        Ok(_) => Err(VerifyError::Used),
        Err(e) => Err(e.into()),
    };
    count_sign_in("email_link", &result);
    result
}

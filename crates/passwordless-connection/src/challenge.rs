//! The rules of a challenge, each in one place: `start_challenge` (CSPRNG code and link, newest
//! wins, queued with its message), `verify_code` and `verify_link` (constant-time, attempt cap,
//! single use), and `finish_login` (the user, `amr`, hand-back to the interaction).

use domain::secret::{numeric_code, random_token};
use domain::{Acr, Amr, AuthTime, EmailAddress, Interaction, LoginResult};
use store::StoreError;
use store::challenges::{Challenge, NewChallenge};
use store::users::EmailSignIn;

use crate::PasswordlessConnection;

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn code_purpose(challenge_id: &str) -> String {
    format!("challenge-code:{challenge_id}")
}
pub(crate) const LINK_PURPOSE: &str = "challenge-link";

/// Creates the challenge for `email` and queues its message in the same transaction. The work
/// done is the same whether or not an account exists, so neither the response nor its timing
/// tells which (no account enumeration).
pub(crate) async fn start_challenge(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    email: &EmailAddress,
) -> Result<(), StoreError> {
    let now = conn.clock.now();
    let id = domain::ids::sortable_id();
    let code = numeric_code(conn.config.code_length);
    let link_token = random_token(32);
    let link = format!("{}/login/link/{}", conn.config.public_url.trim_end_matches('/'), link_token);
    let known = conn.store.user_by_email(email).await?.is_some();
    let message = if known || conn.config.signups_enabled {
        crate::delivery::sign_in_message(conn, interaction, email, &code, &link, now)
    } else {
        crate::delivery::no_account_message(conn, interaction, email, now)
    }
    .map_err(|e| StoreError::Corrupt(format!("message template: {e}")))?;
    let challenge = NewChallenge {
        code_hash: conn.hasher.hash(&code_purpose(&id), &code).0,
        link_hash: conn.hasher.hash(LINK_PURPOSE, &link_token).0,
        id,
        interaction_id: interaction.id.clone(),
        channel: "email".into(),
        destination: email.to_string(),
        max_attempts: conn.config.max_attempts,
        created_at: now,
        expires_at: now + conn.config.challenge_ttl,
    };
    conn.store.create_challenge(challenge, message).await?;
    conn.outbox_ready.notify_one();
    Ok(())
}

fn check_live(c: &Challenge, now: i64) -> Result<(), VerifyError> {
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

/// Checks a typed code against the interaction's newest challenge. A wrong code counts against the
/// cap atomically; a right one spends the challenge, and only one of any concurrent submissions wins.
pub(crate) async fn verify_code(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    typed: &str,
) -> Result<Challenge, VerifyError> {
    let now = conn.clock.now();
    let challenge = conn.store.latest_challenge(&interaction.id).await?.ok_or(VerifyError::Expired)?;
    check_live(&challenge, now)?;
    let typed: String = typed.chars().filter(|c| !c.is_whitespace() && *c != '-').take(32).collect();
    let given = conn.hasher.hash(&code_purpose(&challenge.id), &typed);
    if !domain::secret::constant_time_eq(&given.0, &challenge.code_hash) {
        if !conn.store.record_failed_attempt(&challenge.id).await? {
            return Err(VerifyError::TooManyAttempts);
        }
        let remaining = challenge.max_attempts - challenge.attempts - 1;
        return Err(if remaining <= 0 { VerifyError::TooManyAttempts } else { VerifyError::Mismatch { remaining } });
    }
    if !conn.store.consume_challenge(&challenge.id, now).await? {
        return Err(VerifyError::Used);
    }
    Ok(challenge)
}

/// Finds the live challenge behind a magic-link token without spending it (a GET must not).
pub(crate) async fn find_link(conn: &PasswordlessConnection, token: &str) -> Result<Challenge, VerifyError> {
    if token.len() > 128 {
        return Err(VerifyError::Expired);
    }
    let challenge =
        conn.store.challenge_by_link(conn.hasher.hash(LINK_PURPOSE, token).0).await?.ok_or(VerifyError::Expired)?;
    check_live(&challenge, conn.clock.now())?;
    Ok(challenge)
}

/// Spends the challenge behind a magic link (from the POST of the "continue" page).
pub(crate) async fn verify_link(conn: &PasswordlessConnection, token: &str) -> Result<Challenge, VerifyError> {
    let challenge = find_link(conn, token).await?;
    if !conn.store.consume_challenge(&challenge.id, conn.clock.now()).await? {
        return Err(VerifyError::Used);
    }
    Ok(challenge)
}

/// Turns a spent challenge into a login: finds or creates the user and completes the interaction.
/// `amr` is `otp` for both the code and the link: each is a single-use secret delivered to the
/// mailbox (RFC 8176 §2); nothing stronger is claimed.
pub(crate) async fn finish_login(
    conn: &PasswordlessConnection,
    interaction: &Interaction,
    challenge: &Challenge,
) -> Result<(), VerifyError> {
    let now = conn.clock.now();
    let email = EmailAddress::parse(&challenge.destination).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let user = match conn.store.sign_in_by_email(&email, conn.config.signups_enabled, now).await? {
        EmailSignIn::Existing(u) | EmailSignIn::Created(u) => u,
        EmailSignIn::NoAccount => return Err(VerifyError::Expired),
    };
    let result =
        LoginResult { user_id: user.id, amr: vec![Amr::Otp], acr: Acr::SingleFactor, auth_time: AuthTime(now) };
    if !conn.store.complete_interaction(&interaction.id, &result, now).await? {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

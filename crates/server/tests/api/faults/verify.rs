//! What must hold after each restart: what was in flight can be finished (a refresh whose answer
//! was lost is retried with the same token, within the reuse leeway, and continues its chain), and
//! every acknowledged write is there: the user, the session, the access token, the signing key,
//! the rotation, the spent code.

use std::collections::HashSet;
use std::fmt::Debug;

use futures_util::StreamExt;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet};
use openidconnect::{ClientId, IssuerUrl, Nonce};

use super::api::{Answer, Api, Destination};
use super::load::{Chain, Pending, Redeemed, SignIn, Worker};

/// How many checks run at once.
const CONCURRENCY: usize = 8;
/// How many older sign-ins and retired chains are checked again after each restart (all of them
/// at the end).
const SAMPLE: usize = 8;

/// Everything acknowledged so far that no worker holds.
#[derive(Default)]
pub struct Ledger {
    pub sign_ins: Vec<SignIn>,
    /// Chains no worker drives any more.
    pub retired: Vec<Chain>,
    /// Users whose family was revoked on purpose (by reuse): their access tokens died with it.
    pub revoked: HashSet<String>,
    pub totals: Totals,
}

#[derive(Default, Debug)]
pub struct Totals {
    pub sign_ins: usize,
    pub refreshes: usize,
    /// Chains whose last refresh got no answer, continued after the restart by the same token.
    pub retried_refreshes: usize,
    /// Starts acknowledged before the kill whose code was read, and redeemed, after the restart.
    pub resumed_starts: usize,
    /// OTP grants that got no answer: the code was spent before the kill, or is redeemed after.
    pub otp_spent_before_kill: usize,
    pub otp_redeemed_after_restart: usize,
    /// Checks of acknowledged sign-ins (user, session, access token, ID token, code refused again).
    pub sign_ins_checked: usize,
    /// Families ended on purpose by presenting a token whose successor was used (a stale token):
    /// refused, and the newest token with it.
    pub families_revoked_by_reuse: usize,
}

impl Totals {
    /// Adds the counts [`settle`] keeps.
    fn add(&mut self, other: Totals) {
        self.retried_refreshes += other.retried_refreshes;
        self.resumed_starts += other.resumed_starts;
        self.otp_spent_before_kill += other.otp_spent_before_kill;
        self.otp_redeemed_after_restart += other.otp_redeemed_after_restart;
    }
}

/// After a restart: every worker finishes what it left in flight and continues every chain; this
/// round's sign-ins, a sample of older ones and of retired chains are checked.
pub async fn after_restart(api: &Api, workers: &mut [Worker], ledger: &mut Ledger) {
    settle_all(api, workers, ledger).await;
    for i in pick(workers, 2) {
        if let Some(sub) = reuse_revokes(api, &mut workers[i]).await {
            ledger.revoked.insert(sub);
            ledger.totals.families_revoked_by_reuse += 1;
        }
    }
    let verifier = verifier(api).await;
    let fresh: Vec<SignIn> = workers.iter_mut().flat_map(|w| std::mem::take(&mut w.fresh)).collect();
    let older = pick(&ledger.sign_ins, SAMPLE);
    let checks = fresh.iter().chain(older.iter().map(|&i| &ledger.sign_ins[i]));
    let checked = check_sign_ins(api, &verifier, &ledger.revoked, checks).await;
    ledger.totals.sign_ins_checked += checked;
    ledger.totals.sign_ins += fresh.len();
    ledger.sign_ins.extend(fresh);
    for i in pick(&ledger.retired, SAMPLE) {
        continue_chain(api, &mut ledger.retired[i]).await;
    }
}

/// At the end (after [`after_restart`], which continued the live chains): every sign-in ever
/// acknowledged, and every retired chain.
pub async fn everything(api: &Api, ledger: &mut Ledger) {
    let verifier = verifier(api).await;
    ledger.totals.sign_ins_checked += check_sign_ins(api, &verifier, &ledger.revoked, ledger.sign_ins.iter()).await;
    let retired = ledger.retired.iter_mut();
    futures_util::stream::iter(retired.map(|chain| continue_chain(api, chain)))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
}

async fn settle_all(api: &Api, workers: &mut [Worker], ledger: &mut Ledger) {
    let settled = futures_util::future::join_all(workers.iter_mut().map(|w| settle(api, w))).await;
    for totals in settled {
        ledger.totals.add(totals);
    }
    for w in workers.iter_mut() {
        ledger.retired.append(&mut w.retired);
        ledger.totals.refreshes += std::mem::take(&mut w.refreshes);
    }
}

/// One worker after the restart: its unanswered sign-in step finished, each of its chains
/// refreshed once with its newest token (the one whose answer was lost, for the chain in flight).
async fn settle(api: &Api, w: &mut Worker) -> Totals {
    let mut totals = Totals::default();
    match w.pending.take() {
        None => {}
        Some(Pending::Start(to)) => match api.code_for(&to).await {
            Ok(Some(code)) => {
                totals.resumed_starts += 1;
                finish_otp(api, w, to, code, false, &mut totals).await;
            }
            other => api.tally.problem(format!("start for {to:?} acknowledged before the kill; now {other:?}")),
        },
        Some(Pending::Otp(to, code)) => finish_otp(api, w, to, code, true, &mut totals).await,
    }
    for chain in &mut w.chains {
        totals.retried_refreshes += usize::from(continue_chain(api, chain).await);
    }
    totals
}

/// An OTP grant after the restart: it must succeed, unless `maybe_spent` (its first try got no
/// answer), when the code may already have been spent and refused as such.
async fn finish_otp(api: &Api, w: &mut Worker, to: Destination, code: String, maybe_spent: bool, t: &mut Totals) {
    match w.redeem(api, to.clone(), code).await {
        Redeemed::Acknowledged => t.otp_redeemed_after_restart += usize::from(maybe_spent),
        Redeemed::Refused(answer) if maybe_spent && answer.oauth_error() == Some("invalid_grant") => {
            t.otp_spent_before_kill += 1;
        }
        other => api.tally.problem(format!("otp grant for {to:?} after the restart: {other:?}")),
    }
}

/// Refreshes a chain with its newest token: the family must go on, never revoked, whether its
/// last rotation was answered or lost. True for a retry of a lost one.
async fn continue_chain(api: &Api, chain: &mut Chain) -> bool {
    match api.refresh(&chain.token).await {
        Answer::Ok(tokens) => {
            let retried = chain.unanswered;
            chain.rotated(&tokens);
            retried
        }
        other => {
            let which = if chain.unanswered { "a retry of the unanswered refresh" } else { "the newest token" };
            api.tally.problem(format!("refresh with {which} after the restart: {other:?}"));
            false
        }
    }
}

/// Rotations survive, so a family never forks: a token whose successor was used before the kill
/// is reuse, refused, and the whole family with it (the newest token too). The chain ends here;
/// its user, or `None` when the worker had no chain with such a token.
async fn reuse_revokes(api: &Api, w: &mut Worker) -> Option<String> {
    let i = w.chains.iter().position(|c| c.stale.is_some())?;
    let chain = w.chains.remove(i);
    let stale = api.refresh(chain.stale.as_deref().unwrap_or_default()).await;
    if stale.oauth_error() != Some("invalid_grant") {
        api.tally.problem(format!("a token whose successor was used, presented after the restart: {stale:?}"));
    }
    let newest = api.refresh(&chain.token).await;
    if newest.oauth_error() != Some("invalid_grant") {
        api.tally.problem(format!("the newest token of a family revoked for reuse (forked?): {newest:?}"));
    }
    Some(chain.sub)
}

/// Indices of up to `n` random entries.
fn pick<T>(list: &[T], n: usize) -> Vec<usize> {
    (0..n.min(list.len())).map(|_| rand::random_range(0..list.len())).collect()
}

/// Checks ID tokens against the JWKS served now.
async fn verifier(api: &Api) -> CoreIdTokenVerifier<'static> {
    let jwks: CoreJsonWebKeySet = match api.jwks().await {
        Answer::Ok(jwks) => serde_json::from_value(jwks).unwrap(),
        other => panic!("the JWKS after a restart: {other:?}"),
    };
    let issuer = IssuerUrl::new(api.base.clone()).unwrap();
    CoreIdTokenVerifier::new_public_client(ClientId::new(api.client_id.clone()), issuer, jwks)
}

/// Checks sign-ins, several at once; how many.
async fn check_sign_ins<'s>(
    api: &Api,
    verifier: &CoreIdTokenVerifier<'_>,
    revoked: &HashSet<String>,
    sign_ins: impl Iterator<Item = &'s SignIn>,
) -> usize {
    let checks = sign_ins.map(|s| check_sign_in(api, verifier, s, revoked.contains(&s.sub)));
    futures_util::stream::iter(checks).buffer_unordered(CONCURRENCY).collect::<Vec<_>>().await.len()
}

/// An acknowledged sign-in is all there: the user, the session its ID token names, the access
/// token (or its revocation, when its family was `revoked`), the key that signed the ID token; and
/// the code it spent is refused (no code works twice).
async fn check_sign_in(api: &Api, verifier: &CoreIdTokenVerifier<'_>, s: &SignIn, revoked: bool) {
    let fail =
        |what: &str, found: &dyn Debug| api.tally.problem(format!("{what} of {} ({:?}): {found:?}", s.sub, s.to));
    match api.admin(&s.sub, "").await {
        Answer::Ok(user) if user[s.to.field()] == s.to.address() => {}
        other => fail("the user", &other),
    }
    match api.admin(&s.sub, "/sessions").await {
        Answer::Ok(list) if list["sessions"].as_array().is_some_and(|l| l.iter().any(|x| x["sid"] == *s.sid)) => {}
        other => fail("the session", &other),
    }
    match (api.userinfo(&s.access_token).await, revoked) {
        (Answer::Ok(info), false) if info["sub"] == *s.sub => {}
        (Answer::Refused(401, _), true) => {}
        (other, _) => fail(if revoked { "userinfo with a revoked access token" } else { "userinfo" }, &other),
    }
    let id_token: CoreIdToken = s.id_token.parse().unwrap();
    if let Err(e) = id_token.claims(verifier, |_: Option<&Nonce>| Ok(())) {
        fail("the ID token, against the JWKS after the restart", &e);
    }
    match api.otp(&s.to, &s.code).await {
        answer if answer.oauth_error() == Some("invalid_grant") => {}
        other => fail("a second use of the spent code", &other),
    }
}

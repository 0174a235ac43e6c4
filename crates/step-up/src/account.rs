//! Second factors as the account page manages them ([`Authenticators`]): setting up an
//! authenticator app outside a sign-in, and renewing recovery codes. The same secrets, sealing,
//! time steps and hashes as the step-up pages; the account page checks who is asking.

use std::sync::Arc;

use domain::audit::AuditEntry;
use domain::ports::{AuthenticatorSetup, Authenticators, BoxFuture, FactorError, FactorState};
use domain::{InteractionId, User, UserId};

use crate::StepUpService;
use crate::policy::Factor;
use crate::storage::{Confirm, StepUpAudit};

/// Step-up as the account page's keeper of second factors.
pub struct AccountFactors(pub Arc<StepUpService>);

fn unavailable(e: impl std::fmt::Display) -> FactorError {
    tracing::error!(error = %e, "account page: second factors");
    FactorError::Unavailable
}

impl AccountFactors {
    /// The sealed secret of the user's set-up pending under `ticket`, if there is one.
    async fn pending(&self, user: &UserId, ticket: &InteractionId) -> Result<Option<Vec<u8>>, FactorError> {
        let factor = self.0.store.totp_factor(user).await.map_err(unavailable)?;
        Ok(factor
            .filter(|f| f.confirmed_at.is_none() && f.interaction_id.as_ref() == Some(ticket))
            .map(|f| f.sealed_secret))
    }

    async fn audit(&self, user: &UserId, what: StepUpAudit) {
        let svc = &self.0;
        let entry = AuditEntry { what, user: Some(user.clone()), client: None, at: svc.clock.now() };
        if let Err(e) = svc.store.record(entry).await {
            tracing::error!(error = %e, "audit log");
        }
    }
}

impl Authenticators for AccountFactors {
    fn state<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, Result<FactorState, FactorError>> {
        Box::pin(async move {
            let svc = &self.0;
            let factor = svc.store.totp_factor(user).await.map_err(unavailable)?;
            let left = svc.store.recovery_codes_left(user).await.map_err(unavailable)?;
            let authenticator = factor.is_some_and(|f| f.confirmed_at.is_some());
            Ok(FactorState { authenticator, recovery_codes_left: left })
        })
    }

    fn begin<'a>(
        &'a self,
        user: &'a User,
        product: &'a str,
        ticket: Option<&'a InteractionId>,
    ) -> BoxFuture<'a, Result<AuthenticatorSetup, FactorError>> {
        Box::pin(async move {
            let svc = &self.0;
            let aad = format!("totp:{}", user.id);
            let pending = match ticket {
                Some(ticket) => self.pending(&user.id, ticket).await?,
                None => None,
            };
            let (ticket, secret) = match (pending, ticket) {
                (Some(sealed), Some(ticket)) => {
                    (ticket.clone(), svc.factor_sealer.open(aad.as_bytes(), &sealed).map_err(unavailable)?)
                }
                _ => {
                    // A ticket of its own, never a sign-in's: only the form that shows this QR
                    // code can confirm it.
                    let ticket = InteractionId::generate();
                    let secret = crate::totp::new_secret();
                    let sealed = svc.factor_sealer.seal(aad.as_bytes(), &secret);
                    if !svc.store.begin_totp(&user.id, sealed, &ticket, svc.clock.now()).await.map_err(unavailable)? {
                        return Err(FactorError::State);
                    }
                    (ticket, secret)
                }
            };
            let totp = crate::totp::totp(&secret, product, &crate::totp::account_label(user)).map_err(unavailable)?;
            let qr_svg = crate::totp::qr_svg(&totp).map_err(unavailable)?;
            let uri = totp.to_url().unwrap_or_default();
            Ok(AuthenticatorSetup { ticket, qr_svg, secret_text: crate::totp::secret_text(&totp), uri })
        })
    }

    fn confirm<'a>(
        &'a self,
        user: &'a UserId,
        ticket: &'a InteractionId,
        code: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, FactorError>> {
        Box::pin(async move {
            let svc = &self.0;
            let sealed = self.pending(user, ticket).await?.ok_or(FactorError::State)?;
            let secret = svc.factor_sealer.open(format!("totp:{user}").as_bytes(), &sealed).map_err(unavailable)?;
            // The label does not change the codes.
            let totp = crate::totp::totp(&secret, "-", "-").map_err(unavailable)?;
            let now = svc.clock.now();
            let step = crate::totp::check(&totp, code, now).ok_or(FactorError::Wrong)?;
            let codes = crate::totp::recovery_codes();
            let confirm =
                Confirm { interaction: ticket, recovery_codes: crate::totp::recovery_hashes(&svc.hasher, &codes) };
            if !svc.store.accept_totp_step(user, step, Some(confirm), now).await.map_err(unavailable)? {
                return Err(FactorError::Wrong);
            }
            self.audit(user, StepUpAudit::FactorEnrolled { factor: Factor::Totp }).await;
            Ok(codes)
        })
    }

    fn renew_recovery_codes<'a>(&'a self, user: &'a UserId) -> BoxFuture<'a, Result<Vec<String>, FactorError>> {
        Box::pin(async move {
            let svc = &self.0;
            let codes = crate::totp::recovery_codes();
            let hashes = crate::totp::recovery_hashes(&svc.hasher, &codes);
            if !svc.store.replace_recovery_codes(user, hashes, svc.clock.now()).await.map_err(unavailable)? {
                return Err(FactorError::State);
            }
            self.audit(user, StepUpAudit::RecoveryCodesRenewed { count: codes.len() }).await;
            Ok(codes)
        })
    }
}

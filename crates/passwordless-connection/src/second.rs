//! A code on the other channel as step-up's second factor ([`CodeChannel`]): sent to the user's
//! verified phone or email for the same interaction, under the same send limits and failure
//! budgets as a first-factor code.

use std::net::IpAddr;

use domain::ports::{BoxFuture, CodeChannel, CodeError};
use domain::{Channel, ClientIp, Destination, InteractionId, LoginMethod};
use web_layer::describe_user_agent;

use crate::OtpGate;
use crate::abuse::{Refusal, check_send};
use crate::challenge::{Origin, VerifyError, start_challenge, verify_code};
use crate::messages::Sent;
use crate::storage::Purpose;

impl CodeChannel for OtpGate {
    fn send(
        &self,
        interaction: InteractionId,
        to: Destination,
        ip: IpAddr,
        user_agent: Option<String>,
        lang: String,
    ) -> BoxFuture<'_, Result<u64, CodeError>> {
        Box::pin(async move {
            let conn = &self.0;
            let unavailable = |e: &dyn std::fmt::Display| {
                tracing::error!(error = %e, "second-factor code");
                CodeError::Unavailable
            };
            let interaction = match conn.store.interaction(&interaction).await {
                Ok(Some(i)) => i,
                Ok(None) => return Err(CodeError::Dead),
                Err(e) => return Err(unavailable(&e)),
            };
            if to.channel() == Channel::Sms && !conn.config.sms_policy.available {
                return Err(CodeError::Unavailable);
            }
            let origin = Origin {
                ip: ClientIp::new(ip),
                country: None,
                device: user_agent.as_deref().and_then(describe_user_agent),
            };
            match check_send(conn, &origin, &to).await {
                Ok(()) => {}
                Err(Refusal::Limited { retry_after } | Refusal::TooSoon { retry_after }) => {
                    return Err(CodeError::Limited { retry_after });
                }
                Err(Refusal::Blocked) => return Err(CodeError::Blocked),
                Err(Refusal::Country | Refusal::Unavailable) => return Err(CodeError::Unavailable),
            }
            let sent = Sent { code: true, link: false };
            match start_challenge(conn, &interaction, &to, Purpose::SecondFactor, sent, &origin, &lang).await {
                Ok(Some(_)) => Ok(crate::abuse::resend_in(conn, to.as_str()).await),
                Ok(None) => Err(CodeError::Dead),
                Err(e) => Err(unavailable(&e)),
            }
        })
    }

    fn verify(
        &self,
        interaction: InteractionId,
        destination: Destination,
        code: String,
        ip: IpAddr,
    ) -> BoxFuture<'_, Result<(), CodeError>> {
        Box::pin(async move {
            let conn = &self.0;
            // Only a challenge step-up itself started, to the user's own verified address or number
            // on the other channel: never a first-factor challenge of the same sign-in, whatever
            // the timing (a code to an address the user typed proves only that address).
            let latest = conn.store.latest_second_factor(&interaction, &destination).await.map_err(|e| {
                tracing::error!(error = %e, "second-factor code");
                CodeError::Unavailable
            })?;
            let settings = domain::ClientSettings { login_methods: LoginMethod::ALL.to_vec(), ..Default::default() };
            let origin = Origin { ip: ClientIp::new(ip), country: None, device: None };
            match verify_code(conn, &settings, latest, &code, &origin, None).await {
                Ok(_) => Ok(()),
                Err(VerifyError::Mismatch { remaining }) => Err(CodeError::Wrong { remaining }),
                Err(VerifyError::Blocked) => Err(CodeError::Blocked),
                Err(VerifyError::Unavailable | VerifyError::Store(_)) => Err(CodeError::Unavailable),
                Err(_) => Err(CodeError::Dead),
            }
        })
    }
}

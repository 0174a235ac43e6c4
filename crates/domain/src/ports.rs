//! The two places where the protocol crates need each other's work, as traits the server wires
//! together at start-up, so neither crate imports the other:
//! - the authorization server's OTP grant (Auth0's `passwordless/otp`) asks the passwordless
//!   connection to check a code ([`OtpVerifier`]);
//! - the passwordless API's `send=link` asks the authorization server to validate the client's
//!   authorization parameters and open an interaction for them ([`InteractionStarter`]);
//! - step-up's second factor by a code on the other channel is sent and checked by the
//!   passwordless connection ([`CodeChannel`]);
//! - the OTP grant asks step-up whether a sign-in made through the API may have tokens
//!   ([`ApiStepUp`]), the same decision the hosted pages take.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use crate::{Channel, ClientId, InteractionId, LoginResult};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A one-time code presented at the token endpoint for a destination.
#[derive(Clone, Debug)]
pub struct OtpRequest {
    pub client_id: ClientId,
    pub realm: Channel,
    /// The email address or phone number the code was sent to, as the client typed it.
    pub username: String,
    pub otp: String,
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    #[error("wrong email, phone number or verification code")]
    Invalid,
    #[error("this sign-in method is not enabled for the client")]
    MethodOff,
    #[error("too many wrong codes from this network")]
    Blocked,
    #[error("the code cannot be checked right now")]
    Unavailable,
}

pub trait OtpVerifier: Send + Sync {
    /// Spends the newest code sent through the API for this client and destination, if `otp` is
    /// it, and says who signed in and how.
    fn verify(&self, request: OtpRequest) -> BoxFuture<'_, Result<LoginResult, OtpError>>;
}

pub trait InteractionStarter: Send + Sync {
    /// Validates authorization parameters for `client` exactly as `/authorize` would, and opens an
    /// interaction no browser owns yet (the first browser to use the magic link will).
    fn start(&self, client: ClientId, params: Vec<(String, String)>) -> BoxFuture<'_, Result<InteractionId, String>>;
}

/// Why a code on the other channel was not sent or not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("the code is wrong")]
    Wrong { remaining: i32 },
    #[error("the code expired, was used, or was typed wrongly too often")]
    Dead,
    #[error("too many messages: try again in {retry_after} seconds")]
    Limited { retry_after: u64 },
    #[error("too many wrong codes from this network")]
    Blocked,
    #[error("codes cannot be sent or checked right now")]
    Unavailable,
}

/// A code on the other channel as a second factor: step-up asks the passwordless connection to
/// send one (to the user's verified phone or email) and to check it, under the same limits.
pub trait CodeChannel: Send + Sync {
    fn send(
        &self,
        interaction: InteractionId,
        channel: Channel,
        destination: String,
        ip: IpAddr,
        user_agent: Option<String>,
        lang: String,
    ) -> BoxFuture<'_, Result<(), CodeError>>;

    /// Checks `code` against the newest code sent by [`CodeChannel::send`] for `interaction` to
    /// `destination`, and no other.
    fn verify(
        &self,
        interaction: InteractionId,
        destination: String,
        code: String,
        ip: IpAddr,
    ) -> BoxFuture<'_, Result<(), CodeError>>;
}

/// A first factor proved through the passwordless API (the OTP grant), before any token exists.
#[derive(Clone, Debug)]
pub struct ApiSignIn {
    pub client_id: ClientId,
    pub login: LoginResult,
    pub ip: IpAddr,
    pub user_agent: Option<String>,
}

/// What step-up decides about an API sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiVerdict {
    /// Tokens may be issued for this login.
    Proceed(LoginResult),
    /// A second factor is needed (or must first be set up), which this API cannot ask for: the
    /// application sends the user through the hosted pages instead.
    MfaRequired,
    /// Refused: the client's policy, or a device the account's owner blocked.
    Denied,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the sign-in cannot be assessed right now")]
pub struct AssessError;

pub trait ApiStepUp: Send + Sync {
    /// Runs step-up's decision for a sign-in made without a browser. Fails closed: an error means
    /// no tokens.
    fn assess(&self, sign_in: ApiSignIn) -> BoxFuture<'_, Result<ApiVerdict, AssessError>>;
}

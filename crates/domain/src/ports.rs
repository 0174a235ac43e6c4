//! The two places where the protocol crates need each other's work, as traits the server wires
//! together at start-up, so neither crate imports the other:
//! - the authorization server's OTP grant (Auth0's `passwordless/otp`) asks the passwordless
//!   connection to check a code ([`OtpVerifier`]);
//! - the passwordless API's `send=link` asks the authorization server to validate the client's
//!   authorization parameters and open an interaction for them ([`InteractionStarter`]);
//! - step-up's second factor by a code on the other channel is sent and checked by the
//!   passwordless connection ([`CodeChannel`]);
//! - the OTP grant asks step-up whether a sign-in made through the API may have tokens
//!   ([`ApiStepUp`]), the same decision the hosted pages take;
//! - the admin API asks the authorization server what a bearer access token stands for
//!   ([`AccessTokens`]), so that only the server that signs tokens reads them;
//! - the admin API asks the passwordless connection, which owns the messages, to tell an account's
//!   owner at the address or number it is leaving ([`AccountNotices`]);
//! - the admin console and the account page ask the authorization server who is signed in on a
//!   browser, and how strongly ([`BrowserSessions`]): the session and its cookie are the
//!   authorization server's;
//! - the account page asks the passwordless connection to send a code that proves an address
//!   ([`AccountNotices::send_code`]), and step-up, which owns second factors, to set up an
//!   authenticator app or renew recovery codes ([`Authenticators`]).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use crate::{Channel, Client, ClientId, ClientSettings, Destination, Interaction, InteractionId, LoginResult};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A one-time code presented at the token endpoint for a destination.
#[derive(Clone, Debug)]
pub struct OtpRequest {
    pub client_id: ClientId,
    /// The (authenticated) client's policy: which sign-in methods it offers.
    pub client_settings: ClientSettings,
    pub realm: Channel,
    /// The email address or phone number the code was sent to, as the client typed it.
    pub username: String,
    /// The code the user typed (never printed by `Debug`).
    pub otp: crate::Secret,
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
    /// The code was right, but an admin has blocked the account.
    #[error("the account is blocked")]
    AccountBlocked,
    /// The code was right, but the operator's `before_user_created` hook refused the sign-up.
    #[error("the sign-up was refused")]
    SignUpRefused,
    #[error("the code cannot be checked right now")]
    Unavailable,
}

pub trait OtpVerifier: Send + Sync {
    /// Spends the newest code sent through the API for this client and destination, if `otp` is
    /// it, and says who signed in and how.
    fn verify(&self, request: OtpRequest) -> BoxFuture<'_, Result<LoginResult, OtpError>>;
}

/// What a sign-in started through the passwordless API will end with.
#[derive(Clone, Debug)]
pub enum ApiStart {
    /// A magic link that ends at the client's redirect URI with an authorization code, for these
    /// authorization parameters (`authParams`). No browser owns it until the first one opens the link.
    Link { params: Vec<(String, String)> },
    /// A code the client redeems with the OTP grant; never resumed by a browser. The interaction
    /// lives `ttl` seconds.
    Code { ui_locales: Option<String>, ttl: i64 },
}

/// Why an API caller was refused, or an interaction not opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("client authentication failed")]
    InvalidClient,
    #[error("this client may not use the passwordless API (its api_login setting is off)")]
    ApiLoginOff,
    /// The authorization parameters of a link were refused, as `/authorize` would refuse them.
    #[error("authParams: {0}")]
    InvalidRequest(String),
    #[error("the sign-in cannot be started right now")]
    Unavailable,
}

/// The authorization server owns clients and interactions; the passwordless API reaches them only
/// through this port.
pub trait InteractionStarter: Send + Sync {
    /// Authenticates an API caller exactly as the token endpoint would (a confidential client's
    /// secret, a public client's none), and checks that it may use the passwordless API.
    fn api_client(&self, client_id: String, secret: Option<crate::Secret>)
    -> BoxFuture<'_, Result<Client, StartError>>;

    /// Opens the interaction of a sign-in started through the API. A link's parameters are
    /// checked exactly as `/authorize` checks them.
    fn open(&self, client: ClientId, start: ApiStart) -> BoxFuture<'_, Result<Interaction, StartError>>;
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
    /// Sends a code for `interaction` to `destination`; the answer is the seconds until another
    /// may be sent there (the per-minute limit), for the page's countdown.
    fn send(
        &self,
        interaction: InteractionId,
        destination: Destination,
        ip: IpAddr,
        user_agent: Option<String>,
        lang: String,
    ) -> BoxFuture<'_, Result<u64, CodeError>>;

    /// Checks `code` against the newest code sent by [`CodeChannel::send`] for `interaction` to
    /// `destination`, and no other.
    fn verify(
        &self,
        interaction: InteractionId,
        destination: Destination,
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

/// What a live access token stands for (RFC 7662 §2.2's `sub`, `client_id` and `scope`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// The user, or the client itself for a `client_credentials` token.
    pub subject: String,
    pub client_id: ClientId,
    pub scope: crate::Scope,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the token cannot be checked right now")]
pub struct InspectError;

pub trait AccessTokens: Send + Sync {
    /// The token's meaning when it is one of ours, unexpired and not revoked; `Ok(None)` for any
    /// other string. An error means it could not be checked, and the caller refuses.
    fn inspect<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<Option<TokenInfo>, InspectError>>;
}

/// An account's sign-in address or number changed: its owner hears of it at the old one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactChanged {
    pub old: Destination,
    /// The new address or number, or none when it was removed.
    pub new: Option<Destination>,
    pub at: i64,
    /// A link that puts the old address or number back, when the owner made the change themselves
    /// (the account page): whoever holds the old one can undo a takeover for 7 days.
    pub undo_url: Option<String>,
    /// The owner's time zone (`zoneinfo`), for the time the notice gives; else UTC.
    pub zone: Option<String>,
}

/// How long the account page's codes live, in seconds.
pub const ACCOUNT_CODE_TTL: i64 = 600;

/// Why the account page sends a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodePurpose {
    /// To prove a new email address or phone number before it replaces the old one.
    ConfirmAddress,
    /// To confirm that the account's owner wants it deleted.
    DeleteAccount,
}

/// A code the account page made (and keeps as a keyed hash), for the connection to deliver.
#[derive(Clone, Debug)]
pub struct AccountCode {
    pub to: Destination,
    pub code: crate::Secret,
    pub purpose: CodePurpose,
    pub ip: IpAddr,
    pub lang: String,
    /// The product name the message carries (a client's branding, or the provider's).
    pub product: Option<String>,
    /// Counted against the send limits exactly as a real code, but never sent: the address is
    /// another account's, and neither the answer nor its limits may say so.
    pub silent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the notice could not be queued")]
pub struct NoticeError;

/// A passkey added to or removed from an account, told to its owner by email: whoever holds the
/// mailbox learns of a passkey they did not make, or of one taken away.
#[derive(Clone, Debug)]
pub struct PasskeyChanged {
    pub to: crate::EmailAddress,
    /// The passkey's name, as the account page shows it.
    pub name: String,
    /// Added (or else removed).
    pub added: bool,
    pub lang: String,
    /// The product name of the client's branding, when the change happened in one.
    pub product: Option<String>,
    /// The owner's time zone (`zoneinfo`), for the time the notice gives; else UTC.
    pub zone: Option<String>,
}

pub trait AccountNotices: Send + Sync {
    /// Queues the notice (an email, or a text to an old number), durably, before answering.
    fn contact_changed(&self, notice: ContactChanged) -> BoxFuture<'_, Result<(), NoticeError>>;

    /// Queues the email that tells an account's owner a passkey was added or removed.
    fn passkey_changed(&self, notice: PasskeyChanged) -> BoxFuture<'_, Result<(), NoticeError>>;

    /// Queues the account page's code to its address or number, under the same send limits as a
    /// sign-in code (per address, per network).
    fn send_code(&self, code: AccountCode) -> BoxFuture<'_, Result<(), CodeError>>;
}

/// A user's second factors, as the account page shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FactorState {
    pub authenticator: bool,
    pub recovery_codes_left: i64,
}

/// An authenticator app being set up: the QR code and key to show, and the ticket the confirming
/// form carries back (the pending secret belongs to it and to no sign-in).
#[derive(Clone, Debug)]
pub struct AuthenticatorSetup {
    pub ticket: crate::InteractionId,
    pub qr_svg: String,
    pub secret_text: String,
    /// The `otpauth://` URI the QR code holds, for a link that opens the app on a phone.
    pub uri: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FactorError {
    #[error("the code is wrong")]
    Wrong,
    /// Set-up: the user has an authenticator already. Recovery codes: the user has none.
    #[error("not possible in the account's state")]
    State,
    #[error("second factors cannot be changed right now")]
    Unavailable,
}

/// Step-up owns second factors; the account page sets them up through this port.
pub trait Authenticators: Send + Sync {
    fn state<'a>(&'a self, user: &'a crate::UserId) -> BoxFuture<'a, Result<FactorState, FactorError>>;

    /// Starts setting up an authenticator app for `user`, labelled `product` in the app; or, given
    /// the `ticket` of the set-up still pending, shows the same one again (after a wrong code).
    fn begin<'a>(
        &'a self,
        user: &'a crate::User,
        product: &'a str,
        ticket: Option<&'a crate::InteractionId>,
    ) -> BoxFuture<'a, Result<AuthenticatorSetup, FactorError>>;

    /// Turns the pending authenticator of `ticket` on if `code` is its current code; the ten new
    /// recovery codes, shown once, replace any older ones.
    fn confirm<'a>(
        &'a self,
        user: &'a crate::UserId,
        ticket: &'a crate::InteractionId,
        code: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, FactorError>>;

    /// Ten new recovery codes replace the old ones (only with an authenticator app).
    fn renew_recovery_codes<'a>(&'a self, user: &'a crate::UserId) -> BoxFuture<'a, Result<Vec<String>, FactorError>>;
}

/// The login behind a browser's session at the provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserLogin {
    pub user_id: crate::UserId,
    pub acr: crate::Acr,
    pub auth_time: crate::AuthTime,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the session cannot be checked right now")]
pub struct SessionLookupError;

pub trait BrowserSessions: Send + Sync {
    /// The live session the request's `Cookie` header carries, if any.
    fn signed_in<'a>(
        &'a self,
        cookie_header: &'a str,
    ) -> BoxFuture<'a, Result<Option<BrowserLogin>, SessionLookupError>>;
}

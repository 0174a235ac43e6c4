//! Ostiary's shared vocabulary. Every type that crosses a crate boundary lives here, so the three
//! protocol crates (`authorization-server`, `passwordless-connection`, `step-up`) never need each other.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod branding;
pub mod client;
mod client_hooks;
mod client_ip;
pub mod client_keys;
pub mod client_rules;
mod client_step_up;
pub mod client_subject;
pub mod clock;
pub mod counters;
pub mod destination;
pub mod email;
pub mod events;
pub mod i18n;
pub mod ids;
pub mod interaction;
pub mod message;
pub mod phone;
pub mod ports;
pub mod profile;
pub mod secret;
pub mod settings;
pub mod storage;
pub mod user;

pub use auth::{Acr, Amr, AuthTime, Scope};
pub use client::{
    ApplicationType, Branding, Channel, Client, ClientHooks, ClientSecretJwt, ClientSettings, LoginMethod, Pairwise,
    PreviousSecret, PrivateKeyJwt, RefreshPolicy, RequestObjects, SigningAlg, StepUp, StepUpPolicy, WithoutFactor,
};
pub use client_ip::ClientIp;
pub use clock::{Clock, FakeClock, SystemClock};
pub use destination::Destination;
pub use email::{EmailAddress, EmailError};
pub use ids::{ChallengeId, ClientId, GrantId, InteractionId, MessageId, UserId};
pub use interaction::{DenyReason, Interaction, InteractionKind, LoginResult};
pub use phone::{PhoneError, PhoneNumber};
pub use profile::{Address, Profile, ProfileError};
pub use secret::{KeyedHasher, MasterKey, Secret, TokenHash};
pub use settings::Issuer;
pub use storage::StorageError;
pub use user::User;

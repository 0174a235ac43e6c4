//! Ostiary's shared vocabulary. Every type that crosses a crate boundary lives here, so the three
//! protocol crates (`authorization-server`, `passwordless-connection`, `step-up`) never need each other.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client;
pub mod clock;
pub mod email;
pub mod i18n;
pub mod ids;
pub mod interaction;
pub mod phone;
pub mod ports;
pub mod profile;
pub mod secret;
pub mod web;

pub use auth::{Acr, Amr, AuthTime};
pub use client::{Branding, Channel, ClientSettings, LoginMethod, RefreshPolicy, StepUp, StepUpPolicy, WithoutFactor};
pub use clock::{Clock, FakeClock, SystemClock};
pub use email::{EmailAddress, EmailError};
pub use ids::{ClientId, InteractionId, UserId};
pub use interaction::{Interaction, InteractionKind, LoginResult};
pub use phone::{PhoneError, PhoneNumber};
pub use profile::{Address, Profile, ProfileError};
pub use secret::{KeyedHasher, MasterKey, Secret, TokenHash};

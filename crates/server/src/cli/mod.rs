//! The command line's administration commands: `user`, `client`, `blocks`.

mod blocks;
mod client;
mod user;

pub use blocks::{BlocksCommand, blocks};
pub use client::{ClientCommand, PolicyArgs, client};
pub use user::{UserCommand, user};

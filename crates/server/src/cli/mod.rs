//! The command line's administration commands: `user`, `client`, `blocks`, `hooks`.

mod blocks;
mod client;
mod hook_test;
mod user;

pub use blocks::{BlocksCommand, blocks};
pub use client::{ClientCommand, PolicyArgs, client};
pub use hook_test::{HooksCommand, hooks};
pub use user::{UserCommand, user};

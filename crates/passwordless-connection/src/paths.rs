//! The paths of the connection's pages and API: mounted from these constants, and linked to with
//! the functions. The login page itself is `web_layer::paths::LOGIN`.

use domain::InteractionId;
use web_layer::paths;

pub const CODE: &str = "/login/{interaction}/code";
pub const RESEND: &str = "/login/{interaction}/resend";
pub const STATUS: &str = "/login/{interaction}/status";
pub const APPROVED: &str = "/login/{interaction}/approved";
pub const LINK: &str = "/login/link/{token}";
pub const LINK_SUBMIT: &str = "/login/link";
pub const LINK_APPROVE: &str = "/login/link/approve";
pub const UNBLOCK: &str = "/unblock/{token}";
pub const UNBLOCK_SUBMIT: &str = "/unblock";
pub use web_layer::paths::{BRAND, brand};
pub const START: &str = "/passwordless/start";

/// The code page of a sign-in.
pub fn code(id: &InteractionId) -> String {
    paths::fill(CODE, id)
}

/// A magic link, under the public URL `base`.
pub fn link(base: &str, token: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), LINK.replace("{token}", token))
}

/// An unblock link, under the public URL `base`.
pub fn unblock(base: &str, token: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), UNBLOCK.replace("{token}", token))
}

/// The options of a usernameless passkey sign-in (JSON, for the login page's script).
pub const PASSKEY_OPTIONS: &str = "/login/{interaction}/passkey/options";
/// The browser's answer to them (a form post).
pub const PASSKEY: &str = "/login/{interaction}/passkey";

//! The paths of step-up's pages: mounted from these constants, and linked to with the functions.
//! Step-up's own page is `web_layer::paths::STEP_UP`.

use domain::InteractionId;
use web_layer::paths;

pub const TOTP: &str = "/step-up/{interaction}/totp";
pub const SEND: &str = "/step-up/{interaction}/send";
pub const CODE: &str = "/step-up/{interaction}/code";
pub const ENROLL: &str = "/step-up/{interaction}/enroll";
pub const CANCEL: &str = "/step-up/{interaction}/cancel";
/// A passkey as the second factor: its options (JSON), and the browser's answer.
pub const KEY_OPTIONS: &str = "/step-up/{interaction}/key/options";
pub const KEY: &str = "/step-up/{interaction}/key";
pub const PASSKEY: &str = "/step-up/{interaction}/passkey";
pub const PASSKEY_OPTIONS: &str = "/step-up/{interaction}/passkey/options";
pub const PASSKEY_SKIP: &str = "/step-up/{interaction}/passkey/skip";
pub const NOT_ME: &str = "/not-me/{token}";
pub const NOT_ME_SUBMIT: &str = "/not-me";

/// The authenticator set-up page of a sign-in.
pub fn enroll(id: &InteractionId) -> String {
    paths::fill(ENROLL, id)
}

/// The offer of a passkey after a sign-in.
pub fn passkey(id: &InteractionId) -> String {
    paths::fill(PASSKEY, id)
}

/// A "This wasn't me" link, under the public URL `base`.
pub fn not_me(base: &str, token: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), NOT_ME.replace("{token}", token))
}

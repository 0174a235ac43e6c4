//! The paths of the authorization server's endpoints: mounted from these constants, and advertised
//! from them in discovery. The hand-off path `/authorize/resume/{interaction}` is
//! `web_layer::paths::RESUME`.

pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const JWKS: &str = "/jwks.json";
/// Auth0's path for the JWKS, for applications and SDKs moving over.
pub const JWKS_AUTH0: &str = "/.well-known/jwks.json";
pub const AUTHORIZE: &str = "/authorize";
pub const TOKEN: &str = "/token";
/// Pushed authorization requests (RFC 9126).
pub const PAR: &str = "/par";
/// Auth0's token endpoint, which also takes JSON bodies.
pub const OAUTH_TOKEN: &str = "/oauth/token";
pub const USERINFO: &str = "/userinfo";
pub const REGISTER: &str = "/register";
pub const REVOKE: &str = "/revoke";
pub const INTROSPECT: &str = "/introspect";
pub const LOGOUT: &str = "/logout";
/// Session Management 1.0 §3.3: the `check_session_iframe`.
pub const CHECK_SESSION: &str = "/session/check";
pub const LOGOUT_CONFIRM: &str = "/logout/confirm";
/// The Device Authorization Grant (RFC 8628): the device's endpoint, and the page the user types
/// its code at.
pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
pub const DEVICE: &str = "/device";

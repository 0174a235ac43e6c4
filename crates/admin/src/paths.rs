//! The paths of the admin API: mounted from these constants, and linked to with the functions.

use domain::UserId;

/// The console's home, and where the hosted pages send an admin back to.
pub const CONSOLE: &str = "/admin";
pub const CONSOLE_CALLBACK: &str = "/admin/callback";
pub const CONSOLE_USERS: &str = "/admin/users";
pub const CONSOLE_USER: &str = "/admin/users/{id}";
pub const CONSOLE_USER_BLOCK: &str = "/admin/users/{id}/block";
pub const CONSOLE_USER_UNBLOCK: &str = "/admin/users/{id}/unblock";
pub const CONSOLE_FACTORS_RESET: &str = "/admin/users/{id}/factors/reset";
pub const CONSOLE_USER_ERASE: &str = "/admin/users/{id}/erase";
pub const CONSOLE_USER_LINKS: &str = "/admin/users/{id}/links";
pub const CONSOLE_USER_UNLINK: &str = "/admin/users/{id}/links/{other}/unlink";
pub const CONSOLE_USER_PASSKEY_REMOVE: &str = "/admin/users/{id}/passkeys/{passkey}/remove";
pub const CONSOLE_ACTIVITY: &str = "/admin/users/{id}/activity";
pub const CONSOLE_END_SESSION: &str = "/admin/users/{id}/sessions/{sid}/end";
pub const CONSOLE_SECURITY: &str = "/admin/security";
pub const CONSOLE_LIFT: &str = "/admin/blocks/{id}/lift";
pub const CONSOLE_AUDIT: &str = "/admin/audit";

/// The account page, where people manage their own account.
pub const ACCOUNT: &str = "/account";
pub const ACCOUNT_CALLBACK: &str = "/account/callback";
pub const ACCOUNT_PROFILE: &str = "/account/profile";
/// `{field}` is `email` or `phone`.
pub const ACCOUNT_CONTACT: &str = "/account/{field}";
pub const ACCOUNT_CONTACT_CONFIRM: &str = "/account/{field}/confirm";
pub const ACCOUNT_EMAIL: &str = "/account/email";
pub const ACCOUNT_PHONE: &str = "/account/phone";
pub const ACCOUNT_UNDO: &str = "/account/undo/{token}";
pub const ACCOUNT_SESSION_END: &str = "/account/sessions/{sid}/end";
pub const ACCOUNT_END_ALL: &str = "/account/sessions/end";
pub const ACCOUNT_AUTHENTICATOR: &str = "/account/authenticator";
pub const ACCOUNT_AUTHENTICATOR_REMOVE: &str = "/account/authenticator/remove";
pub const ACCOUNT_RECOVERY_CODES: &str = "/account/recovery-codes";
pub const ACCOUNT_DATA: &str = "/account/data";
pub const ACCOUNT_PASSKEYS: &str = "/account/passkeys";
pub const ACCOUNT_PASSKEY_OPTIONS: &str = "/account/passkeys/options";
pub const ACCOUNT_PASSKEY_RENAME: &str = "/account/passkeys/{id}/rename";
pub const ACCOUNT_PASSKEY_REMOVE: &str = "/account/passkeys/{id}/remove";
pub const ACCOUNT_DELETE: &str = "/account/delete";
pub const ACCOUNT_DELETE_CODE: &str = "/account/delete/code";

pub fn account_session_end(sid: &str) -> String {
    ACCOUNT_SESSION_END.replace("{sid}", sid)
}

pub fn account_passkey_rename(id: &str) -> String {
    ACCOUNT_PASSKEY_RENAME.replace("{id}", id)
}

pub fn account_passkey_remove(id: &str) -> String {
    ACCOUNT_PASSKEY_REMOVE.replace("{id}", id)
}

pub fn account_undo(token: &str) -> String {
    ACCOUNT_UNDO.replace("{token}", token)
}

pub const CONSOLE_CLIENTS: &str = "/admin/clients";
pub const CONSOLE_CLIENT: &str = "/admin/clients/{id}";
pub const CONSOLE_CLIENT_SECRET: &str = "/admin/clients/{id}/secret";
pub const CONSOLE_CLIENT_STATUS: &str = "/admin/clients/{id}/status";
pub const CONSOLE_CLIENT_PREVIEW: &str = "/admin/clients/{id}/preview";

/// A client's console page.
pub fn console_client(id: &domain::ClientId) -> String {
    CONSOLE_CLIENT.replace("{id}", id.as_str())
}

/// A user's console page.
pub fn console_user(id: &UserId) -> String {
    CONSOLE_USER.replace("{id}", id.as_str())
}

/// Everything of the API lives under this prefix (`v1`: a breaking change gets `v2` beside it).
pub const API: &str = "/api/admin/v1";
pub const USERS: &str = "/api/admin/v1/users";
pub const USER: &str = "/api/admin/v1/users/{id}";
/// Registered before [`USER`], which would otherwise take `export` and `import` for ids.
pub const USERS_EXPORT: &str = "/api/admin/v1/users/export";
pub const USERS_IMPORT: &str = "/api/admin/v1/users/import";
pub const USER_BLOCK: &str = "/api/admin/v1/users/{id}/block";
pub const USER_UNBLOCK: &str = "/api/admin/v1/users/{id}/unblock";
pub const USER_FACTORS_RESET: &str = "/api/admin/v1/users/{id}/factors/reset";
pub const USER_LINKS: &str = "/api/admin/v1/users/{id}/links";
pub const USER_LINK: &str = "/api/admin/v1/users/{id}/links/{other}";
pub const USER_SESSIONS: &str = "/api/admin/v1/users/{id}/sessions";
pub const USER_PASSKEYS: &str = "/api/admin/v1/users/{id}/passkeys";
pub const USER_PASSKEY: &str = "/api/admin/v1/users/{id}/passkeys/{passkey}";
pub const USER_EVENTS: &str = "/api/admin/v1/users/{id}/events";
pub const SESSION: &str = "/api/admin/v1/sessions/{sid}";
pub const CLIENTS: &str = "/api/admin/v1/clients";
pub const CLIENT: &str = "/api/admin/v1/clients/{id}";
pub const CLIENT_SECRET: &str = "/api/admin/v1/clients/{id}/secret";
pub const BLOCKS: &str = "/api/admin/v1/blocks";
pub const BLOCK: &str = "/api/admin/v1/blocks/{id}";
pub const AUDIT: &str = "/api/admin/v1/audit";
pub const WEBHOOKS: &str = "/api/admin/v1/webhooks";
pub const WEBHOOK_ENABLE: &str = "/api/admin/v1/webhooks/{name}/enable";
pub const EVENTS: &str = "/api/admin/v1/events";
pub const EVENT_REPLAY: &str = "/api/admin/v1/events/{id}/replay";
pub const CONSOLE_WEBHOOKS: &str = "/admin/webhooks";
pub const CONSOLE_WEBHOOK_ENABLE: &str = "/admin/webhooks/{name}/enable";
pub const CONSOLE_EVENT_REPLAY: &str = "/admin/events/{id}/replay";
/// The OpenAPI 3.1 document of the API.
pub const OPENAPI: &str = "/api/admin/v1/openapi.json";

/// The URL path of one user (its `Location`).
pub fn user(id: &UserId) -> String {
    USER.replace("{id}", id.as_str())
}

-- Passkeys (WebAuthn credentials). Each account shows authenticators a random user handle, never
-- its address (WebAuthn §14.6.1); the credential itself is webauthn-rs's JSON (public key,
-- algorithm, counter, flags), with what pages and the audit show beside it.
CREATE TABLE passkey_users (
    user_id TEXT PRIMARY KEY NOT NULL,
    handle TEXT NOT NULL UNIQUE
);
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    credential_id BLOB NOT NULL UNIQUE,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    backed_up BOOLEAN NOT NULL,
    transports TEXT NOT NULL,
    aaguid TEXT,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);
-- Ceremonies waiting for a browser's answer: webauthn-rs's state (its challenge), under the key of
-- what started it, for the browser that asked; taken by the first answer.
CREATE TABLE passkey_ceremonies (
    ceremony_key TEXT PRIMARY KEY NOT NULL,
    user_id TEXT,
    browser_hash BLOB NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);

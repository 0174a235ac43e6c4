-- Step-up. The interaction learns what the client asked for (acr), what the first factor proved
-- (the connection's result, waiting for step-up), and whether step-up refused the sign-in.
ALTER TABLE interactions ADD COLUMN requested_acr TEXT NOT NULL DEFAULT '[]';
ALTER TABLE interactions ADD COLUMN first_factor TEXT;
ALTER TABLE interactions ADD COLUMN denied TEXT;

-- Browsers a user signed in on (the keyed hash of the device cookie's id). Known after a
-- successful sign-in; blocked by "This wasn't me".
CREATE TABLE devices (
    user_id TEXT NOT NULL,
    id_hash BLOB NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    blocked_at BIGINT,
    PRIMARY KEY (user_id, id_hash)
);

-- Every sign-in that got past the first factor: where from, on what, what step-up decided and why.
CREATE TABLE login_events (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ip TEXT NOT NULL,
    network TEXT NOT NULL,
    country TEXT,
    device_hash BLOB NOT NULL,
    device TEXT NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT NOT NULL,
    reasons TEXT NOT NULL,
    outcome TEXT NOT NULL,
    not_me_hash BLOB,
    not_me_at BIGINT
);
CREATE INDEX login_events_user ON login_events (user_id, created_at);
CREATE UNIQUE INDEX login_events_not_me ON login_events (not_me_hash);

-- Authenticator apps (RFC 6238). The secret is sealed (AES-256-GCM); last_step is the last time
-- step accepted, so a code is never accepted twice.
CREATE TABLE totp_factors (
    user_id TEXT PRIMARY KEY NOT NULL,
    sealed_secret BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT
);

-- Single-use recovery codes, stored as keyed hashes.
CREATE TABLE recovery_codes (
    code_hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- What the security-relevant decisions were and why (step-up reasons, blocks, "This wasn't me").
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_user ON audit_log (user_id, created_at);

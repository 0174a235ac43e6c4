-- Times are Unix seconds (BIGINT); secrets are stored only as HMAC-SHA256 (BLOB); lists are JSON text.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT UNIQUE,
    email_verified BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash BLOB,
    is_public BOOLEAN NOT NULL,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    sealed_private BLOB NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE interactions (
    id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    login_hint TEXT,
    request TEXT NOT NULL,
    browser_hash BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    result TEXT,
    completed_at BIGINT,
    resumed_at BIGINT
);

CREATE TABLE challenges (
    id TEXT PRIMARY KEY NOT NULL,
    interaction_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    destination TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    link_hash BLOB NOT NULL UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    consumed_at BIGINT,
    superseded BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX challenges_destination ON challenges (destination);
CREATE INDEX challenges_interaction ON challenges (interaction_id);

CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT,
    html_body TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    provider TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX messages_due ON messages (status, next_attempt_at);

CREATE TABLE sessions (
    id_hash BLOB PRIMARY KEY NOT NULL,
    sid TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    amr TEXT NOT NULL,
    acr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE authorization_codes (
    code_hash BLOB PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    amr TEXT NOT NULL,
    acr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    redeemed_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX tokens_grant ON tokens (grant_id);

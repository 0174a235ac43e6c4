-- OIDC Back-Channel Logout 1.0: one row per client to tell that a session ended, written in the
-- transaction that ends it, so the notice is never lost; the worker sends the logout token (jti is
-- its jti) and retries until the client answers or the notice is given up (settled_at, with
-- last_error). Settled rows are purged after the retention.
CREATE TABLE logout_notices (
    jti TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    settled_at BIGINT,
    last_error TEXT
);
CREATE INDEX logout_notices_due ON logout_notices (settled_at, next_attempt_at);

-- The client assertions (private_key_jwt, RFC 7523) already used, by the keyed hash of their jti,
-- kept until they expire: an assertion authenticates once (RFC 7523 §3 item 7, OIDC Core §9).
CREATE TABLE client_assertions (
    client_id TEXT NOT NULL,
    jti_hash BYTEA NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti_hash)
);
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);

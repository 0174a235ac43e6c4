-- Pushed authorization requests (RFC 9126): a client's checked authorization request, kept under
-- the keyed hash of the reference its request_uri carries, used once at /authorize before it
-- expires, and purged after that.
CREATE TABLE pushed_requests (
    reference_hash BLOB PRIMARY KEY,
    client_id TEXT NOT NULL,
    params TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);

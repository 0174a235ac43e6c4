-- The Device Authorization Grant (RFC 8628): a device's request, kept under the keyed hashes of its
-- device_code (which the device polls /token with) and of its user_code (which the user types at
-- /device). Approved, it names the authorization code the device's poll redeems (code_hash);
-- denied, it says so. Purged once expired.
CREATE TABLE device_codes (
    device_code_hash BYTEA PRIMARY KEY,
    user_code_hash BYTEA NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    poll_interval BIGINT NOT NULL,
    polled_at BIGINT,
    approved_at BIGINT,
    denied_at BIGINT,
    code_hash BYTEA
);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);

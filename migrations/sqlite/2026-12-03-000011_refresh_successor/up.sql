-- The successor a refresh token was rotated into, so that a retry within the reuse leeway can
-- replace a successor the client never received instead of revoking the grant.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash BLOB;

-- OIDC Core §5.1: a user's phone (E.164, one account per number) and the profile/address claims
-- (a JSON object), with updated_at for the `updated_at` claim.
ALTER TABLE users ADD COLUMN phone TEXT;
ALTER TABLE users ADD COLUMN phone_verified BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE users SET updated_at = created_at;
CREATE UNIQUE INDEX users_phone ON users (phone);
-- Per-client policy as one JSON document (domain::ClientSettings); every field has a default.
ALTER TABLE clients ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

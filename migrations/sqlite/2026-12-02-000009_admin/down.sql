ALTER TABLE users DROP COLUMN blocked_at;
ALTER TABLE users DROP COLUMN version;
ALTER TABLE users DROP COLUMN is_admin;

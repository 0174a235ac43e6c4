DROP INDEX users_linked_to;
ALTER TABLE users DROP COLUMN linked_to;
ALTER TABLE clients DROP COLUMN version;
ALTER TABLE clients DROP COLUMN disabled_at;
ALTER TABLE clients DROP COLUMN previous_secret_until;
ALTER TABLE clients DROP COLUMN previous_secret_hash;
ALTER TABLE users DROP COLUMN blocked_at;
ALTER TABLE users DROP COLUMN version;
ALTER TABLE users DROP COLUMN is_admin;

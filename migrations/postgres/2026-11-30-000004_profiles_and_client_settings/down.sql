ALTER TABLE clients DROP COLUMN settings;
DROP INDEX users_phone;
ALTER TABLE users DROP COLUMN updated_at;
ALTER TABLE users DROP COLUMN profile;
ALTER TABLE users DROP COLUMN phone_verified;
ALTER TABLE users DROP COLUMN phone;

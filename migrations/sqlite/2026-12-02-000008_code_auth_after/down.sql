ALTER TABLE authorization_codes DROP COLUMN auth_after;

ALTER TABLE authorization_codes DROP COLUMN ends_with_session;
ALTER TABLE authorization_codes DROP COLUMN auth_after;

ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE authorization_codes DROP COLUMN dpop_jkt;

DROP TABLE audit_log;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
DROP TABLE login_events;
DROP TABLE devices;
ALTER TABLE interactions DROP COLUMN denied;
ALTER TABLE interactions DROP COLUMN first_factor;
ALTER TABLE interactions DROP COLUMN requested_acr;

ALTER TABLE totp_factors DROP COLUMN interaction_id;
ALTER TABLE interactions DROP COLUMN kind;
ALTER TABLE challenges DROP COLUMN purpose;

DROP TABLE ip_blocks;
DROP INDEX challenges_client_destination;
ALTER TABLE challenges DROP COLUMN origin;
ALTER TABLE challenges DROP COLUMN client_id;
ALTER TABLE challenges DROP COLUMN approved_at;
ALTER TABLE interactions DROP COLUMN ui_locales;

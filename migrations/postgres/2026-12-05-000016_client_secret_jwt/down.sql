ALTER TABLE clients DROP COLUMN previous_secret_sealed;
ALTER TABLE clients DROP COLUMN secret_sealed;

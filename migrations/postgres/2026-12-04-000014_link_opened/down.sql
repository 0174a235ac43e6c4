ALTER TABLE challenges DROP COLUMN opened_elsewhere_at;

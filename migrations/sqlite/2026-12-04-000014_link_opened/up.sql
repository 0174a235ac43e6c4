-- When a challenge's magic link was first opened on a device other than the one that asked to sign
-- in: only then does the waiting page show the number to type there (cross-device approval).
ALTER TABLE challenges ADD COLUMN opened_elsewhere_at BIGINT;

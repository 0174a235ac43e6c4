-- The account page's pending codes: one per account and purpose ('email' or 'phone' to prove a
-- new address or number, 'delete' to confirm deleting the account), as a keyed hash, with the
-- address it went to and the wrong tries so far. A new code replaces the old one.
CREATE TABLE account_codes (
    user_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    destination TEXT NOT NULL,
    code_hash BLOB NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, purpose)
);
-- The undo links sent to an old address or number when the owner replaced it on the account page
-- (keyed hashes): for 7 days, whoever holds the old one can put it back.
CREATE TABLE contact_undos (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX contact_undos_user ON contact_undos (user_id);

-- The language the client asked for (ui_locales, OIDC Core §3.1.2.1), for pages and messages.
ALTER TABLE interactions ADD COLUMN ui_locales TEXT;
-- A magic link opened on another device and approved there (cross-device sign-in).
ALTER TABLE challenges ADD COLUMN approved_at BIGINT;
-- The client a challenge was started for (the API finds challenges by client and destination).
ALTER TABLE challenges ADD COLUMN client_id TEXT NOT NULL DEFAULT '';
CREATE INDEX challenges_client_destination ON challenges (client_id, destination);
-- Where the sign-in was started ("203.0.113.9 (Firefox on Linux)"), shown when the link is opened
-- on another device so the person approving can tell whether it was them.
ALTER TABLE challenges ADD COLUMN origin TEXT NOT NULL DEFAULT '';
-- IP addresses blocked after too many wrong codes: for one account (`account` is the keyed hash of
-- its address) or for every account (`account` empty). unblock_hash: keyed hash of the token in the
-- unblock link sent to the account's owner.
CREATE TABLE ip_blocks (
    id TEXT PRIMARY KEY NOT NULL,
    ip TEXT NOT NULL,
    account TEXT NOT NULL,
    reason TEXT NOT NULL,
    unblock_hash BLOB,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    lifted_at BIGINT
);
CREATE INDEX ip_blocks_ip ON ip_blocks (ip, account);

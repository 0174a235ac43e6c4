-- The admin role: who may use the console at /admin (granted with `ostiary user create --admin`
-- or `ostiary user update ID --admin true`).
ALTER TABLE users ADD COLUMN is_admin BOOLEAN NOT NULL DEFAULT FALSE;
-- Optimistic concurrency for admin edits: every change to the row adds one, and an edit names the
-- version it was made from (RFC 9110 §13.1.1 If-Match / §8.8.3 ETag), so nothing is silently lost.
ALTER TABLE users ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- When an admin blocked the account (NULL: not blocked). A blocked account's sessions and grants
-- are ended with the block, and its sign-ins are refused.
ALTER TABLE users ADD COLUMN blocked_at BIGINT;
-- A rotated client secret stays valid until previous_secret_until, so the client's servers can
-- move to the new one without downtime.
ALTER TABLE clients ADD COLUMN previous_secret_hash BLOB;
ALTER TABLE clients ADD COLUMN previous_secret_until BIGINT;
-- A disabled client cannot authenticate, start a sign-in or use its tokens.
ALTER TABLE clients ADD COLUMN disabled_at BIGINT;
-- Optimistic concurrency for admin edits, as for users.
ALTER TABLE clients ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- A linked account: signing in with its email address or phone number signs in as the account it
-- is linked to (the same sub). NULL: an account of its own.
ALTER TABLE users ADD COLUMN linked_to TEXT;
CREATE INDEX users_linked_to ON users (linked_to);
-- Who wrote an admin entry (the admin API client), so the log can be filtered by actor exactly.
ALTER TABLE audit_log ADD COLUMN actor TEXT;
CREATE INDEX audit_log_actor ON audit_log (actor);

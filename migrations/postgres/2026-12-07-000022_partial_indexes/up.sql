-- Indexes on columns that are NULL in almost every row hold only the rows that have a value.
-- Most users have no phone number and no link, most sign-ins are never reported as "not me", and
-- most audit entries have no admin as actor: every such row still added an index entry (NULLs
-- are indexed), and each sign-in's commits wrote those index pages for nothing. Every query on
-- these columns compares them with `=`, which implies IS NOT NULL, so both SQLite
-- (https://sqlite.org/partialindex.html#queries_using_partial_indexes) and PostgreSQL
-- (https://www.postgresql.org/docs/current/indexes-partial.html) still use them. A unique index
-- never counted NULLs as equal, so uniqueness is unchanged.
DROP INDEX users_phone;
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone IS NOT NULL;
DROP INDEX users_linked_to;
CREATE INDEX users_linked_to ON users (linked_to) WHERE linked_to IS NOT NULL;
DROP INDEX login_events_not_me;
CREATE UNIQUE INDEX login_events_not_me ON login_events (not_me_hash) WHERE not_me_hash IS NOT NULL;
DROP INDEX audit_log_actor;
CREATE INDEX audit_log_actor ON audit_log (actor) WHERE actor IS NOT NULL;

DROP INDEX users_phone;
CREATE UNIQUE INDEX users_phone ON users (phone);
DROP INDEX users_linked_to;
CREATE INDEX users_linked_to ON users (linked_to);
DROP INDEX login_events_not_me;
CREATE UNIQUE INDEX login_events_not_me ON login_events (not_me_hash);
DROP INDEX audit_log_actor;
CREATE INDEX audit_log_actor ON audit_log (actor);

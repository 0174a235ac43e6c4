-- Events for the operator's webhook endpoints, written in the transaction of what they describe
-- (the id is the `webhook-id` every attempt carries), and one delivery per endpoint that wants
-- the event, leased by a node while it is being sent (`next_attempt_at` moved past the attempt).
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    -- Whom it is about: an erasure anonymises its payload.
    user_id TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_created ON events (created_at);
CREATE INDEX events_user ON events (user_id);
CREATE TABLE event_deliveries (
    event_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    delivered_at BIGINT,
    -- Every attempt's number (only ever grows: a lease is the attempt's while it matches), and the
    -- failures since the last success, enabling or replay (the back-off's step).
    attempts INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    PRIMARY KEY (event_id, endpoint)
);
CREATE INDEX event_deliveries_due ON event_deliveries (delivered_at, next_attempt_at);
-- Each endpoint's health: failing since the first failure after a success; disabled once it has
-- failed for longer than its `disable_after_minutes`, until an admin enables it again.
CREATE TABLE webhook_endpoints (
    name TEXT PRIMARY KEY NOT NULL,
    failing_since BIGINT,
    disabled_at BIGINT,
    last_error TEXT,
    last_success_at BIGINT
);

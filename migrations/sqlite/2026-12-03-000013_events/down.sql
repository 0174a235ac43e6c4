DROP TABLE webhook_endpoints;
DROP TABLE event_deliveries;
DROP TABLE events;

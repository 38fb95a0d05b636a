-- Metered services: raw usage events (deduplicated by their id, kept for a
-- configurable time for audit), monthly totals maintained in the same
-- transaction as the events, the month's highest billable user count, and the
-- threshold alerts already raised (once per month, service and level).

CREATE TABLE metering_event (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    occurred_at TEXT NOT NULL,
    month TEXT NOT NULL,
    received_at TEXT NOT NULL
);

CREATE INDEX metering_event_received ON metering_event (received_at);

CREATE TABLE metering_month (
    service TEXT NOT NULL,
    month TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (service, month)
);

CREATE TABLE metering_users (
    month TEXT PRIMARY KEY,
    max_users BIGINT NOT NULL
);

CREATE TABLE metering_alert (
    service TEXT NOT NULL,
    month TEXT NOT NULL,
    level BIGINT NOT NULL,
    raised_at TEXT NOT NULL,
    PRIMARY KEY (service, month, level)
);

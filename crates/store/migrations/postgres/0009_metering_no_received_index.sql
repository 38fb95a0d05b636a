-- Ingest is the hot path: every secondary index on metering_event costs each
-- batch. The retention purge (at most hourly) scans instead.
DROP INDEX metering_event_received;

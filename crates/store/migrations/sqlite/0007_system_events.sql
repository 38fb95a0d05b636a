-- System events: what administrators add (No Login, No Freetext, No Travel,
-- message of the day, custom) and what the system raises itself, with the
-- columns of the Status tab's System messages. Jobs keep a heartbeat so a
-- job whose process died is marked failed, never left active.

CREATE TABLE system_event (
    id INTEGER PRIMARY KEY,
    event_key TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('system', 'database', 'group', 'user')),
    target TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'finished', 'failed')),
    message TEXT NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('admin', 'system', 'job')),
    activated_at TEXT NOT NULL,
    activated_by TEXT NOT NULL,
    eta TEXT,
    finished_at TEXT,
    progress INTEGER,
    heartbeat_at TEXT,
    runner TEXT
);

CREATE INDEX system_event_status ON system_event (status, activated_at);

-- Web sessions: the cookie's secret is stored only as its SHA-256 hash,
-- with the session's CSRF token for the forms it may post.

CREATE TABLE web_session (
    id_hash TEXT PRIMARY KEY,
    assoc_id BIGINT NOT NULL REFERENCES associate (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX web_session_assoc ON web_session (assoc_id);

ALTER TABLE associate ADD COLUMN language TEXT;

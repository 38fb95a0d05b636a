-- The trust model's memory (docs/trust-model.md), kept apart from the
-- signed rows so that copying old rows back does not reset it:
-- - the primary owner (the vendor: a check that names no owner asks about
--   its modules), set when the first license is loaded;
-- - when the installation first held a license (no demo allowance after);
-- - the latest time the installation has seen (a clock set back behind it
--   counts as expired past grace);
-- - the highest license version activated per owner (a stored license
--   older than that is a restored copy).

ALTER TABLE installation ADD COLUMN primary_owner TEXT;
ALTER TABLE installation ADD COLUMN licensed_at TEXT;
ALTER TABLE installation ADD COLUMN latest_seen TEXT;

CREATE TABLE license_high_water (
    owner_name TEXT PRIMARY KEY,
    license_version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

-- Existing installations: what they hold now is what they have seen.
INSERT INTO license_high_water (owner_name, license_version, updated_at)
    SELECT owner_name, license_version, loaded_at FROM module_owner;
UPDATE installation SET
    primary_owner = (SELECT owner_name FROM module_owner ORDER BY id LIMIT 1),
    licensed_at = (SELECT MIN(at) FROM license_event WHERE kind IN ('loaded', 'activated'))
    WHERE id = 1;
UPDATE installation SET licensed_at = (SELECT MIN(loaded_at) FROM module_owner)
    WHERE id = 1 AND licensed_at IS NULL;

-- Foundation: trusted keys, signed license rows, associates (users) and
-- license assignments. Booleans are integers 0/1 and times are RFC 3339 text,
-- so SQLite and PostgreSQL store the same values.

CREATE TABLE trusted_key (
    owner_name TEXT NOT NULL,
    key_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (owner_name, key_id)
);

CREATE TABLE module_owner (
    id INTEGER PRIMARY KEY,
    owner_name TEXT NOT NULL UNIQUE,
    owner_description TEXT NOT NULL,
    company_name TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    deployment_type TEXT NOT NULL,
    license_version INTEGER NOT NULL,
    license_url TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expiration TEXT,
    grace_to TEXT,
    maintenance_to TEXT,
    next_check_date TEXT,
    admin_warning_date TEXT,
    module_count INTEGER NOT NULL,
    modules_digest TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    loaded_at TEXT NOT NULL
);

CREATE TABLE module_license (
    id INTEGER PRIMARY KEY,
    owner_id INTEGER NOT NULL REFERENCES module_owner (id) ON DELETE CASCADE,
    module_name TEXT NOT NULL,
    module_description TEXT NOT NULL,
    module_version INTEGER NOT NULL,
    tooltip TEXT NOT NULL,
    module_type INTEGER NOT NULL,
    license_count INTEGER NOT NULL,
    extra_flags INTEGER NOT NULL,
    extra_info TEXT NOT NULL,
    sort_order INTEGER NOT NULL,
    hidden INTEGER NOT NULL,
    unrestricted INTEGER NOT NULL,
    prerequisite_module TEXT,
    signature TEXT NOT NULL,
    UNIQUE (module_name, module_version, owner_id)
);

CREATE TABLE associate (
    id INTEGER PRIMARY KEY,
    login_name TEXT NOT NULL UNIQUE,
    full_name TEXT NOT NULL,
    email TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    login_rights INTEGER NOT NULL DEFAULT 1,
    is_admin INTEGER NOT NULL DEFAULT 0,
    password_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE license_assoc_link (
    id INTEGER PRIMARY KEY,
    module_license_id INTEGER NOT NULL REFERENCES module_license (id) ON DELETE CASCADE,
    assoc_id INTEGER NOT NULL REFERENCES associate (id) ON DELETE CASCADE,
    valid_from TEXT,
    valid_to TEXT,
    comment TEXT NOT NULL DEFAULT '',
    check_value TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    UNIQUE (module_license_id, assoc_id)
);

CREATE INDEX license_assoc_link_assoc ON license_assoc_link (assoc_id);

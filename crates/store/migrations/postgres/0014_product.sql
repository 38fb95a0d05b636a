-- The vendor's product (login licenses, site license, metered services,
-- texts), signed as part of the owner record: its canonical JSON, NULL in a
-- license of the first format (the CRM's rules).

ALTER TABLE module_owner ADD COLUMN product TEXT;

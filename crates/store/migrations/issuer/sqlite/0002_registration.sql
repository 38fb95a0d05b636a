-- Registration by serial and company name works once per customer (until
-- the vendor resets it), so nobody who learns the pair can take over an
-- installation's secret.
ALTER TABLE customer ADD COLUMN registered INTEGER NOT NULL DEFAULT 0;

-- +goose Up
-- The service's schema starts here. Later files add identity, the ledger,
-- email, notifications and audit tables.
CREATE SCHEMA IF NOT EXISTS public;

-- +goose Down
SELECT 1;

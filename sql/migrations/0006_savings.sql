-- +goose Up
-- Savings wallet rules on top of the ledger (package ledger: limits.go,
-- lowbalance.go). Like the ledger, these tables name users by plain id.

-- Low-balance alert rules: one per user, plus at most one global rule
-- (user_id NULL) set by an admin. A user's rule overrides the global one,
-- which overrides LOW_BALANCE_THRESHOLD; a disabled rule means no alert.
-- Read (two primary-key-like probes) inside withdrawal transactions and
-- written only by the rules API, outside them.
CREATE TABLE low_balance_rules (
    id         bigserial PRIMARY KEY,
    user_id    bigint,
    threshold  numeric(20, 2) NOT NULL CONSTRAINT low_balance_rules_threshold_check CHECK (threshold >= 0.01),
    enabled    boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX low_balance_rules_user_key ON low_balance_rules (user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX low_balance_rules_global_key ON low_balance_rules ((true)) WHERE user_id IS NULL;

-- What each wallet has deposited and withdrawn per calendar day
-- (Africa/Kigali), for the daily limits. The row of a day is created before
-- the posting transaction (INSERT ... ON CONFLICT DO NOTHING, outside it) and
-- moved inside it by a conditional UPDATE that changes no indexed column:
-- with fillfactor 50 the update stays HOT, so no serializable posting ever
-- inserts into an index page another one has read (see ledger/doc.go).
-- Summing the day's journal lines instead would read the pages every other
-- posting writes.
CREATE TABLE wallet_day_totals (
    account_id bigint NOT NULL,
    day        date NOT NULL,
    deposited  numeric(20, 2) NOT NULL DEFAULT 0 CONSTRAINT wallet_day_totals_deposited_check CHECK (deposited >= 0),
    withdrawn  numeric(20, 2) NOT NULL DEFAULT 0 CONSTRAINT wallet_day_totals_withdrawn_check CHECK (withdrawn >= 0),
    CONSTRAINT wallet_day_totals_pkey PRIMARY KEY (account_id, day)
) WITH (fillfactor = 50);
-- Old days are purged by a periodic job (jobs.DayTotalsWorker); the day
-- never changes once a row exists, so this index keeps updates HOT.
CREATE INDEX wallet_day_totals_day_idx ON wallet_day_totals (day);

-- +goose Down
DROP TABLE wallet_day_totals, low_balance_rules;

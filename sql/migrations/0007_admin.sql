-- +goose Up
-- Administration (issue 7): the audit log of admin writes, and what the
-- admin views read: wallet balances by owner, wallet lines across users by
-- time, settled months of the dashboard, recent low-balance alerts.

-- The audit log: one row per admin write (a user created, changed, deleted,
-- a password set, a role or active flag changed, a wallet adjusted, a device
-- decided, an announcement sent), inserted by auth.Service.AuditTx in the
-- same transaction as the change it records, so that a row exists if and
-- only if the change committed. Append-only: the triggers below refuse any
-- UPDATE, DELETE or TRUNCATE.
--
-- actor_id and target_user_id carry no foreign key: users are never deleted
-- (soft delete), and a foreign-key check would add a read of the users'
-- primary key to the SERIALIZABLE transactions of adjustments. The actor's
-- username is copied in, as it was at the time.
CREATE TABLE audit_log (
    id             bigserial PRIMARY KEY,
    created_at     timestamptz NOT NULL,
    actor_id       bigint NOT NULL,
    actor_username text NOT NULL,
    action         text NOT NULL CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    target_type    text NOT NULL CONSTRAINT audit_log_target_type_check CHECK (target_type ~ '^[a-z_]+$'),
    target_id      bigint,
    -- The user the change concerns (the account, the device's owner, the
    -- adjusted wallet's owner, an announcement's one recipient).
    target_user_id bigint,
    before         jsonb,
    after          jsonb,
    ip_address     inet,
    user_agent     text NOT NULL DEFAULT '',
    request_id     text NOT NULL DEFAULT ''
);
-- The log is read newest first (keyset on id), whole or by actor, action,
-- target or concerned user.
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id DESC);
CREATE INDEX audit_log_action_idx ON audit_log (action text_pattern_ops, id DESC);
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, id DESC);
CREATE INDEX audit_log_target_user_idx ON audit_log (target_user_id, id DESC) WHERE target_user_id IS NOT NULL;
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION audit_log_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'AU001',
        MESSAGE = format('audit_log is append-only: %s is not allowed', TG_OP);
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_reject_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change();

-- Wallet balances by owner: the one place where the admin user list (package
-- auth) meets the ledger. It is a projection of the wallets' heads, so the
-- list can show and order by balance in one join, whatever the history.
-- The ledger keeps it true if it ever changes how heads are stored.
CREATE VIEW wallet_balances AS
    SELECT a.owner_user_id AS user_id, a.currency, h.balance
      FROM ledger_accounts a
      JOIN ledger_account_heads h ON h.account_id = a.id
     WHERE a.owner_user_id IS NOT NULL;

-- Wallet lines of every user by posting time: the admin transaction list
-- (keyset on (posted_at, id), newest first) and the admin analytics, whose
-- cost then follows the period asked for, not the whole journal. Partial:
-- only wallet lines (the shared accounts' lines carry no sequence).
-- Postings only insert into it, and no SERIALIZABLE posting reads it.
CREATE INDEX ledger_lines_wallet_time_idx ON ledger_lines (posted_at, id) INCLUDE (entry_id, amount)
    WHERE account_seq IS NOT NULL;

-- The rare kinds of entry (adjustments, openings, reversals) by time, for
-- the admin transaction list filtered to them: a page then reads those
-- entries only, not the deposits and withdrawals between them. Partial, so
-- deposits and withdrawals add nothing to it.
CREATE INDEX ledger_entries_adjustment_time_idx ON ledger_entries (created_at, id)
    WHERE kind IN ('adjustment', 'opening', 'reversal');

-- The admin dashboard's monthly series, for months that are over: a month's
-- deposits and withdrawals (both positive) in a calendar of zone, stored by
-- ledger.Dashboard the first time it is asked for once the month has
-- settled (ledger.MonthSettle after its end), so that the series reads only
-- the current month's lines. A memo of the journal, which stays the truth:
-- rows may be deleted at any time and are then computed again.
CREATE TABLE ledger_month_totals (
    currency    char(3) NOT NULL,
    zone        text NOT NULL,
    month       date NOT NULL CONSTRAINT ledger_month_totals_month_check CHECK (extract(day FROM month) = 1),
    deposits    numeric(20, 2) NOT NULL,
    withdrawals numeric(20, 2) NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_month_totals_pkey PRIMARY KEY (currency, zone, month)
);

-- The admin analytics' recent low-balance alerts, newest first.
CREATE INDEX notifications_low_balance_idx ON notifications (id DESC) WHERE notif_type = 'LOW_BALANCE';

-- +goose Down
DROP INDEX notifications_low_balance_idx;
DROP TABLE ledger_month_totals;
DROP INDEX ledger_entries_adjustment_time_idx;
DROP INDEX ledger_lines_wallet_time_idx;
DROP VIEW wallet_balances;
DROP TABLE audit_log;
DROP FUNCTION audit_log_reject_change();

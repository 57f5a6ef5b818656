-- +goose Up
-- The double-entry ledger (package ledger; see ledger/doc.go for the design).
-- Every table here is append-only except ledger_account_heads, whose rows are
-- the running balance of each wallet, updated by every posting that touches it.

-- Accounts: the chart of accounts. Rows are never updated or deleted, so the
-- service caches them in memory.
CREATE TABLE ledger_accounts (
    id             bigserial PRIMARY KEY,
    code           text NOT NULL CONSTRAINT ledger_accounts_code_key UNIQUE
                   CONSTRAINT ledger_accounts_code_check CHECK (code <> ''),
    type           text NOT NULL CONSTRAINT ledger_accounts_type_check
                   CHECK (type IN ('asset', 'liability', 'equity', 'income', 'expense')),
    currency       char(3) NOT NULL CONSTRAINT ledger_accounts_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    owner_user_id  bigint,
    allow_negative boolean NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- One wallet per user and currency.
CREATE UNIQUE INDEX ledger_accounts_owner_currency_key ON ledger_accounts (owner_user_id, currency)
    WHERE owner_user_id IS NOT NULL;

-- Heads: the running balance (in the account's normal side, so a wallet's is
-- what its owner holds) and line sequence of every account that may not go
-- negative. Only balance, seq and updated_at change, none of them indexed, and
-- fillfactor leaves room on each page: updates stay HOT and never insert into
-- an index page that other serializable transactions have read.
CREATE TABLE ledger_account_heads (
    account_id bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    balance    numeric(20, 2) NOT NULL DEFAULT 0
               CONSTRAINT ledger_account_heads_balance_check CHECK (balance >= 0),
    seq        bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

-- Journal entries. The id has no column default: the BEFORE INSERT trigger
-- below assigns it after making sure the transaction owns an xid (the
-- sealer's watermark relies on that order).
CREATE SEQUENCE ledger_entries_id_seq;
CREATE TABLE ledger_entries (
    id            bigint PRIMARY KEY,
    kind          text NOT NULL CONSTRAINT ledger_entries_kind_check
                  CHECK (kind IN ('deposit', 'withdrawal', 'adjustment', 'reversal', 'opening')),
    effective_at  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    description   text NOT NULL DEFAULT '',
    actor_user_id bigint,
    idem_scope    text,
    idem_key      text,
    request_hash  bytea,
    metadata      jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT ledger_entries_idem_check CHECK (
        (idem_key IS NULL) = (idem_scope IS NULL) AND (idem_key IS NULL OR request_hash IS NOT NULL))
);
ALTER SEQUENCE ledger_entries_id_seq OWNED BY ledger_entries.id;
-- Idempotency keys: unique for the life of the ledger. Partial, so postings
-- without a key add nothing to it.
CREATE UNIQUE INDEX ledger_entries_idem_key ON ledger_entries (idem_scope, idem_key) WHERE idem_key IS NOT NULL;

-- Journal lines. amount is signed: positive = debit, negative = credit.
--
-- entry_id and account_id deliberately have NO foreign key. A foreign-key
-- check runs in the middle of the posting transaction and reads the parent's
-- primary-key page; for entry_id that is the rightmost page of the entries'
-- index, which every concurrent posting inserts into, so under SERIALIZABLE
-- unrelated postings look dependent and fail (MEASUREMENTS.md: 8-38% retried
-- with the FK, ~0.1-1% without). For account_id the check would also take a
-- KEY SHARE lock on the cash account's row in every posting (a multixact on
-- one hot tuple). Both references are checked instead by the triggers below
-- (ledger_lines_check), and again by ledger.Verify.
--
-- account_seq and balance_after are set for accounts with a head (wallets)
-- and NULL for the shared accounts (cash, equity), which therefore never
-- become a serialization point.
CREATE TABLE ledger_lines (
    id            bigserial NOT NULL,
    entry_id      bigint NOT NULL,
    account_id    bigint NOT NULL,
    amount        numeric(20, 2) NOT NULL CONSTRAINT ledger_lines_amount_check CHECK (amount <> 0),
    currency      char(3) NOT NULL,
    account_seq   bigint,
    balance_after numeric(20, 2),
    posted_at     timestamptz NOT NULL,
    CONSTRAINT ledger_lines_seq_check CHECK ((account_seq IS NULL) = (balance_after IS NULL)),
    -- The lines of an entry, in order; id alone is unique by its sequence.
    -- One index serves both, as every index costs each posting an insert.
    CONSTRAINT ledger_lines_pkey PRIMARY KEY (entry_id, id)
);
-- Point-in-time balances, statements, and a wallet's lines in sequence order
-- (posted_at follows account_seq); amount is included so sums over the
-- shared accounts can be index-only scans. A wallet's sequence needs no
-- unique index of its own: it is the head's, moved under the head's row lock,
-- and ledger_lines_check ties every wallet line to the head.
CREATE INDEX ledger_lines_account_time_idx ON ledger_lines (account_id, posted_at, id) INCLUDE (amount);

-- Seals: the SHA-256 hash chain over entries, appended by ledger.Seal in
-- entry-id order after the entries committed.
CREATE TABLE ledger_seals (
    entry_id  bigint PRIMARY KEY,
    prev_hash bytea NOT NULL CONSTRAINT ledger_seals_prev_hash_check CHECK (length(prev_hash) = 32),
    hash      bytea NOT NULL CONSTRAINT ledger_seals_hash_check CHECK (length(hash) = 32),
    sealed_at timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE FUNCTION ledger_entries_assign_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- First the xid, then the id: every transaction that holds an entry id
    -- already had an xid when the id was drawn (see ledger.Seal).
    PERFORM pg_current_xact_id();
    NEW.id := nextval('ledger_entries_id_seq');
    -- Remember the entry as created by this transaction and still without
    -- lines (ledger_lines_check consumes it, ledger_entries_check verifies
    -- at COMMIT that it was consumed). Transaction-local.
    PERFORM set_config('ledger.pending_entries',
        coalesce(nullif(current_setting('ledger.pending_entries', true), ''), ',') || NEW.id || ',', true);
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_entries_assign_id BEFORE INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_assign_id();

-- +goose StatementBegin
CREATE FUNCTION ledger_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'LG002',
        MESSAGE = format('%s is append-only: %s is not allowed', TG_TABLE_NAME, TG_OP),
        HINT = 'post a reversal or an adjustment entry instead';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_accounts_immutable BEFORE UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_account_heads_no_delete BEFORE DELETE ON ledger_account_heads
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_account_heads_no_truncate BEFORE TRUNCATE ON ledger_account_heads
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_lines_immutable BEFORE UPDATE OR DELETE ON ledger_lines
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_lines_no_truncate BEFORE TRUNCATE ON ledger_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_seals_immutable BEFORE UPDATE OR DELETE ON ledger_seals
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_seals_no_truncate BEFORE TRUNCATE ON ledger_seals
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_change();

-- Every account that may not go negative gets its head with the account.
-- +goose StatementBegin
CREATE FUNCTION ledger_accounts_create_head() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.allow_negative THEN
        INSERT INTO ledger_account_heads (account_id) VALUES (NEW.id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_accounts_create_head AFTER INSERT ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION ledger_accounts_create_head();

-- The balance rules, enforced without reading any index page that other
-- postings write.
--
-- A check that reads the entries' or lines' indexes (a foreign key, or a
-- deferred trigger probing them at COMMIT) takes SSI predicate locks on
-- their rightmost pages, which every concurrent posting inserts into.
-- Deferring the reads to COMMIT does not help: a transaction counts as
-- committed for SSI only after its commit record is flushed, so while many
-- postings wait in the group commit they are "prepared pivots" to each
-- other, and measurement gave ~1 retry per posting on distinct wallets.
-- So the rules are checked from data the transaction already holds:
--
-- * ledger_lines_check runs once per INSERT statement on ledger_lines and
--   reads the statement's transition table (no predicate locks), the
--   accounts (never written while posting) and the heads of the wallets
--   concerned (rows the transaction has just updated itself). Each entry in
--   the statement must have been created by this transaction and not have
--   lines yet (all lines of an entry come in one statement), have at least
--   two lines, and sum to zero in each currency; each line's account must
--   exist with the line's currency; a wallet's lines must carry a sequence
--   and a non-negative balance_after, follow each other, and end exactly at
--   the wallet's head (so lines cannot be added without moving the head).
-- * ledger_entries_check runs at COMMIT for every entry and rejects one
--   that got no lines; it reads only a transaction-local setting.
--
-- "Created by this transaction" is tracked in the transaction-local setting
-- ledger.pending_entries. A session that forges it can at most attach a
-- balanced set of lines to another entry of its own making or an old one:
-- no unbalanced entry can ever commit, and Verify's hash chain reports any
-- change to a sealed entry.
-- +goose StatementBegin
CREATE FUNCTION ledger_lines_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    pending    text := coalesce(current_setting('ledger.pending_entries', true), '');
    e          record;
    l          record;
    prev_entry bigint;
    -- the previous wallet line, in (account, sequence) order
    last_id    bigint;
    last_acct  bigint;
    last_seq   bigint;
    last_after numeric;
    last_hseq  bigint;
    last_hbal  numeric;
    expect     numeric;
    fast       record;
    id         text;
BEGIN
    -- Fast path, one query: nothing is wrong and no wallet has more than one
    -- line in the statement (the usual posting). Otherwise the loops below
    -- find and name the problem.
    SELECT (SELECT count(*) FROM (SELECT 1 FROM new_lines GROUP BY entry_id, currency
                                   HAVING sum(amount) <> 0) u) AS unbalanced,
           (SELECT string_agg(DISTINCT entry_id::text, ',') FROM new_lines) AS ids,
           count(*) FILTER (WHERE a.id IS NULL OR a.currency <> n.currency
                               OR a.allow_negative AND n.account_seq IS NOT NULL
                               OR NOT a.allow_negative AND (n.account_seq IS NULL OR n.balance_after < 0
                                                            OR h.seq IS DISTINCT FROM n.account_seq
                                                            OR h.balance IS DISTINCT FROM n.balance_after)) AS bad,
           count(*) FILTER (WHERE NOT a.allow_negative) - count(DISTINCT n.account_id) FILTER (WHERE NOT a.allow_negative) AS repeats
      INTO fast
      FROM new_lines n
      LEFT JOIN ledger_accounts a ON a.id = n.account_id
      LEFT JOIN ledger_account_heads h ON h.account_id = n.account_id;
    IF fast.unbalanced = 0 AND fast.bad = 0 AND fast.repeats = 0 THEN
        FOREACH id IN ARRAY coalesce(string_to_array(fast.ids, ','), '{}') LOOP
            IF position(',' || id || ',' IN pending) = 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'LG003',
                    MESSAGE = format('ledger entry %s was not created by this transaction, or already has lines', id);
            END IF;
            pending := replace(pending, ',' || id || ',', ',');
        END LOOP;
        PERFORM set_config('ledger.pending_entries', pending, true);
        RETURN NULL;
    END IF;

    -- Per entry and currency: the lines sum to zero (amounts are never zero,
    -- so this also means at least two lines), and the entry was created by
    -- this transaction and has no lines yet. Simple queries only: this runs
    -- in every posting.
    FOR e IN SELECT entry_id, sum(amount) AS total
               FROM new_lines GROUP BY entry_id, currency ORDER BY entry_id
    LOOP
        IF e.total <> 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'LG001',
                MESSAGE = format('ledger entry %s does not balance: it needs at least 2 lines summing to zero in each currency', e.entry_id);
        END IF;
        IF e.entry_id IS DISTINCT FROM prev_entry THEN
            IF position(',' || e.entry_id || ',' IN pending) = 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'LG003',
                    MESSAGE = format('ledger entry %s was not created by this transaction, or already has lines', e.entry_id);
            END IF;
            pending := replace(pending, ',' || e.entry_id || ',', ',');
            prev_entry := e.entry_id;
        END IF;
    END LOOP;

    -- Per line: the account exists in the line's currency; a wallet's lines
    -- carry its sequence and balance, follow each other, and the last one
    -- ends exactly at the wallet's head. Accounts and heads are probed by
    -- primary key (ledger.RunSerializable turns sequential scans off: under
    -- SSI one would lock a whole relation).
    FOR l IN SELECT n.id, n.account_id, n.currency, n.amount, n.account_seq, n.balance_after,
                    a.id IS NOT NULL AS known, a.currency AS account_currency, a.type, a.allow_negative,
                    h.seq AS head_seq, h.balance AS head_balance
               FROM new_lines n
               LEFT JOIN ledger_accounts a ON a.id = n.account_id
               LEFT JOIN ledger_account_heads h ON h.account_id = n.account_id
              ORDER BY n.account_id, n.account_seq
    LOOP
        IF NOT l.known THEN
            RAISE EXCEPTION USING ERRCODE = 'LG004',
                MESSAGE = format('ledger line %s: account %s does not exist', l.id, l.account_id);
        END IF;
        IF l.account_currency <> l.currency THEN
            RAISE EXCEPTION USING ERRCODE = 'LG006',
                MESSAGE = format('ledger line %s: currency %s differs from account %s''s %s',
                                 l.id, l.currency, l.account_id, l.account_currency);
        END IF;
        IF l.allow_negative THEN
            IF l.account_seq IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'LG005',
                    MESSAGE = format('ledger line %s: account %s keeps no sequence', l.id, l.account_id);
            END IF;
            CONTINUE;
        END IF;
        IF l.account_seq IS NULL OR l.balance_after < 0 OR l.head_seq IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'LG005',
                MESSAGE = format('ledger line %s: account %s needs a sequence, a non-negative balance_after and a head',
                                 l.id, l.account_id);
        END IF;
        IF l.account_id = last_acct THEN
            IF l.type IN ('asset', 'expense') THEN
                expect := last_after + l.amount;
            ELSE
                expect := last_after - l.amount;
            END IF;
            IF l.account_seq <> last_seq + 1 OR l.balance_after <> expect THEN
                RAISE EXCEPTION USING ERRCODE = 'LG005',
                    MESSAGE = format('ledger line %s: account %s sequence %s / balance %s do not follow %s / %s',
                                     l.id, l.account_id, l.account_seq, l.balance_after, last_seq, last_after);
            END IF;
        ELSIF last_acct IS NOT NULL AND (last_seq <> last_hseq OR last_after <> last_hbal) THEN
            EXIT; -- the previous wallet's last line differs from its head: reported below
        END IF;
        last_id := l.id; last_acct := l.account_id; last_seq := l.account_seq; last_after := l.balance_after;
        last_hseq := l.head_seq; last_hbal := l.head_balance;
    END LOOP;
    IF last_acct IS NOT NULL AND (last_seq <> last_hseq OR last_after <> last_hbal) THEN
        RAISE EXCEPTION USING ERRCODE = 'LG005',
            MESSAGE = format('ledger line %s: account %s sequence %s / balance %s differ from its head %s / %s',
                             last_id, last_acct, last_seq, last_after, last_hseq, last_hbal);
    END IF;

    PERFORM set_config('ledger.pending_entries', pending, true);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_lines_check AFTER INSERT ON ledger_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_lines_check();

-- +goose StatementBegin
CREATE FUNCTION ledger_entries_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF position(',' || NEW.id || ',' IN coalesce(current_setting('ledger.pending_entries', true), '')) > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'LG001',
            MESSAGE = format('ledger entry %s has no lines; at least 2 are required', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER ledger_entries_check AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entries_check();

-- The system accounts of the default currency. Other currencies get theirs
-- from ledger.New (Options.Currencies).
INSERT INTO ledger_accounts (code, type, currency, allow_negative) VALUES
    ('cash:RWF', 'asset', 'RWF', true),
    ('equity:adjustments:RWF', 'equity', 'RWF', true);

-- +goose Down
DROP TABLE ledger_seals, ledger_lines, ledger_entries, ledger_account_heads, ledger_accounts CASCADE;
DROP FUNCTION ledger_entries_assign_id(), ledger_reject_change(), ledger_accounts_create_head(),
    ledger_entries_check(), ledger_lines_check();

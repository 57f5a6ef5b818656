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

-- Single-column rules are domain constraints rather than table CHECK
-- constraints: PostgreSQL 15 re-reads and re-plans a table's CHECK
-- expressions in every statement that writes the table (a measurable share of
-- a posting), while a domain's are prepared once per session. The constraint
-- names are those the errors are mapped by (ledger.MapError).
CREATE DOMAIN ledger_balance AS numeric(20, 2)
    CONSTRAINT ledger_account_heads_balance_check CHECK (VALUE >= 0);
CREATE DOMAIN ledger_amount AS numeric(20, 2)
    CONSTRAINT ledger_lines_amount_check CHECK (VALUE <> 0);
CREATE DOMAIN ledger_entry_kind AS text
    CONSTRAINT ledger_entries_kind_check
    CHECK (VALUE IN ('deposit', 'withdrawal', 'adjustment', 'reversal', 'opening'));

-- Heads: the running balance (in the account's normal side, so a wallet's is
-- what its owner holds) and line sequence of every account that may not go
-- negative. Only balance, seq and updated_at change, none of them indexed, and
-- fillfactor leaves room on each page: updates stay HOT and never insert into
-- an index page that other serializable transactions have read.
CREATE TABLE ledger_account_heads (
    account_id bigint PRIMARY KEY REFERENCES ledger_accounts (id),
    balance    ledger_balance NOT NULL DEFAULT 0,
    seq        bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

-- Journal entries. The id is drawn by ledger_entry_id() (below), which first
-- makes sure the transaction owns an xid (the sealer's watermark relies on
-- that order) and records the entry as created by this transaction. An
-- explicit id bypasses both, and such an entry can never get lines nor
-- commit (ledger_lines_check, ledger_entries_check).
CREATE SEQUENCE ledger_entries_id_seq;
-- +goose StatementBegin
CREATE FUNCTION ledger_entry_id() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    -- ledger.entries is a transaction-local list ",id,id*,...": an id
    -- without a star is an entry created by this transaction that has no
    -- lines yet, a starred one got its lines. A plain SQL expression, inlined
    -- into the INSERT's plan: no trigger call per entry.
    SELECT CASE WHEN pg_current_xact_id() IS NOT NULL THEN
               split_part(set_config('ledger.entries',
                   ',' || nextval('ledger_entries_id_seq')
                       || coalesce(nullif(current_setting('ledger.entries', true), ''), ','),
                   true), ',', 2)::bigint
           END
$$;
-- +goose StatementEnd
CREATE TABLE ledger_entries (
    id            bigint PRIMARY KEY DEFAULT ledger_entry_id(),
    kind          ledger_entry_kind NOT NULL,
    effective_at  timestamptz NOT NULL,
    created_at    timestamptz NOT NULL,
    description   text NOT NULL DEFAULT '',
    actor_user_id bigint,
    -- (idem_key IS NULL) = (idem_scope IS NULL), and a key has a
    -- request_hash: checked by ledger_entries_check (constraint name
    -- ledger_entries_idem_check), with the entry's other rules.
    idem_scope    text,
    idem_key      text,
    request_hash  bytea,
    metadata      jsonb NOT NULL DEFAULT '{}'
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
-- become a serialization point (ledger_lines_check enforces both).
CREATE TABLE ledger_lines (
    id            bigserial NOT NULL,
    entry_id      bigint NOT NULL,
    account_id    bigint NOT NULL,
    amount        ledger_amount NOT NULL,
    currency      char(3) NOT NULL,
    account_seq   bigint,
    balance_after numeric(20, 2),
    posted_at     timestamptz NOT NULL,
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

-- The ledger's own posting statement. A posting that moves one wallet
-- against one head-less account (every deposit, withdrawal and adjustment)
-- is written by this one statement, which is correct by construction for
-- any parameter values: it moves the head of account $9, which must have a
-- head, and inserts the entry and exactly two lines, $10 on $9 (carrying the
-- head's new sequence and balance) and 0 - $10 on $11, which must be a
-- head-less account in the same currency, all in the wallet's currency; the
-- idempotency columns must be consistent. If any of that fails, it writes
-- nothing and returns no row. Every name in it is schema-qualified (tables,
-- types, functions, operators: OPERATOR() binds like any other operator, hence
-- the parentheses), so no search_path can change its meaning.
--
-- ledger_untrusted_statement() is true unless the statement being executed
-- (current_query(): for the extended protocol, the prepared statement's
-- text) is exactly this one. The checks below run only for untrusted
-- statements (their triggers' WHEN): for this one they would only re-derive
-- what it wrote, at a cost that measured more than the rest of the posting's
-- database work (docs/benchmarks.md). Any other statement writing entries or
-- lines, from the ledger's general path, a buggy caller or a psql session,
-- is checked in full. The text itself cannot be forged into something else:
-- whoever sends it, with whatever arguments, gets a correct posting or
-- nothing. ledger.New loads it from ledger_wallet_posting_sql(); its entry
-- id comes straight from the sequence (after the head update has given the
-- transaction its xid), so no other statement can add lines to its entry.
-- +goose StatementBegin
DO $do$
DECLARE
    s   text := quote_ident(current_schema());
    sql text;
BEGIN
    sql := format($sql$WITH a AS (
    SELECT w.currency,
           CASE WHEN w.type OPERATOR(pg_catalog.=) ANY ('{asset,expense}'::pg_catalog.text[]) THEN 1 ELSE -1 END AS normal
      FROM %1$s.ledger_accounts w, %1$s.ledger_accounts c
     WHERE w.id OPERATOR(pg_catalog.=) $9::pg_catalog.int8 AND NOT w.allow_negative
       AND c.id OPERATOR(pg_catalog.=) $11::pg_catalog.int8 AND c.allow_negative
       AND c.currency OPERATOR(pg_catalog.=) w.currency
       AND ($5::pg_catalog.text IS NULL) OPERATOR(pg_catalog.=) ($6::pg_catalog.text IS NULL)
       AND ($6::pg_catalog.text IS NULL OR $7::pg_catalog.bytea IS NOT NULL)
), h AS (
    UPDATE %1$s.ledger_account_heads h
       SET balance = h.balance OPERATOR(pg_catalog.+) (a.normal OPERATOR(pg_catalog.*) $10::%1$s.ledger_amount),
           seq = h.seq OPERATOR(pg_catalog.+) 1,
           updated_at = greatest(pg_catalog.clock_timestamp(), h.updated_at)
      FROM a
     WHERE h.account_id OPERATOR(pg_catalog.=) $9::pg_catalog.int8
       AND (h.balance OPERATOR(pg_catalog.+) (a.normal OPERATOR(pg_catalog.*) $10::%1$s.ledger_amount)) OPERATOR(pg_catalog.>=) 0
    RETURNING pg_catalog.nextval(%2$L) AS entry_id, h.balance, h.seq, h.updated_at, a.currency
), e AS (
    INSERT INTO %1$s.ledger_entries (id, kind, effective_at, created_at, description, actor_user_id,
                                     idem_scope, idem_key, request_hash, metadata)
    SELECT h.entry_id, $1::pg_catalog.text, coalesce($2::pg_catalog.timestamptz, h.updated_at), h.updated_at,
           $3::pg_catalog.text, $4::pg_catalog.int8, $5::pg_catalog.text, $6::pg_catalog.text, $7::pg_catalog.bytea,
           $8::pg_catalog.jsonb
      FROM h
), l AS (
    INSERT INTO %1$s.ledger_lines (entry_id, account_id, amount, currency, account_seq, balance_after, posted_at)
    SELECT h.entry_id, $11::pg_catalog.int8, 0 OPERATOR(pg_catalog.-) $10::%1$s.ledger_amount, h.currency, NULL, NULL,
           h.updated_at
      FROM h
    UNION ALL
    SELECT h.entry_id, $9::pg_catalog.int8, $10::%1$s.ledger_amount, h.currency, h.seq, h.balance, h.updated_at
      FROM h
    RETURNING id, entry_id, posted_at, account_seq, balance_after
)
SELECT entry_id, posted_at, account_seq, balance_after, id FROM l$sql$, s, s || '.ledger_entries_id_seq');
    EXECUTE format('CREATE FUNCTION %s.ledger_wallet_posting_sql() RETURNS text LANGUAGE sql IMMUTABLE AS %L',
                   s, 'SELECT ' || quote_literal(sql));
    EXECUTE format('CREATE FUNCTION %s.ledger_untrusted_statement() RETURNS boolean LANGUAGE plpgsql STABLE AS %L',
                   s, 'BEGIN RETURN coalesce(pg_catalog.current_query() OPERATOR(pg_catalog.<>) ' || quote_literal(sql)
                      || ', true); END');
END
$do$;
-- +goose StatementEnd

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
--   lines yet (all lines of an entry come in one statement) and sum to zero
--   in each currency (amounts are never zero, so it has at least two lines);
--   each line's account must exist with the line's currency; a head-less
--   account's lines carry no sequence nor balance; a wallet's lines carry a
--   sequence and a non-negative balance_after, follow each other, and end
--   exactly at the wallet's head (so lines cannot be added without moving
--   the head).
-- * ledger_entries_check runs at COMMIT for every entry: it rejects one that
--   got no lines (reading only the transaction-local list ledger.entries),
--   and checks the idempotency columns.
--
-- "Created by this transaction" is the transaction-local list
-- ledger.entries kept by ledger_entry_id(). A session that forges it can at
-- most attach a balanced set of lines to another entry of its own making or
-- an old one: no unbalanced entry can ever commit, and Verify's hash chain
-- reports any change to a sealed entry.
--
-- Both run for every statement but the ledger's own posting statement
-- (above). ledger_lines_check's usual case costs one query: one entry in one
-- currency with at most one wallet line, all correct. Anything else takes
-- the slow path, which names the first problem found.
-- +goose StatementBegin
CREATE FUNCTION ledger_lines_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entries    text := coalesce(current_setting('ledger.entries', true), '');
    f          record;
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
BEGIN
    -- Fast path. Accounts and heads are probed by primary key
    -- (ledger.RunSerializable turns sequential scans off: under SSI one would
    -- lock a whole relation).
    SELECT min(n.entry_id) AS entry_id, max(n.entry_id) AS last_entry_id,
           min(n.currency) AS currency, max(n.currency) AS last_currency,
           sum(n.amount) AS total,
           count(*) FILTER (WHERE NOT a.allow_negative) AS wallet_lines,
           bool_and((a.currency = n.currency
                     AND CASE WHEN a.allow_negative THEN n.account_seq IS NULL AND n.balance_after IS NULL
                              ELSE h.seq = n.account_seq AND h.balance = n.balance_after END) IS TRUE) AS ok
      INTO f
      FROM new_lines n
      LEFT JOIN ledger_accounts a ON a.id = n.account_id
      LEFT JOIN ledger_account_heads h ON h.account_id = n.account_id;
    IF f.ok AND f.total = 0 AND f.entry_id = f.last_entry_id AND f.currency = f.last_currency
       AND f.wallet_lines <= 1 AND position(',' || f.entry_id || ',' IN entries) > 0 THEN
        PERFORM set_config('ledger.entries', replace(entries, ',' || f.entry_id || ',', ',' || f.entry_id || '*,'), true);
        RETURN NULL;
    END IF;

    -- Slow path. Per entry and currency: the lines sum to zero, and the
    -- entry was created by this transaction and has no lines yet.
    FOR e IN SELECT entry_id, sum(amount) AS total
               FROM new_lines GROUP BY entry_id, currency ORDER BY entry_id
    LOOP
        IF e.total <> 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'LG001',
                MESSAGE = format('ledger entry %s does not balance: it needs at least 2 lines summing to zero in each currency', e.entry_id);
        END IF;
        IF e.entry_id IS DISTINCT FROM prev_entry THEN
            IF position(',' || e.entry_id || ',' IN entries) = 0 THEN
                RAISE EXCEPTION USING ERRCODE = 'LG003',
                    MESSAGE = format('ledger entry %s was not created by this transaction, or already has lines', e.entry_id);
            END IF;
            entries := replace(entries, ',' || e.entry_id || ',', ',' || e.entry_id || '*,');
            prev_entry := e.entry_id;
        END IF;
    END LOOP;

    -- Per line: the account exists in the line's currency; a head-less
    -- account's lines carry no sequence; a wallet's lines carry its sequence
    -- and balance, follow each other, and the last one ends exactly at the
    -- wallet's head.
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
            IF l.account_seq IS NOT NULL OR l.balance_after IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'LG005',
                    MESSAGE = format('ledger line %s: account %s keeps no sequence nor balance', l.id, l.account_id);
            END IF;
            CONTINUE;
        END IF;
        IF l.account_seq IS NULL OR l.balance_after IS NULL OR l.balance_after < 0 OR l.head_seq IS NULL THEN
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

    PERFORM set_config('ledger.entries', entries, true);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER ledger_lines_check AFTER INSERT ON ledger_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT WHEN (ledger_untrusted_statement()) EXECUTE FUNCTION ledger_lines_check();

-- +goose StatementBegin
CREATE FUNCTION ledger_entries_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF position(',' || NEW.id || '*,' IN coalesce(current_setting('ledger.entries', true), '')) = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'LG001',
            MESSAGE = format('ledger entry %s has no lines; at least 2 are required', NEW.id);
    END IF;
    IF (NEW.idem_key IS NULL) <> (NEW.idem_scope IS NULL) OR NEW.idem_key IS NOT NULL AND NEW.request_hash IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entries_idem_check',
            MESSAGE = format('ledger entry %s: an idempotency key needs a scope and a request hash', NEW.id);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER ledger_entries_check AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (ledger_untrusted_statement())
    EXECUTE FUNCTION ledger_entries_check();

-- The system accounts of the default currency. Other currencies get theirs
-- from ledger.New (Options.Currencies).
INSERT INTO ledger_accounts (code, type, currency, allow_negative) VALUES
    ('cash:RWF', 'asset', 'RWF', true),
    ('equity:adjustments:RWF', 'equity', 'RWF', true);

-- +goose Down
DROP TABLE ledger_seals, ledger_lines, ledger_entries, ledger_account_heads, ledger_accounts CASCADE;
DROP FUNCTION ledger_reject_change(), ledger_accounts_create_head(),
    ledger_entries_check(), ledger_lines_check(), ledger_entry_id(),
    ledger_wallet_posting_sql(), ledger_untrusted_statement();
DROP DOMAIN ledger_balance, ledger_amount, ledger_entry_kind;

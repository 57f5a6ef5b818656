package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// The ledger's own posting statement (ledger_wallet_posting_sql(), see
// sql/migrations/0003_ledger.sql) is not checked again by the database's
// triggers, so it must be correct for any arguments, from any session.

// ledgerState is what a misused posting statement must leave unchanged.
func ledgerState(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var s string
	if err := pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM ledger_entries) || '/' || (SELECT count(*) FROM ledger_lines) || '/' ||
		       (SELECT string_agg(account_id || ':' || balance || ':' || seq, ',' ORDER BY account_id) FROM ledger_account_heads)`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// postingArgs are the statement's arguments: kind, effective_at,
// description, actor, idempotency scope, key and request hash, metadata,
// the wallet, its line's signed amount, the other account.
func postingArgs(wallet int64, amount string, other int64) []any {
	return []any{"deposit", nil, "", nil, nil, nil, nil, "{}", wallet, amount, other}
}

func TestPostingStatementCannotBeMisused(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	l := ledgerOn(t, db.Pool, ledger.Options{Currencies: []string{"RWF", "USD"}})
	ctx := context.Background()
	var sql string
	if err := db.Pool.QueryRow(ctx, `SELECT ledger_wallet_posting_sql()`).Scan(&sql); err != nil {
		t.Fatal(err)
	}
	w := deposit(t, l, 1, "10").Wallet
	w2 := deposit(t, l, 2, "10").Wallet
	cash, _ := l.CashAccount("RWF")
	eq, _ := l.AdjustmentsAccount("RWF")
	usd, _ := l.CashAccount("USD")
	before := ledgerState(t, db.Pool)

	withKey := func(args []any, scope, key any, hash any) []any {
		args[4], args[5], args[6] = scope, key, hash
		return args
	}
	for _, c := range []struct {
		name string
		args []any
		want error // nil: no row, nothing written
	}{
		{"the other account has a head", postingArgs(w.ID, "-5", w2.ID), nil},
		{"the other account is in another currency", postingArgs(w.ID, "-5", usd.ID), nil},
		{"the wallet has no head", postingArgs(cash.ID, "-5", eq.ID), nil},
		{"the wallet does not exist", postingArgs(987654, "-5", cash.ID), nil},
		{"the other account does not exist", postingArgs(w.ID, "-5", 987654), nil},
		{"below zero", postingArgs(w.ID, "10.01", cash.ID), nil},
		{"a key without a scope", withKey(postingArgs(w.ID, "-5", cash.ID), nil, "k", []byte("h")), nil},
		{"a key without a request hash", withKey(postingArgs(w.ID, "-5", cash.ID), "s", "k", nil), nil},
		{"a scope without a key", withKey(postingArgs(w.ID, "-5", cash.ID), "s", nil, []byte("h")), nil},
		{"no amount", postingArgs(w.ID, "0", cash.ID), ledger.ErrInvalidEntry},
		{"a bad kind", append([]any{"gift"}, postingArgs(w.ID, "-5", cash.ID)[1:]...), ledger.ErrInvalidEntry},
	} {
		n := 0
		err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
			rows, err := tx.Query(ctx, sql, c.args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				n++
			}
			return rows.Err()
		})
		if c.want == nil && (err != nil || n != 0) || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: %d rows, error %v; want %v", c.name, n, err, c.want)
		}
		if after := ledgerState(t, db.Pool); after != before {
			t.Fatalf("%s: the ledger changed from %s to %s", c.name, before, after)
		}
	}

	// Correct arguments from any session post a correct entry: the lines
	// always balance, and the wallet's line carries its head.
	var rows int
	err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
		r, err := tx.Query(ctx, sql, postingArgs(w.ID, "2.50", eq.ID)...)
		if err != nil {
			return err
		}
		for r.Next() {
			rows++
		}
		return r.Err()
	})
	if err != nil || rows != 2 {
		t.Fatalf("a withdrawal to equity: %d rows, %v", rows, err)
	}
	if bal, _ := l.Balance(ctx, w.ID); !bal.Equal(dec("7.5")) {
		t.Fatalf("wallet balance %s, want 7.50", bal)
	}
	verifyClean(t, l)
}

// Only the exact text is the ledger's statement: anything else writing
// entries and lines, even the same statement with one more space, is checked
// in full (here: its entry id was not drawn by ledger_entry_id()).
func TestPostingStatementOnlyByItsText(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	var sql string
	if err := pool.QueryRow(ctx, `SELECT ledger_wallet_posting_sql()`).Scan(&sql); err != nil {
		t.Fatal(err)
	}
	w := deposit(t, l, 1, "10").Wallet
	cash, _ := l.CashAccount("RWF")
	before := ledgerState(t, pool)
	err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
		_, err := tx.Exec(ctx, sql+" ", postingArgs(w.ID, "-5", cash.ID)...)
		return err
	})
	if !errors.Is(err, ledger.ErrInvalidEntry) {
		t.Fatalf("the statement with another text: %v", err)
	}
	if after := ledgerState(t, pool); after != before {
		t.Fatalf("the ledger changed from %s to %s", before, after)
	}
}

// An entry written by the posting statement cannot get more lines, even in
// its own transaction.
func TestNoLinesAddedToAPosting(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	cash, _ := l.CashAccount("RWF")
	eq, _ := l.AdjustmentsAccount("RWF")
	if _, err := l.Wallet(ctx, 1, "RWF"); err != nil {
		t.Fatal(err)
	}
	err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
		p, err := l.DepositTx(ctx, tx, ledger.DepositRequest{UserID: 1, Amount: amt(t, "10"), Currency: "RWF"})
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
			VALUES ($1, $2, 10, 'RWF', now()), ($1, $3, -10, 'RWF', now())`, p.Entry.ID, cash.ID, eq.ID)
		return err
	})
	if !errors.Is(err, ledger.ErrInvalidEntry) {
		t.Fatalf("lines added to a posting: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("entries: %d %v", n, err)
	}
}

// A session's search_path cannot redirect the posting statement: here a
// temporary table shadows the heads for unqualified names.
func TestPostingStatementIgnoresSearchPath(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{MaxConns: 1})
	l := ledgerOn(t, db.Pool, ledger.Options{})
	ctx := context.Background()
	w := deposit(t, l, 1, "10").Wallet
	if _, err := db.Pool.Exec(ctx, `CREATE TEMP TABLE ledger_account_heads
		(account_id bigint, balance numeric, seq bigint, updated_at timestamptz)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO ledger_account_heads VALUES ($1, 1000000, 1, now())`, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 1, Amount: amt(t, "100"), Currency: "RWF"}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("withdraw more than the real balance: %v", err)
	}
	p, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 1, Amount: amt(t, "4"), Currency: "RWF"})
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "balance after", p.BalanceAfter, "6")
	var fake string
	if err := db.Pool.QueryRow(ctx, `SELECT balance::text FROM pg_temp.ledger_account_heads`).Scan(&fake); err != nil || fake != "1000000" {
		t.Fatalf("the temporary table: %s %v", fake, err)
	}
	if _, err := db.Pool.Exec(ctx, `DROP TABLE pg_temp.ledger_account_heads`); err != nil {
		t.Fatal(err)
	}
	verifyClean(t, l)
}

// With the simple protocol (arguments spelled into the text) the database
// cannot recognize its statement, so wallet postings take the general,
// checked path.
func TestSimpleProtocolPostings(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	conf, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	conf.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	pool, err := pgxpool.NewWithConfig(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	l := ledgerOn(t, pool, ledger.Options{})
	deposit(t, l, 1, "10")
	p, err := l.Withdraw(context.Background(), ledger.WithdrawRequest{UserID: 1, Amount: amt(t, "2.5"), Currency: "RWF"})
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "balance after", p.BalanceAfter, "7.5")
	verifyClean(t, l)
}

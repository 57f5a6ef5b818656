package ledger_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// newLedger returns a Ledger on a fresh database.
func newLedger(t testing.TB) (*ledger.Ledger, *pgxpool.Pool) {
	t.Helper()
	pool := sqltest.New(t)
	return ledgerOn(t, pool, ledger.Options{}), pool
}

func ledgerOn(t testing.TB, pool *pgxpool.Pool, opts ledger.Options) *ledger.Ledger {
	t.Helper()
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	l, err := ledger.New(context.Background(), pool, opts)
	if err != nil {
		t.Fatalf("ledger.New: %v", err)
	}
	return l
}

func amt(t testing.TB, s string) ledger.Amount {
	t.Helper()
	a, err := ledger.ParseAmount(s)
	if err != nil {
		t.Fatalf("ParseAmount(%q): %v", s, err)
	}
	return a
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func deposit(t testing.TB, l *ledger.Ledger, user int64, amount string) ledger.Posting {
	t.Helper()
	p, err := l.Deposit(context.Background(), ledger.DepositRequest{UserID: user, Amount: amt(t, amount), Currency: "RWF"})
	if err != nil {
		t.Fatalf("deposit %s to user %d: %v", amount, user, err)
	}
	return p
}

func wantDec(t testing.TB, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(dec(want)) {
		t.Fatalf("%s = %s, want %s", what, got, want)
	}
}

// verifyClean fails t unless Verify finds nothing.
func verifyClean(t testing.TB, l *ledger.Ledger) ledger.Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK {
		t.Fatalf("Verify found %d problem(s): %+v", rep.ProblemCount, rep.Problems)
	}
	return rep
}

func newPool(t testing.TB, maxConns int32) *pgxpool.Pool {
	t.Helper()
	return sqltest.NewDB(t, sqltest.Options{MaxConns: maxConns}).Pool
}

package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// TestVerifyLedgerCommand runs `creditjambo verify-ledger` on a clean ledger
// (success) and after a line was tampered with by a superuser who disabled
// the triggers (failure naming the problem).
func TestVerifyLedgerCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := sqltest.NewDB(t, sqltest.Options{})
	l, err := ledger.New(ctx, db.Pool, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	amt, _ := ledger.ParseAmount("1500.00")
	if _, err := l.Deposit(ctx, ledger.DepositRequest{UserID: 7, Amount: amt, Currency: "RWF"}); err != nil {
		t.Fatal(err)
	}
	env := envFunc(map[string]string{"DATABASE_URL": db.URL})
	var out syncBuffer
	if err := run(ctx, []string{"creditjambo", "verify-ledger"}, env, strings.NewReader(""), &out, &out); err != nil {
		t.Fatalf("clean ledger: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), `"ok": true`) {
		t.Fatalf("report: %s", out.String())
	}

	admin, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `UPDATE ledger_lines SET amount = amount * 2 WHERE amount > 0`); err != nil {
		t.Fatal(err)
	}
	var bad syncBuffer
	err = run(ctx, []string{"creditjambo", "verify-ledger"}, env, strings.NewReader(""), &bad, &bad)
	var problems errLedgerProblems
	if !errors.As(err, &problems) || problems == 0 {
		t.Fatalf("tampered ledger: err %v\n%s", err, bad.String())
	}
	if !strings.Contains(bad.String(), `"ok": false`) {
		t.Fatalf("report: %s", bad.String())
	}
}

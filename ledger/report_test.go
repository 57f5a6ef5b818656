package ledger_test

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creditjambo/creditjambo/ledger"
)

func TestTrialBalanceAndStatement(t *testing.T) {
	t.Parallel()
	l, _ := newLedger(t)
	ctx := context.Background()
	d1 := deposit(t, l, 1, "100")
	time.Sleep(2 * time.Millisecond)
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	deposit(t, l, 2, "40")
	w, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 1, Amount: amt(t, "30"), Currency: "RWF", Description: "rent"})
	if err != nil {
		t.Fatal(err)
	}
	neg, _ := ledger.ParseSignedAmount("5")
	if _, err := l.Adjust(ctx, ledger.AdjustRequest{UserID: 2, Amount: neg, Currency: "RWF", Reason: "bonus"}); err != nil {
		t.Fatal(err)
	}

	tb, err := l.TrialBalance(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !tb.Balanced || !tb.TotalDebit.Equal(tb.TotalCredit) || !tb.TotalDebit.Equal(dec("175")) {
		t.Fatalf("trial balance %+v", tb)
	}
	bal := map[string]string{}
	for _, r := range tb.Accounts {
		bal[r.Code] = ledger.FormatMoney(r.Balance)
	}
	if bal["cash:RWF"] != "110.00" || bal["equity:adjustments:RWF"] != "-5.00" || bal["wallet:1:RWF"] != "70.00" || bal["wallet:2:RWF"] != "45.00" {
		t.Fatalf("balances %v", bal)
	}
	early, err := l.TrialBalance(ctx, mid)
	if err != nil || !early.TotalDebit.Equal(dec("100")) || !early.Balanced {
		t.Fatalf("trial balance at mid %+v %v", early, err)
	}

	st, err := l.Statement(ctx, d1.Wallet.ID, mid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "opening", st.OpeningBalance, "100")
	wantDec(t, "closing", st.ClosingBalance, "70")
	if len(st.Lines) != 1 || st.Lines[0].EntryID != w.Entry.ID || !st.Lines[0].Change.Equal(dec("-30")) ||
		!st.Lines[0].Balance.Equal(dec("70")) || st.Lines[0].Description != "rent" {
		t.Fatalf("statement lines %+v", st.Lines)
	}
	cash, _ := l.CashAccount("RWF")
	cst, err := l.Statement(ctx, cash.ID, time.Time{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(cst.Lines) != 3 || !cst.ClosingBalance.Equal(dec("110")) || !cst.Lines[1].Balance.Equal(dec("140")) {
		t.Fatalf("cash statement %+v", cst)
	}
}

func TestExportLines(t *testing.T) {
	t.Parallel()
	l, _ := newLedger(t)
	ctx := context.Background()
	for i := range 5 {
		deposit(t, l, int64(i%2+1), "10")
	}
	if _, err := l.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	last := deposit(t, l, 1, "1") // not sealed yet
	var rows []ledger.ExportLine
	err := l.ExportLines(ctx, time.Time{}, time.Time{}, func(r ledger.ExportLine) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 12 {
		t.Fatalf("%d rows", len(rows))
	}
	debit, credit := dec("0"), dec("0")
	for i, r := range rows {
		if i > 0 && (r.EntryID < rows[i-1].EntryID || r.EntryID == rows[i-1].EntryID && r.LineID <= rows[i-1].LineID) {
			t.Fatalf("row %d out of order", i)
		}
		debit, credit = debit.Add(r.Debit), credit.Add(r.Credit)
		sealed := r.EntryID != last.Entry.ID
		if sealed != (len(r.EntryHash) == 64 && len(r.PrevHash) == 64) {
			t.Fatalf("row %d hashes %q %q", i, r.EntryHash, r.PrevHash)
		}
	}
	if rows[0].PrevHash != strings.Repeat("0", 64) || !debit.Equal(credit) {
		t.Fatalf("first prev %q, debit %s credit %s", rows[0].PrevHash, debit, credit)
	}
	if rows[1].AccountCode != "wallet:1:RWF" || rows[1].AccountType != ledger.Liability || rows[1].OwnerUserID != 1 ||
		!rows[1].BalanceAfter.Valid || rows[0].AccountCode != "cash:RWF" || rows[0].BalanceAfter.Valid {
		t.Fatalf("rows %+v %+v", rows[0], rows[1])
	}
	// A time window, and an error from fn stops the export.
	var n int
	if err := l.ExportLines(ctx, last.Entry.CreatedAt, last.Entry.CreatedAt, func(ledger.ExportLine) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("window: %d rows, %v", n, err)
	}
	stop := errors.New("stop")
	if err := l.ExportLines(ctx, time.Time{}, time.Time{}, func(ledger.ExportLine) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("fn error: %v", err)
	}
}

// TestImportsNothingOfOurs keeps the rule that ledger depends on no other
// package of the service.
func TestImportsNothingOfOurs(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v %s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/creditjambo/creditjambo/") && pkg != "github.com/creditjambo/creditjambo/ledger" {
			t.Errorf("ledger depends on %s", pkg)
		}
	}
}

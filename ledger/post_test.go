package ledger_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/creditjambo/creditjambo/ledger"
)

func TestDepositWithdraw(t *testing.T) {
	t.Parallel()
	l, _ := newLedger(t)
	ctx := context.Background()

	p := deposit(t, l, 7, "1000")
	wantDec(t, "after deposit", p.BalanceAfter, "1000")
	wantDec(t, "before deposit", p.BalanceBefore, "0")
	if p.Entry.Kind != ledger.KindDeposit || len(p.Entry.Lines) != 2 || p.Replayed {
		t.Fatalf("entry %+v", p.Entry)
	}
	w, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 7, Amount: amt(t, "250.5"), Currency: "RWF", Description: "atm"})
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "after withdraw", w.BalanceAfter, "749.50")
	wantDec(t, "before withdraw", w.BalanceBefore, "1000")
	if ledger.FormatMoney(w.BalanceAfter) != "749.50" {
		t.Fatalf("formatted %s", ledger.FormatMoney(w.BalanceAfter))
	}

	bal, err := l.WalletBalance(ctx, 7, "RWF")
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "wallet balance", bal, "749.50")
	cash, _ := l.CashAccount("RWF")
	cb, err := l.Balance(ctx, cash.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "cash balance", cb, "749.50")
	wb, err := l.Balance(ctx, p.Wallet.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "Balance(wallet)", wb, "749.50")

	// Lines as stored: cash debited on deposit, wallet credited.
	e, err := l.Entry(ctx, p.Entry.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Lines) != 2 || !e.Lines[0].Amount.Equal(dec("1000")) || !e.Lines[1].Amount.Equal(dec("-1000")) ||
		e.Lines[1].AccountSeq != 1 || !e.Lines[1].BalanceAfter.Decimal.Equal(dec("1000")) || e.Lines[0].BalanceAfter.Valid {
		t.Fatalf("stored lines %+v", e.Lines)
	}
	if !e.CreatedAt.Equal(e.Lines[0].PostedAt) || !e.CreatedAt.Equal(p.Entry.CreatedAt) {
		t.Fatalf("created_at %v, posted_at %v, returned %v", e.CreatedAt, e.Lines[0].PostedAt, p.Entry.CreatedAt)
	}
	verifyClean(t, l)
}

func TestOverdraftRefusedNothingWritten(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	deposit(t, l, 1, "100")
	_, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 1, Amount: amt(t, "100.01"), Currency: "RWF",
		IdemScope: "user:1", IdemKey: "k1"})
	if !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("withdraw over balance: %v", err)
	}
	var entries, lines int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM ledger_entries), (SELECT count(*) FROM ledger_lines)`).Scan(&entries, &lines); err != nil {
		t.Fatal(err)
	}
	if entries != 1 || lines != 2 {
		t.Fatalf("after a refused withdrawal: %d entries, %d lines", entries, lines)
	}
	// The key was not consumed: the same key works for an allowed request.
	p, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 1, Amount: amt(t, "100"), Currency: "RWF",
		IdemScope: "user:1", IdemKey: "k1"})
	if err != nil || p.Replayed {
		t.Fatalf("withdraw all with the same key: %+v %v", p, err)
	}
	wantDec(t, "balance", p.BalanceAfter, "0")
	if _, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 1, Amount: amt(t, "0.01"), Currency: "RWF"}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("withdraw from empty wallet: %v", err)
	}
	// A wallet never used: also refused, and created empty.
	if _, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 2, Amount: amt(t, "1"), Currency: "RWF"}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("withdraw from new wallet: %v", err)
	}
	verifyClean(t, l)
}

func TestPostValidation(t *testing.T) {
	t.Parallel()
	l, _ := newLedger(t)
	ctx := context.Background()
	cash, _ := l.CashAccount("RWF")
	eq, _ := l.AdjustmentsAccount("RWF")
	w, err := l.Wallet(ctx, 5, "RWF")
	if err != nil {
		t.Fatal(err)
	}
	ten, five := amt(t, "10"), amt(t, "5")
	line := func(a ledger.Account, s ledger.Side, x ledger.Amount) ledger.NewLine {
		return ledger.NewLine{AccountID: a.ID, Side: s, Amount: x, Currency: a.Currency}
	}
	cases := []struct {
		name string
		e    ledger.NewEntry
		want error
	}{
		{"no lines", ledger.NewEntry{Kind: ledger.KindDeposit}, ledger.ErrInvalidEntry},
		{"one line", ledger.NewEntry{Kind: ledger.KindDeposit, Lines: []ledger.NewLine{line(cash, ledger.Debit, ten)}}, ledger.ErrInvalidEntry},
		{"bad kind", ledger.NewEntry{Kind: "gift", Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), line(w, ledger.Credit, ten)}}, ledger.ErrInvalidEntry},
		{"unbalanced", ledger.NewEntry{Kind: ledger.KindDeposit, Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), line(w, ledger.Credit, five)}}, ledger.ErrUnbalanced},
		{"same side", ledger.NewEntry{Kind: ledger.KindDeposit, Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), line(w, ledger.Debit, ten)}}, ledger.ErrUnbalanced},
		{"zero amount", ledger.NewEntry{Kind: ledger.KindDeposit, Lines: []ledger.NewLine{line(cash, ledger.Debit, ledger.Amount{}), line(w, ledger.Credit, ledger.Amount{})}}, ledger.ErrInvalidEntry},
		{"no side", ledger.NewEntry{Kind: ledger.KindDeposit, Lines: []ledger.NewLine{{AccountID: cash.ID, Amount: ten, Currency: "RWF"}, line(w, ledger.Credit, ten)}}, ledger.ErrInvalidEntry},
		{"unknown account", ledger.NewEntry{Kind: ledger.KindDeposit, Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), {AccountID: 999999, Side: ledger.Credit, Amount: ten, Currency: "RWF"}}}, ledger.ErrAccountNotFound},
		{"currency mismatch", ledger.NewEntry{Kind: ledger.KindDeposit, Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), {AccountID: w.ID, Side: ledger.Credit, Amount: ten, Currency: "USD"}}}, ledger.ErrCurrencyMismatch},
		{"key without scope", ledger.NewEntry{Kind: ledger.KindDeposit, IdemKey: "k", Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), line(w, ledger.Credit, ten)}}, ledger.ErrInvalidEntry},
		{"metadata not an object", ledger.NewEntry{Kind: ledger.KindDeposit, Metadata: []byte(`[1]`), Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), line(w, ledger.Credit, ten)}}, ledger.ErrInvalidEntry},
		{"overdraft", ledger.NewEntry{Kind: ledger.KindWithdrawal, Lines: []ledger.NewLine{line(cash, ledger.Credit, ten), line(w, ledger.Debit, ten)}}, ledger.ErrInsufficientFunds},
	}
	for _, c := range cases {
		if _, err := l.Post(ctx, c.e); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Valid: a multi-line entry (cash -> wallet, equity -> wallet).
	e, err := l.Post(ctx, ledger.NewEntry{Kind: ledger.KindAdjustment, Description: "mixed", Metadata: []byte(`{"a": 1}`),
		Lines: []ledger.NewLine{line(cash, ledger.Debit, ten), line(eq, ledger.Debit, five), line(w, ledger.Credit, ten), line(w, ledger.Credit, five)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Lines) != 4 || e.Lines[2].AccountSeq != 1 || e.Lines[3].AccountSeq != 2 || !e.Lines[3].BalanceAfter.Decimal.Equal(dec("15")) {
		t.Fatalf("lines %+v", e.Lines)
	}
	if _, err := l.Wallet(ctx, 5, "USD"); !errors.Is(err, ledger.ErrUnknownCurrency) {
		t.Fatalf("USD wallet: %v", err)
	}
	if _, err := l.Deposit(ctx, ledger.DepositRequest{UserID: 5, Amount: ten, Currency: "USD"}); !errors.Is(err, ledger.ErrUnknownCurrency) {
		t.Fatalf("USD deposit: %v", err)
	}
	verifyClean(t, l)
}

func TestAdjust(t *testing.T) {
	t.Parallel()
	l, _ := newLedger(t)
	ctx := context.Background()
	minus := func(s string) ledger.SignedAmount {
		a, err := ledger.ParseSignedAmount(s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if _, err := l.Adjust(ctx, ledger.AdjustRequest{UserID: 3, Amount: minus("5"), Currency: "RWF", Reason: "x"}); !errors.Is(err, ledger.ErrInvalidEntry) {
		t.Fatalf("short reason: %v", err)
	}
	p, err := l.Adjust(ctx, ledger.AdjustRequest{UserID: 3, Amount: minus("50"), Currency: "RWF", Reason: "opening balance", Opening: true, ActorID: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "after +50", p.BalanceAfter, "50")
	if p.Entry.Kind != ledger.KindOpening || p.Entry.ActorUserID != 1 {
		t.Fatalf("entry %+v", p.Entry)
	}
	if _, err := l.Adjust(ctx, ledger.AdjustRequest{UserID: 3, Amount: minus("-50.01"), Currency: "RWF", Reason: "too much"}); !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("adjust below zero: %v", err)
	}
	p, err = l.Adjust(ctx, ledger.AdjustRequest{UserID: 3, Amount: minus("-20"), Currency: "RWF", Reason: "correction"})
	if err != nil {
		t.Fatal(err)
	}
	wantDec(t, "after -20", p.BalanceAfter, "30")
	eq, _ := l.AdjustmentsAccount("RWF")
	b, _ := l.Balance(ctx, eq.ID)
	wantDec(t, "equity balance (credit-normal)", b, "-30")
	verifyClean(t, l)
}

func TestImmutability(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	p := deposit(t, l, 1, "10")
	if _, err := l.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE ledger_lines SET amount = amount * 2`,
		`DELETE FROM ledger_lines`,
		`TRUNCATE ledger_lines`,
		`UPDATE ledger_entries SET description = 'x'`,
		`DELETE FROM ledger_entries`,
		`TRUNCATE ledger_entries CASCADE`,
		`UPDATE ledger_seals SET sealed_at = now()`,
		`DELETE FROM ledger_seals`,
		`TRUNCATE ledger_seals`,
		`UPDATE ledger_accounts SET currency = 'USD'`,
		`DELETE FROM ledger_accounts WHERE owner_user_id IS NOT NULL`,
		`TRUNCATE ledger_accounts CASCADE`,
		`DELETE FROM ledger_account_heads`,
		`TRUNCATE ledger_account_heads`,
	} {
		_, err := pool.Exec(ctx, sql)
		if !errors.Is(ledger.MapError(err), ledger.ErrImmutable) {
			t.Errorf("%s: %v", sql, err)
		}
	}
	e, err := l.Entry(ctx, p.Entry.ID)
	if err != nil || len(e.Lines) != 2 {
		t.Fatalf("entry after attempts: %+v %v", e, err)
	}
	verifyClean(t, l)
}

// rawTx runs fn in a serializable transaction and returns the error of fn
// or of COMMIT, mapped.
func rawTx(ctx context.Context, l *ledger.Ledger, fn func(tx *ledger.Tx) error) error {
	return l.RunSerializable(ctx, nil, fn)
}

// TestDatabaseRejectsBadEntries writes bad entries with raw SQL, bypassing
// the Go validation: the database refuses each (at the INSERT of the lines,
// or at COMMIT for an entry left without lines) and nothing is committed.
func TestDatabaseRejectsBadEntries(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	cash, _ := l.CashAccount("RWF")
	eq, _ := l.AdjustmentsAccount("RWF")
	old := deposit(t, l, 1, "10")

	insertEntry := `INSERT INTO ledger_entries (kind, effective_at, created_at) VALUES ('adjustment', now(), now()) RETURNING id`
	cases := []struct {
		name string
		fn   func(tx *ledger.Tx) error
		want error
	}{
		{"unbalanced", func(tx *ledger.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, insertEntry).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
				VALUES ($1, $2, 10, 'RWF', now()), ($1, $3, -9, 'RWF', now())`, id, cash.ID, eq.ID)
			return err
		}, ledger.ErrUnbalanced},
		{"one line", func(tx *ledger.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, insertEntry).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
				VALUES ($1, $2, 10, 'RWF', now())`, id, cash.ID)
			return err
		}, ledger.ErrUnbalanced},
		{"no lines", func(tx *ledger.Tx) error {
			_, err := tx.Exec(ctx, insertEntry)
			return err
		}, ledger.ErrUnbalanced},
		{"orphan lines", func(tx *ledger.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
				VALUES (424242, $1, 10, 'RWF', now()), (424242, $2, -10, 'RWF', now())`, cash.ID, eq.ID)
			return err
		}, ledger.ErrInvalidEntry},
		{"balanced pair added to a committed entry", func(tx *ledger.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
				VALUES ($1, $2, 10, 'RWF', now()), ($1, $3, -10, 'RWF', now())`, old.Entry.ID, cash.ID, eq.ID)
			return err
		}, ledger.ErrInvalidEntry},
		{"unknown account", func(tx *ledger.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, insertEntry).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
				VALUES ($1, $2, 10, 'RWF', now()), ($1, 987654, -10, 'RWF', now())`, id, cash.ID)
			return err
		}, ledger.ErrAccountNotFound},
		{"currency mismatch", func(tx *ledger.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, insertEntry).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
				VALUES ($1, $2, 10, 'USD', now()), ($1, $3, -10, 'USD', now())`, id, cash.ID, eq.ID)
			return err
		}, ledger.ErrCurrencyMismatch},
		{"wallet line without head sequence", func(tx *ledger.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, insertEntry).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
				VALUES ($1, $2, 10, 'RWF', now()), ($1, $3, -10, 'RWF', now())`, id, cash.ID, old.Wallet.ID)
			return err
		}, ledger.ErrInvalidEntry},
		{"wallet line with a wrong balance_after", func(tx *ledger.Tx) error {
			var id int64
			if err := tx.QueryRow(ctx, insertEntry).Scan(&id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, account_seq, balance_after, posted_at)
				VALUES ($1, $2, 10, 'RWF', NULL, NULL, now()), ($1, $3, -10, 'RWF', 2, 1000, now())`, id, cash.ID, old.Wallet.ID)
			return err
		}, ledger.ErrInvalidEntry},
	}
	for _, c := range cases {
		err := rawTx(ctx, l, c.fn)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Only the first deposit exists.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("entries: %d %v", n, err)
	}
	// A balanced raw entry on accounts without a head commits.
	err := rawTx(ctx, l, func(tx *ledger.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, insertEntry).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
			VALUES ($1, $2, 10, 'RWF', now()), ($1, $3, -10, 'RWF', now())`, id, cash.ID, eq.ID)
		return err
	})
	if err != nil {
		t.Fatalf("balanced raw entry: %v", err)
	}
	verifyClean(t, l)
}

func TestBalanceAt(t *testing.T) {
	t.Parallel()
	l, _ := newLedger(t)
	ctx := context.Background()
	var ps []ledger.Posting
	for _, a := range []string{"100", "50", "25.25"} {
		ps = append(ps, deposit(t, l, 9, a))
		time.Sleep(2 * time.Millisecond)
	}
	w := ps[0].Wallet
	cash, _ := l.CashAccount("RWF")
	before := ps[0].Entry.CreatedAt.Add(-time.Microsecond)
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{before, "0"},
		{ps[0].Entry.CreatedAt, "100"}, // a filter at the entry's own created_at finds it
		{ps[1].Entry.CreatedAt.Add(-time.Microsecond), "100"},
		{ps[1].Entry.CreatedAt, "150"},
		{ps[2].Entry.CreatedAt, "175.25"},
		{ps[2].Entry.CreatedAt.Add(time.Hour), "175.25"},
	} {
		got, err := l.BalanceAt(ctx, w.ID, c.at)
		if err != nil {
			t.Fatal(err)
		}
		wantDec(t, "wallet at "+c.at.String(), got, c.want)
		got, err = l.BalanceAt(ctx, cash.ID, c.at)
		if err != nil {
			t.Fatal(err)
		}
		wantDec(t, "cash at "+c.at.String(), got, c.want)
	}
}

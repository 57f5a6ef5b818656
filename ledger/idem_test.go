package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/creditjambo/creditjambo/ledger"
)

func TestIdempotentReplayAndConflict(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	req := ledger.DepositRequest{UserID: 4, Amount: amt(t, "10.5"), Currency: "RWF", IdemScope: "user:4", IdemKey: "abc"}
	first, err := l.Deposit(ctx, req)
	if err != nil || first.Replayed {
		t.Fatalf("first: %+v %v", first, err)
	}
	deposit(t, l, 4, "1") // moves the balance on, so the replay must return the original's
	// "10.50" is the same amount as "10.5".
	req.Amount = amt(t, "10.50")
	again, err := l.Deposit(ctx, req)
	if err != nil || !again.Replayed || again.Entry.ID != first.Entry.ID {
		t.Fatalf("replay: %+v %v", again, err)
	}
	wantDec(t, "replayed balance after", again.BalanceAfter, "10.5")
	wantDec(t, "replayed balance before", again.BalanceBefore, "0")

	// Same key, different amount; same key, other operation.
	req.Amount = amt(t, "11")
	if _, err := l.Deposit(ctx, req); !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("different amount: %v", err)
	}
	if _, err := l.Withdraw(ctx, ledger.WithdrawRequest{UserID: 4, Amount: amt(t, "10.5"), Currency: "RWF", IdemScope: "user:4", IdemKey: "abc"}); !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("withdraw with a deposit's key: %v", err)
	}
	// The same key in another scope is another key.
	p, err := l.Deposit(ctx, ledger.DepositRequest{UserID: 5, Amount: amt(t, "10.5"), Currency: "RWF", IdemScope: "user:5", IdemKey: "abc"})
	if err != nil || p.Replayed {
		t.Fatalf("other scope: %+v %v", p, err)
	}
	// An explicit request hash decides.
	h1 := []byte("request-1")
	if _, err := l.Deposit(ctx, ledger.DepositRequest{UserID: 6, Amount: amt(t, "1"), Currency: "RWF", IdemScope: "s", IdemKey: "k", RequestHash: h1}); err != nil {
		t.Fatal(err)
	}
	if p, err := l.Deposit(ctx, ledger.DepositRequest{UserID: 6, Amount: amt(t, "1"), Currency: "RWF", IdemScope: "s", IdemKey: "k", RequestHash: h1}); err != nil || !p.Replayed {
		t.Fatalf("explicit hash replay: %+v %v", p, err)
	}
	if _, err := l.Deposit(ctx, ledger.DepositRequest{UserID: 6, Amount: amt(t, "1"), Currency: "RWF", IdemScope: "s", IdemKey: "k", RequestHash: []byte("other")}); !errors.Is(err, ledger.ErrIdempotencyConflict) {
		t.Fatalf("explicit hash conflict: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("entries = %d, %v; want 4", n, err)
	}
	verifyClean(t, l)
}

// TestConcurrentDuplicates sends one request 20 times at once, from two
// Ledger values (as two processes would: no shared in-process locks).
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	pool := newPool(t, 24)
	ctx := context.Background()
	ls := []*ledger.Ledger{ledgerOn(t, pool, ledger.Options{}), ledgerOn(t, pool, ledger.Options{})}
	if _, err := ls[0].Wallet(ctx, 8, "RWF"); err != nil {
		t.Fatal(err)
	}
	req := ledger.DepositRequest{UserID: 8, Amount: amt(t, "100"), Currency: "RWF", IdemScope: "user:8", IdemKey: "dup"}
	var wg sync.WaitGroup
	results := make([]ledger.Posting, 20)
	errs := make([]error, 20)
	start := make(chan struct{})
	for i := range 20 {
		wg.Go(func() {
			<-start
			results[i], errs[i] = ls[i%2].Deposit(ctx, req)
		})
	}
	close(start)
	wg.Wait()
	posted := 0
	for i := range 20 {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if !results[i].Replayed {
			posted++
		}
		if results[i].Entry.ID != results[0].Entry.ID {
			t.Fatalf("request %d got entry %d, request 0 entry %d", i, results[i].Entry.ID, results[0].Entry.ID)
		}
		wantDec(t, "balance after", results[i].BalanceAfter, "100")
	}
	if posted != 1 {
		t.Fatalf("%d requests posted, want exactly 1", posted)
	}
	bal, _ := ls[0].WalletBalance(ctx, 8, "RWF")
	wantDec(t, "balance", bal, "100")
	verifyClean(t, ls[0])
}

package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/ledger"
)

// TestBank is a Jepsen-style bank test: 32 goroutines, through two Ledger
// values (two "processes" that share no in-process lock), make random
// deposits and withdrawals over 4 wallets — many withdrawals larger than the
// balance, some requests resent with their idempotency key — while a sealer
// runs. Afterwards money is conserved, no balance ever went negative, every
// replay was a replay, and Verify is clean.
func TestBank(t *testing.T) {
	t.Parallel()
	const (
		workers = 32
		opsEach = 40
		wallets = 4
	)
	pool := newPool(t, workers+4)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	// Two processes hammering the same four wallets is the worst case for
	// serialization failures on the wallet heads (the in-process locks only
	// queue postings within one process): allow more tries than the default.
	opts := ledger.Options{Registerer: reg, MaxAttempts: 40}
	ls := []*ledger.Ledger{ledgerOn(t, pool, opts), ledgerOn(t, pool, opts)}

	var mu sync.Mutex
	deposited, withdrawn := decimal.Zero, decimal.Zero
	var refused, replays int

	stopSeal := make(chan struct{})
	sealDone := make(chan error)
	go func() {
		for {
			select {
			case <-stopSeal:
				sealDone <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := ls[0].Seal(ctx); err != nil && !errors.Is(err, ledger.ErrSealWait) {
				sealDone <- err
				return
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			l := ls[w%2]
			var last *ledger.DepositRequest
			var lastKind ledger.Kind
			var lastPosting ledger.Posting
			for i := range opsEach {
				if last != nil && rng.IntN(10) == 0 {
					// Resend the previous successful request: must replay.
					var p ledger.Posting
					var err error
					if lastKind == ledger.KindDeposit {
						p, err = l.Deposit(ctx, *last)
					} else {
						p, err = l.Withdraw(ctx, ledger.WithdrawRequest(*last))
					}
					if err != nil || !p.Replayed || p.Entry.ID != lastPosting.Entry.ID {
						errs <- fmt.Errorf("resend of entry %d: %+v %v", lastPosting.Entry.ID, p, err)
						return
					}
					mu.Lock()
					replays++
					mu.Unlock()
					continue
				}
				user := int64(rng.IntN(wallets) + 1)
				cents := rng.IntN(20000) + 1
				a, _ := ledger.ParseAmount(decimal.New(int64(cents), -2).String())
				req := ledger.DepositRequest{UserID: user, Amount: a, Currency: "RWF",
					IdemScope: fmt.Sprintf("user:%d", user), IdemKey: fmt.Sprintf("w%d-op%d", w, i)}
				kind := ledger.KindDeposit
				var p ledger.Posting
				var err error
				if rng.IntN(2) == 0 {
					p, err = l.Deposit(ctx, req)
				} else {
					kind = ledger.KindWithdrawal
					p, err = l.Withdraw(ctx, ledger.WithdrawRequest(req))
				}
				mu.Lock()
				switch {
				case errors.Is(err, ledger.ErrInsufficientFunds) && kind == ledger.KindWithdrawal:
					refused++
				case err != nil:
					mu.Unlock()
					errs <- fmt.Errorf("worker %d op %d: %w", w, i, err)
					return
				case p.Replayed:
					mu.Unlock()
					errs <- fmt.Errorf("worker %d op %d: fresh key replayed", w, i)
					return
				case kind == ledger.KindDeposit:
					deposited = deposited.Add(a.Decimal())
				default:
					withdrawn = withdrawn.Add(a.Decimal())
				}
				mu.Unlock()
				if err == nil {
					if p.BalanceAfter.IsNegative() {
						errs <- fmt.Errorf("negative balance after %+v", p)
						return
					}
					last, lastKind, lastPosting = &req, kind, p
				}
			}
		})
	}
	wg.Wait()
	close(stopSeal)
	if err := <-sealDone; err != nil {
		t.Fatalf("sealer: %v", err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	// Money is conserved.
	var total decimal.Decimal
	var negatives, entries int64
	if err := pool.QueryRow(ctx, `
		SELECT coalesce(sum(amount), 0),
		       (SELECT count(*) FROM ledger_lines WHERE balance_after < 0),
		       (SELECT count(*) FROM ledger_entries)
		  FROM ledger_lines`).Scan(&total, &negatives, &entries); err != nil {
		t.Fatal(err)
	}
	if !total.IsZero() || negatives != 0 {
		t.Fatalf("sum of all lines %s, %d negative balances", total, negatives)
	}
	walletSum := decimal.Zero
	for u := int64(1); u <= wallets; u++ {
		b, err := ls[0].WalletBalance(ctx, u, "RWF")
		if err != nil {
			t.Fatal(err)
		}
		if b.IsNegative() {
			t.Fatalf("wallet %d balance %s", u, b)
		}
		walletSum = walletSum.Add(b)
	}
	cash, _ := ls[0].CashAccount("RWF")
	cashBal, err := ls[0].Balance(ctx, cash.ID)
	if err != nil {
		t.Fatal(err)
	}
	net := deposited.Sub(withdrawn)
	if !walletSum.Equal(net) || !cashBal.Equal(net) {
		t.Fatalf("wallets hold %s, cash %s; deposits - withdrawals = %s", walletSum, cashBal, net)
	}
	succeeded := int64(workers*opsEach - refused - replays)
	if entries != succeeded {
		t.Fatalf("%d entries for %d successful postings", entries, succeeded)
	}
	if refused == 0 || replays == 0 {
		t.Fatalf("the test did not exercise refusals (%d) and replays (%d)", refused, replays)
	}
	for {
		n, err := ls[0].Seal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	rep := verifyClean(t, ls[0])
	if rep.SealedEntries != entries {
		t.Fatalf("sealed %d of %d entries", rep.SealedEntries, entries)
	}
	tb, err := ls[0].TrialBalance(ctx, time.Now().Add(time.Hour))
	if err != nil || !tb.Balanced || !tb.TotalDebit.Equal(tb.TotalCredit) {
		t.Fatalf("trial balance %+v %v", tb, err)
	}
	t.Logf("%d postings, %d refused, %d replays, %d retries", succeeded, refused, replays, retries(t, reg))
}

// retries sums the ledger's retry counter in reg.
func retries(t testing.TB, reg *prometheus.Registry) int64 {
	t.Helper()
	n, err := metricSum(reg, "creditjambo_ledger_tx_retries_total")
	if err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

// metricSum is the sum of the values of the counter or gauge name in reg
// (over its labels); 0 when it has none yet.
func metricSum(reg *prometheus.Registry, name string) (float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return n, nil
}

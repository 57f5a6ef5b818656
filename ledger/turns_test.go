package ledger_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// TestRunSerializableTurns: at most MaxInFlight transactions run at once,
// as many as that do run together, the others wait (counted by the gauge),
// and a wait gives up with its context.
func TestRunSerializableTurns(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t, sqltest.Options{MaxConns: 10})

	// most runs n transactions of ~50 ms each at once, on distinct wallets
	// (so no stripe queues them), and returns the most that were inside fn
	// together.
	most := func(t *testing.T, l *ledger.Ledger, n int) int64 {
		t.Helper()
		var in, peak atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				errs <- l.RunSerializable(ctx, []int64{int64(i + 1)}, func(tx *ledger.Tx) error {
					now := in.Add(1)
					defer in.Add(-1)
					for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
					}
					_, err := tx.Exec(ctx, `SELECT pg_sleep(0.05)`)
					return err
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return peak.Load()
	}

	t.Run("limited", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		l := ledgerOn(t, db.Pool, ledger.Options{MaxInFlight: 2, Registerer: reg})
		if got := most(t, l, 8); got != 2 {
			t.Errorf("with MaxInFlight 2, %d transactions ran at once, want 2", got)
		}
		if n := waiting(t, reg); n != 0 {
			t.Errorf("creditjambo_ledger_tx_waiting = %v after the runs, want 0", n)
		}
	})
	t.Run("unlimited", func(t *testing.T) {
		l := ledgerOn(t, db.Pool, ledger.Options{MaxInFlight: -1})
		if got := most(t, l, 6); got != 6 {
			t.Errorf("with no limit, %d transactions ran at once, want 6", got)
		}
	})
	t.Run("wait gives up with its context", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		l := ledgerOn(t, db.Pool, ledger.Options{MaxInFlight: 1, Registerer: reg})
		inside, release := make(chan struct{}), make(chan struct{})
		first := make(chan error, 1)
		go func() {
			first <- l.RunSerializable(ctx, []int64{1}, func(tx *ledger.Tx) error {
				close(inside)
				<-release
				return nil
			})
		}()
		<-inside
		waitCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		ran := false
		second := make(chan error, 1)
		go func() {
			second <- l.RunSerializable(waitCtx, []int64{2}, func(tx *ledger.Tx) error {
				ran = true
				return nil
			})
		}()
		deadline := time.Now().Add(5 * time.Second)
		for waiting(t, reg) != 1 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if n := waiting(t, reg); n != 1 {
			t.Errorf("creditjambo_ledger_tx_waiting = %v while one waits, want 1", n)
		}
		if err := <-second; !errors.Is(err, context.DeadlineExceeded) || ran {
			t.Errorf("waiting past its deadline: err %v, ran %v; want context.DeadlineExceeded, not run", err, ran)
		}
		close(release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if n := waiting(t, reg); n != 0 {
			t.Errorf("creditjambo_ledger_tx_waiting = %v after the runs, want 0", n)
		}
	})
}

// waiting reads creditjambo_ledger_tx_waiting from reg.
func waiting(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	n, err := metricSum(reg, "creditjambo_ledger_tx_waiting")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
	"github.com/creditjambo/creditjambo/templates"
)

// TestPeriodicLedgerJobs runs the real periodic seal and verify jobs on a
// real River client and checks that deposits get sealed and the
// verification's outcome reaches Prometheus.
func TestPeriodicLedgerJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := sqltest.New(t)
	l, err := ledger.New(ctx, pool, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		amt, _ := ledger.ParseAmount("10.50")
		if _, err := l.Deposit(ctx, ledger.DepositRequest{UserID: int64(i + 1), Amount: amt, Currency: "RWF"}); err != nil {
			t.Fatal(err)
		}
	}

	renderer, err := templates.New(templates.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	workers := river.NewWorkers()
	if err := AddWorkers(workers, Deps{Renderer: renderer, Sender: discardSender{}, Pool: pool, Ledger: l, Registerer: reg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               Queues(),
		Workers:              workers,
		PeriodicJobs:         PeriodicJobs(),
		FetchCooldown:        5 * time.Millisecond,
		FetchPollInterval:    20 * time.Millisecond,
		JobTimeout:           ClientJobTimeout,
		RescueStuckJobsAfter: RescueStuckJobsAfter,
		TestOnly:             true,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, c := context.WithTimeout(context.Background(), 10*time.Second)
		defer c()
		_ = client.Stop(stopCtx)
	})

	done := map[string]bool{}
	timeout := time.After(30 * time.Second)
	for !done[SealArgs{}.Kind()] || !done[VerifyArgs{}.Kind()] {
		select {
		case ev := <-events:
			if ev.Kind == river.EventKindJobFailed {
				t.Fatalf("job %s failed: %v", ev.Job.Kind, ev.Job.Errors)
			}
			done[ev.Job.Kind] = true
		case <-timeout:
			t.Fatalf("periodic jobs did not complete: %v", done)
		}
	}
	// Every deposit gets chained. A round may seal nothing when a long
	// transaction elsewhere on the server (xids are cluster-wide: another
	// test's) holds the watermark back; a later round, every SealInterval,
	// catches up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sealed int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_seals`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if sealed == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sealed %d entries, want 3", sealed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ok float64 = -1
	for _, f := range families {
		if f.GetName() == "ledger_verify_ok" {
			ok = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if ok != 1 {
		t.Fatalf("ledger_verify_ok = %v, want 1", ok)
	}
}

// Package ledgerbench is what the ledger's benchmark (make bench) and the
// HTTP benchmark (make bench-http) share, so that both measure against the
// same thing in the same way (docs/benchmarks.md): the raw-SQL baseline and
// the load loop. It is for benchmarks only.
//
// The baseline is the minimal double-entry deposit in plain SQL: UPDATE the
// wallet's balance row, INSERT the entry, INSERT its two lines, on tables
// with primary keys only, no triggers, no foreign keys, a fillfactor-50
// balance table; run by a Ledger's RunSerializable, so with the same
// SERIALIZABLE transaction, retry loop and round-trip pipelining as the
// ledger's own postings.
package ledgerbench

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creditjambo/creditjambo/ledger"
)

// RawWallets is how many wallets RawSchema creates, with ids 1 to RawWallets.
const RawWallets = 10_000

// RawSchema creates the baseline's tables and wallets; run ANALYZE after it
// (and after anything else a benchmark loads).
var RawSchema = `
	CREATE TABLE bench_wallets (id bigint PRIMARY KEY, balance numeric(20, 2) NOT NULL DEFAULT 0) WITH (fillfactor = 50);
	CREATE TABLE bench_entries (id bigserial PRIMARY KEY, kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
	CREATE TABLE bench_lines (id bigserial PRIMARY KEY, entry_id bigint NOT NULL, account_id bigint NOT NULL,
	                          amount numeric(20, 2) NOT NULL);
	INSERT INTO bench_wallets (id) SELECT g FROM generate_series(1, ` + strconv.Itoa(RawWallets) + `) g;`

// RawDeposit posts a deposit of 1.00 to wallet (1 to RawWallets) in the
// baseline's tables, in a transaction of l.RunSerializable without
// in-process locks.
func RawDeposit(ctx context.Context, l *ledger.Ledger, wallet int64) error {
	return l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE bench_wallets SET balance = balance + $2 WHERE id = $1`, wallet, "1.00"); err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO bench_entries (kind) VALUES ('deposit') RETURNING id`).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO bench_lines (entry_id, account_id, amount) VALUES ($1, 0, $2), ($1, $3, -$2::numeric)`,
			id, "1.00", wallet)
		return err
	})
}

// Meter measures something over the timed part of a Load (CPU time) and
// reports it per operation.
type Meter interface {
	Start()
	Report(b *testing.B)
}

// Load times b.N calls of op spread over workers goroutines (each with its
// own random source) and reports, beside meter's metrics (meter may be
// nil): throughput as unit ("posts/s", "deposits/s"), p50-ms and p99-ms
// latency of one call (retries included), retries/op (from retries, read
// before and after) and failed/op (calls that returned
// ledger.ErrTooManyRetries; any other error fails b).
func Load(b *testing.B, workers int, unit string, retries func() float64, meter Meter,
	op func(ctx context.Context, worker int, rng *rand.Rand) error) {
	ctx := context.Background()
	var next, failed atomic.Int64
	lat := make([][]time.Duration, workers)
	before := retries()
	if meter != nil {
		meter.Start()
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				err := op(ctx, w, rng)
				lat[w] = append(lat[w], time.Since(t0))
				if errors.Is(err, ledger.ErrTooManyRetries) {
					failed.Add(1)
				} else if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if meter != nil {
		meter.Report(b)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), unit)
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric((retries()-before)/n, "retries/op")
	b.ReportMetric(float64(failed.Load())/n, "failed/op")
}

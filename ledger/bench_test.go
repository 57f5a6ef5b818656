package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/ledger/ledgerbench"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// Method (docs/benchmarks.md): every sub-benchmark posts b.N deposits of
// 1.00 split across W concurrent workers, each in its own SERIALIZABLE
// transaction with retries, and reports throughput (posts/s), p50/p99
// latency of one deposit including its retries, serialization retries per
// posting and postings abandoned after the maximum tries. "raw" is the
// baseline: the minimal equivalent writes in plain SQL (UPDATE the wallet's
// balance row, INSERT the entry, INSERT its two lines; primary keys only, no
// triggers, the same fillfactor-50 balance table and the same retry loop, no
// in-process locks). "ledger" is Ledger.Deposit. Wallets are picked at random
// among 10,000 ("distinct") or are all the same one ("single").

const benchWallets = ledgerbench.RawWallets

var benchWorkers = []int{1, 8, 32, 64}

type benchEnv struct {
	pool      *pgxpool.Pool
	ledger    *ledger.Ledger // with in-process locks
	noStripes *ledger.Ledger // without, for the single-wallet comparison
	raw       *ledger.Ledger // its RunSerializable runs the baseline
	regs      map[*ledger.Ledger]*prometheus.Registry
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	db := sqltest.NewDB(b, sqltest.Options{MaxConns: 70})
	env := &benchEnv{pool: db.Pool, regs: map[*ledger.Ledger]*prometheus.Registry{}}
	mk := func(opts ledger.Options) *ledger.Ledger {
		reg := prometheus.NewRegistry()
		opts.Registerer = reg
		l := ledgerOn(b, db.Pool, opts)
		env.regs[l] = reg
		return l
	}
	env.ledger = mk(ledger.Options{})
	env.noStripes = mk(ledger.Options{LockStripes: -1})
	env.raw = mk(ledger.Options{LockStripes: -1})
	if _, err := db.Pool.Exec(ctx, ledgerbench.RawSchema+`
		INSERT INTO ledger_accounts (code, type, currency, owner_user_id, allow_negative)
		SELECT 'wallet:' || g || ':RWF', 'liability', 'RWF', g, false FROM generate_series(1, `+strconv.Itoa(benchWallets)+`) g ORDER BY g;
		ANALYZE;`); err != nil {
		b.Fatal(err)
	}
	// Warm the wallet caches, as a running service has them.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for u := int64(w + 1); u <= benchWallets; u += 16 {
				for _, l := range []*ledger.Ledger{env.ledger, env.noStripes} {
					if _, err := l.Wallet(ctx, u, "RWF"); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return env
}

// load runs b.N calls of op over workers goroutines and reports the metrics,
// with the CPU time of pool's backends and of this process.
func load(b *testing.B, pool *pgxpool.Pool, workers int, retries func() float64, op func(ctx context.Context, rng *rand.Rand) error) {
	ledgerbench.Load(b, workers, "posts/s", retries, &cpuMeter{pool: pool}, func(ctx context.Context, _ int, rng *rand.Rand) error {
		return op(ctx, rng)
	})
}

func (env *benchEnv) retriesOf(l *ledger.Ledger) func() float64 {
	return func() float64 {
		n, _ := metricSum(env.regs[l], "creditjambo_ledger_tx_retries_total")
		return n
	}
}

// cpuMeter measures the CPU time (user + system) spent by the database
// backends serving a pool and by this process, from /proc: where that is
// readable (a server on the same Linux host), load reports both per posting
// (srv-us/op, client-us/op). Unlike throughput, CPU time per posting hardly
// moves when other work shares the machine. /proc counts in USER_HZ ticks,
// 100 per second on Linux.
type cpuMeter struct {
	pool    *pgxpool.Pool
	backend map[int]int64 // pid -> ticks
	self    int64
}

func procTicks(pid string) (int64, bool) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime, err1 == nil && err2 == nil
}

// backendTicks returns the CPU ticks of every backend connected to the
// pool's database, or nil when they cannot be read.
func backendTicks(ctx context.Context, pool *pgxpool.Pool) map[int]int64 {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil
	}
	m := make(map[int]int64, len(pids))
	for _, pid := range pids {
		t, ok := procTicks(strconv.Itoa(pid))
		if !ok {
			return nil
		}
		m[pid] = t
	}
	return m
}

// Start reads the counters at the start of the timed part.
func (c *cpuMeter) Start() {
	c.self, _ = procTicks("self")
	c.backend = backendTicks(context.Background(), c.pool)
}

// Report reports srv-us/op and client-us/op since Start, if /proc told.
func (c *cpuMeter) Report(b *testing.B) {
	self, ok := procTicks("self")
	after := backendTicks(context.Background(), c.pool)
	if !ok || c.backend == nil || after == nil {
		return
	}
	var ticks int64
	for pid, t := range after {
		ticks += t - c.backend[pid] // a connection opened during the run counts from 0
	}
	b.ReportMetric(float64(ticks)*1e4/float64(b.N), "srv-us/op")
	b.ReportMetric(float64(self-c.self)*1e4/float64(b.N), "client-us/op")
}

// BenchmarkPost compares Ledger.Deposit with the raw baseline at 1, 8, 32
// and 64 workers, on distinct wallets and on a single wallet.
func BenchmarkPost(b *testing.B) {
	env := newBenchEnv(b)
	one, _ := ledger.ParseAmount("1")
	deposit := func(l *ledger.Ledger, pick func(*rand.Rand) int64) func(context.Context, *rand.Rand) error {
		return func(ctx context.Context, rng *rand.Rand) error {
			_, err := l.Deposit(ctx, ledger.DepositRequest{UserID: pick(rng), Amount: one, Currency: "RWF", Description: "bench"})
			return err
		}
	}
	rawDeposit := func(pick func(*rand.Rand) int64) func(context.Context, *rand.Rand) error {
		return func(ctx context.Context, rng *rand.Rand) error {
			return ledgerbench.RawDeposit(ctx, env.raw, pick(rng))
		}
	}
	distinct := func(rng *rand.Rand) int64 { return rng.Int64N(benchWallets) + 1 }
	single := func(*rand.Rand) int64 { return 1 }
	for _, w := range benchWorkers {
		b.Run(fmt.Sprintf("distinct/raw/workers=%d", w), func(b *testing.B) {
			load(b, env.pool, w, env.retriesOf(env.raw), rawDeposit(distinct))
		})
		b.Run(fmt.Sprintf("distinct/ledger/workers=%d", w), func(b *testing.B) {
			load(b, env.pool, w, env.retriesOf(env.ledger), deposit(env.ledger, distinct))
		})
	}
	for _, w := range benchWorkers {
		b.Run(fmt.Sprintf("single/raw/workers=%d", w), func(b *testing.B) {
			load(b, env.pool, w, env.retriesOf(env.raw), rawDeposit(single))
		})
		b.Run(fmt.Sprintf("single/ledger/workers=%d", w), func(b *testing.B) {
			load(b, env.pool, w, env.retriesOf(env.ledger), deposit(env.ledger, single))
		})
		b.Run(fmt.Sprintf("single/ledger-nolocks/workers=%d", w), func(b *testing.B) {
			load(b, env.pool, w, env.retriesOf(env.noStripes), deposit(env.noStripes, single))
		})
	}
}

// BenchmarkHistory measures what must not grow with history: a wallet's
// balance (now and at a past instant) with 10 lines and with 100,000, and
// posting latency on an empty journal and on one of 300,000 entries.
func BenchmarkHistory(b *testing.B) {
	ctx := context.Background()
	db := sqltest.NewDB(b, sqltest.Options{MaxConns: 10})
	l := ledgerOn(b, db.Pool, ledger.Options{})
	// Users 1-1000 post on the empty journal, 1001 and 1002 get 10 and
	// 100,000 lines of history, 1003-2002 get the rest of the history and
	// post on the full journal.
	if _, err := db.Pool.Exec(ctx, `
		INSERT INTO ledger_accounts (code, type, currency, owner_user_id, allow_negative)
		SELECT 'wallet:' || g || ':RWF', 'liability', 'RWF', g, false FROM generate_series(1, 2002) g ORDER BY g`); err != nil {
		b.Fatal(err)
	}
	wallets := make([]ledger.Account, 2003)
	for u := int64(1); u <= 2002; u++ {
		w, err := l.Wallet(ctx, u, "RWF")
		if err != nil {
			b.Fatal(err)
		}
		wallets[u] = w
	}
	post := func(firstUser int64) func(b *testing.B) {
		return func(b *testing.B) { postLatency(b, l, firstUser) }
	}
	b.Run("post/journal=empty", post(1))

	// Bulk history, generated consistently (sequences, balances) by SQL as
	// the superuser with triggers off.
	admin, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	cash, _ := l.CashAccount("RWF")
	bulk := func(n int, firstAccount, accounts int64) {
		_, err := admin.Exec(ctx, `
			SET session_replication_role = replica;
			WITH e AS (
				INSERT INTO ledger_entries (id, kind, effective_at, created_at, description)
				SELECT nextval('ledger_entries_id_seq'), 'deposit', t, t, 'history'
				  FROM (SELECT now() - interval '2 days' + g * interval '100 microseconds' AS t
				          FROM generate_series(1, `+fmt.Sprint(n)+`) g ORDER BY g) s
				RETURNING id, created_at
			), n AS (
				SELECT id, created_at, `+fmt.Sprint(firstAccount)+` + (row_number() OVER (ORDER BY id) % `+fmt.Sprint(accounts)+`) AS acct FROM e
			), m AS (
				SELECT n.*, h.seq + row_number() OVER (PARTITION BY acct ORDER BY id) AS seq
				  FROM n JOIN ledger_account_heads h ON h.account_id = n.acct
			)
			INSERT INTO ledger_lines (entry_id, account_id, amount, currency, account_seq, balance_after, posted_at)
			SELECT id, `+fmt.Sprint(cash.ID)+`, 1.00, 'RWF', NULL, NULL, created_at FROM m
			UNION ALL
			SELECT id, acct, -1.00, 'RWF', seq, seq, created_at FROM m
			ORDER BY 1, 4 NULLS FIRST;
			UPDATE ledger_account_heads h SET balance = s.q, seq = s.q, updated_at = s.t
			  FROM (SELECT account_id, max(account_seq) AS q, max(posted_at) AS t FROM ledger_lines
			         WHERE account_seq IS NOT NULL GROUP BY account_id) s
			 WHERE h.account_id = s.account_id;
			SET session_replication_role = DEFAULT;`)
		if err != nil {
			b.Fatal(err)
		}
	}
	// Every bulk line is 1.00 on a wallet without earlier lines, so
	// balance_after = account_seq and later postings continue the chain.
	bulk(200_000, wallets[1003].ID, 1000)
	bulk(10, wallets[1001].ID, 1)
	bulk(100_000, wallets[1002].ID, 1)
	if _, err := admin.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	var mid time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT posted_at FROM ledger_lines WHERE account_id = $1 AND account_seq = 50000`,
		wallets[1002].ID).Scan(&mid); err != nil {
		b.Fatal(err)
	}

	for _, c := range []struct {
		name string
		w    ledger.Account
	}{{"lines=10", wallets[1001]}, {"lines=100000", wallets[1002]}} {
		b.Run("balance/"+c.name, func(b *testing.B) {
			for range b.N {
				if _, err := l.Balance(ctx, c.w.ID); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("balance-at/"+c.name, func(b *testing.B) {
			for range b.N {
				if _, err := l.BalanceAt(ctx, c.w.ID, mid); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("post/journal=300k", post(1003))
}

// postLatency posts b.N deposits of 1.00, one at a time, to random wallets
// among users firstUser..firstUser+999, and reports p50/p99 latency.
func postLatency(b *testing.B, l *ledger.Ledger, firstUser int64) {
	ctx := context.Background()
	one, _ := ledger.ParseAmount("1")
	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := l.Deposit(ctx, ledger.DepositRequest{UserID: firstUser + rng.Int64N(1000), Amount: one, Currency: "RWF"}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}

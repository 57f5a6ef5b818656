package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// Method (docs/benchmarks.md, "HTTP"): BenchmarkHTTPDeposit posts b.N
// deposits of 1.00 through the real server (api.NewServer over loopback,
// HTTP/1.1 keep-alive, the production middleware, JSON access log written
// and discarded) at W = 1, 8, 32 and 64 concurrent clients, each client on
// its own users, so no two requests in flight share a wallet. Beside it, in
// the same run and database, "raw" is the ledger benchmark's baseline
// (ledger/bench_test.go): the minimal double-entry writes in plain SQL in a
// SERIALIZABLE transaction with the same retry loop, over 10,000 wallets
// (with min(W, 32) connections). It
// reports deposits/s, p50/p99 latency (client side, including retries),
// serialization retries per deposit and 503s per deposit.

const benchUsers = 512

// BenchmarkHTTPDeposit is `make bench-http`.
func BenchmarkHTTPDeposit(b *testing.B) {
	ctx := context.Background()
	db := sqltest.NewDB(b, sqltest.Options{MaxConns: 4})
	// The service's pool, as DATABASE_MAX_CONNS' default.
	pc, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = int32(benchEnvInt(b, "BENCH_HTTP_CONNS", 20))
	var trace *roundTrips
	if os.Getenv("BENCH_HTTP_TRACE") != "" {
		trace = &roundTrips{stats: map[string]*rtStat{}}
		pc.ConnConfig.Tracer = trace
		b.Cleanup(func() { trace.report(b) })
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)

	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := auth.New(auth.Config{
		Pool: pool, Params: fastParams, AccessTTL: time.Hour,
		JWTKey:     []byte("the jwt signing key of the api benchmark, 32+ b"),
		RefreshKey: []byte("the refresh key of the api benchmark, 32+ bytes"),
		CodeKey:    []byte("the code key of the api benchmark, 32+ bytes.."),
		EventFunc:  jobs.AuthEventFunc(client, nil),
	})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	led, err := ledger.New(ctx, pool, ledger.Options{Registerer: reg, MaxInFlight: benchMaxInFlight(b)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(NewServer(Deps{
		Logger: logger, Pool: pool, River: client, Auth: svc, Ledger: led,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Savings: SavingsConfig{Currency: "RWF", LowBalanceThreshold: dec("50"), Limits: ledger.Limits{
			MaxAmount: dec("5000000"), DailyDeposit: dec("20000000"), DailyWithdrawal: dec("20000000"),
		}},
	}))
	b.Cleanup(srv.Close)

	// Users with approved devices, logged in through the service.
	tokens := make([]string, benchUsers)
	first, err := svc.CreateUser(ctx, auth.NewUser{Username: "bench0", Email: "bench0@example.com", Password: testPassword})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO users (username, email, password_hash, date_joined)
		SELECT 'bench' || g, 'bench' || g || '@example.com', u.password_hash, now()
		  FROM generate_series(1, $1::int - 1) g, users u WHERE u.id = $2`, benchUsers, first.ID); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Value
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < benchUsers; i += 8 {
				c := auth.Client{IP: benchIP(i)}
				in := auth.LoginInput{Identifier: fmt.Sprintf("bench%d", i), Password: testPassword, DeviceID: "bench-device"}
				var refused *auth.DeviceError
				if _, err := svc.Login(ctx, in, c); !errors.As(err, &refused) {
					failed.Store(fmt.Errorf("first login of bench%d: %v", i, err))
					return
				}
				if _, err := pool.Exec(ctx, `UPDATE devices SET status = 'APPROVED' WHERE device_id = 'bench-device' AND user_id =
					(SELECT id FROM users WHERE username = $1)`, in.Identifier); err != nil {
					failed.Store(err)
					return
				}
				sess, err := svc.Login(ctx, in, c)
				if err != nil {
					failed.Store(err)
					return
				}
				tokens[i] = sess.Tokens.Access
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}

	httpc := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}}
	body := []byte(`{"amount": "1.00", "currency": "RWF"}`)
	deposit := func(ctx context.Context, user int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/savings/deposit/", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokens[user])
		// One client address per user, behind the trusted proxy: the
		// per-IP limit (1,200 a minute) stays out of the measurement.
		req.Header.Set("X-Forwarded-For", benchIP(user).String())
		res, err := httpc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		msg, _ := io.ReadAll(res.Body)
		switch res.StatusCode {
		case http.StatusCreated:
			return nil
		case http.StatusServiceUnavailable:
			return ledger.ErrTooManyRetries
		}
		return fmt.Errorf("deposit: %d %s", res.StatusCode, msg)
	}
	// Warm up: every user's wallet and day row exist, as in a running
	// service (only a user's first deposit of the day creates them).
	for w := range 16 {
		wg.Go(func() {
			for u := w; u < benchUsers; u += 16 {
				if err := deposit(ctx, u); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}

	raw := newRawBaseline(b, db)
	retries := func(r *prometheus.Registry) func() float64 {
		return func() float64 {
			mfs, _ := r.Gather()
			var n float64
			for _, mf := range mfs {
				if mf.GetName() == "creditjambo_ledger_tx_retries_total" {
					for _, m := range mf.GetMetric() {
						n += counterValue(m)
					}
				}
			}
			return n
		}
	}
	for _, workers := range []int{1, 8, 32, 64} {
		b.Run(fmt.Sprintf("raw/workers=%d", workers), func(b *testing.B) {
			// At most 32 connections: the database server is shared and
			// has 100 slots; beyond 16 clients 2 cores are saturated anyway.
			raw.open(b, int32(min(workers, 32)))
			benchLoad(b, workers, retries(raw.reg), func(ctx context.Context, w int, rng *rand.Rand) error {
				return raw.deposit(ctx, rng.Int64N(rawWallets)+1)
			})
		})
		b.Run(fmt.Sprintf("http/workers=%d", workers), func(b *testing.B) {
			trace.reset()
			next := make([]int, workers)
			benchLoad(b, workers, retries(reg), func(ctx context.Context, w int, _ *rand.Rand) error {
				// Client w uses users w, w+workers, ...: never one another's.
				u := w + next[w]*workers
				if u >= benchUsers {
					next[w], u = 0, w
				}
				next[w]++
				return deposit(ctx, u)
			})
		})
	}
}

func benchIP(user int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 77, byte(user >> 8), byte(user)})
}

// rawWallets is how many wallets the raw baseline spreads over.
const rawWallets = 10_000

// rawBaseline is ledger/bench_test.go's baseline: the minimal equivalent
// writes of a deposit in plain SQL (UPDATE the wallet's balance row, INSERT
// the entry, INSERT its two lines; primary keys only, no triggers, a
// fillfactor-50 balance table) in a SERIALIZABLE transaction, through the
// ledger's retry loop without in-process locks.
type rawBaseline struct {
	url string
	l   *ledger.Ledger
	reg *prometheus.Registry
}

func newRawBaseline(b *testing.B, db *sqltest.DB) *rawBaseline {
	b.Helper()
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `
		CREATE TABLE bench_wallets (id bigint PRIMARY KEY, balance numeric(20, 2) NOT NULL DEFAULT 0) WITH (fillfactor = 50);
		CREATE TABLE bench_entries (id bigserial PRIMARY KEY, kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
		CREATE TABLE bench_lines (id bigserial PRIMARY KEY, entry_id bigint NOT NULL, account_id bigint NOT NULL,
		                          amount numeric(20, 2) NOT NULL);
		INSERT INTO bench_wallets (id) SELECT g FROM generate_series(1, 10000) g;
		ANALYZE;`); err != nil {
		b.Fatal(err)
	}
	return &rawBaseline{url: db.URL, reg: prometheus.NewRegistry()}
}

// benchEnvInt is the integer in the environment variable name, or def when
// it is unset.
func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		b.Fatalf("%s=%q: want an integer", name, v)
	}
	return n
}

// benchMaxInFlight is ledger.Options.MaxInFlight for both the service and
// the baseline: BENCH_HTTP_MAX_IN_FLIGHT (-1: no limit), LEDGER_MAX_IN_FLIGHT's
// default when unset.
func benchMaxInFlight(b *testing.B) int {
	return benchEnvInt(b, "BENCH_HTTP_MAX_IN_FLIGHT", 0)
}

// open gives the baseline its own pool of conns connections for one run,
// closed after it: the database server is shared, and the service's pool
// stays open beside it.
func (r *rawBaseline) open(b *testing.B, conns int32) {
	b.Helper()
	pc, err := pgxpool.ParseConfig(r.url)
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = conns
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if r.l, err = ledger.New(context.Background(), pool, ledger.Options{Registerer: r.reg, LockStripes: -1, MaxInFlight: benchMaxInFlight(b)}); err != nil {
		b.Fatal(err)
	}
}

func (r *rawBaseline) deposit(ctx context.Context, wallet int64) error {
	return r.l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
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

// benchLoad runs b.N calls of op over workers goroutines and reports
// deposits/s, p50/p99 latency, retries per deposit and deposits abandoned
// (ErrTooManyRetries, a 503 over HTTP) per deposit.
func benchLoad(b *testing.B, workers int, retries func() float64, op func(ctx context.Context, worker int, rng *rand.Rand) error) {
	ctx := context.Background()
	var next, gaveUp atomic.Int64
	lat := make([][]time.Duration, workers)
	before := retries()
	cpu0 := readCPU()
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
					gaveUp.Add(1)
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
	cpu := readCPU().sub(cpu0)
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deposits/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric((retries()-before)/float64(b.N), "retries/op")
	b.ReportMetric(float64(gaveUp.Load())/float64(b.N), "failed/op")
	if cpu.total > 0 {
		n := float64(b.N)
		b.ReportMetric(float64(cpu.busy().Microseconds())/n, "cpu-µs/op")
		b.ReportMetric(float64(cpu.self.Microseconds())/n, "go-cpu-µs/op")
		b.ReportMetric(100*float64(cpu.idle)/float64(cpu.total), "idle-%")
	}
}

// roundTrips is a pgx tracer of the service's pool (BENCH_HTTP_TRACE=1):
// per statement (or batch), how many were run and their mean time as seen
// by the client, for the last http sub-benchmark; printed at the end. At one
// client the time is close to the server's; the number of round trips per
// deposit is exact.
type roundTrips struct {
	mu    sync.Mutex
	stats map[string]*rtStat
}

type rtStat struct {
	n   int
	sum time.Duration
}

type rtKey struct{}

type rtStart struct {
	what string
	at   time.Time
}

func (t *roundTrips) reset() {
	if t == nil {
		return
	}
	t.mu.Lock()
	clear(t.stats)
	t.mu.Unlock()
}

func (t *roundTrips) add(ctx context.Context) {
	s, ok := ctx.Value(rtKey{}).(rtStart)
	if !ok {
		return
	}
	t.mu.Lock()
	st := t.stats[s.what]
	if st == nil {
		st = &rtStat{}
		t.stats[s.what] = st
	}
	st.n++
	st.sum += time.Since(s.at)
	t.mu.Unlock()
}

func rtName(sql string) string {
	f := strings.Join(strings.Fields(sql), " ")
	if len(f) > 70 {
		f = f[:70]
	}
	return f
}

func (t *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, rtKey{}, rtStart{what: rtName(d.SQL), at: time.Now()})
}

func (t *roundTrips) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryEndData) {
	t.add(ctx)
}

func (t *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	names := make([]string, 0, d.Batch.Len())
	for _, q := range d.Batch.QueuedQueries {
		names = append(names, rtName(q.SQL)[:min(30, len(rtName(q.SQL)))])
	}
	return context.WithValue(ctx, rtKey{}, rtStart{what: "batch[" + strings.Join(names, " | ") + "]", at: time.Now()})
}

func (t *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t *roundTrips) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchEndData) {
	t.add(ctx)
}

func (t *roundTrips) report(b *testing.B) {
	t.mu.Lock()
	defer t.mu.Unlock()
	type row struct {
		what string
		st   *rtStat
	}
	var rows []row
	for k, v := range t.stats {
		rows = append(rows, row{k, v})
	}
	slices.SortFunc(rows, func(a, b row) int { return int(b.st.sum - a.st.sum) })
	for _, r := range rows {
		b.Logf("%7d × %8.3f ms  %s", r.st.n, float64(r.st.sum.Microseconds())/1000/float64(r.st.n), r.what)
	}
}

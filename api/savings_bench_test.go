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
	"github.com/creditjambo/creditjambo/ledger/ledgerbench"
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
			ledgerbench.Load(b, workers, "deposits/s", retries(raw.reg), &machineCPU{}, func(ctx context.Context, w int, rng *rand.Rand) error {
				return ledgerbench.RawDeposit(ctx, raw.l, rng.Int64N(ledgerbench.RawWallets)+1)
			})
		})
		b.Run(fmt.Sprintf("http/workers=%d", workers), func(b *testing.B) {
			trace.reset()
			next := make([]int, workers)
			ledgerbench.Load(b, workers, "deposits/s", retries(reg), &machineCPU{}, func(ctx context.Context, w int, _ *rand.Rand) error {
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

// rawBaseline is the ledger benchmark's baseline (ledgerbench.RawDeposit)
// with its own pool and metrics.
type rawBaseline struct {
	url string
	l   *ledger.Ledger
	reg *prometheus.Registry
}

func newRawBaseline(b *testing.B, db *sqltest.DB) *rawBaseline {
	b.Helper()
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, ledgerbench.RawSchema+`
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

// machineCPU measures the machine's CPU time (all processes) and this
// process's over the timed part of a load: cpu-µs/op, go-cpu-µs/op and
// idle-%, where /proc/stat can be read.
type machineCPU struct{ t0 cpuTimes }

func (m *machineCPU) Start() { m.t0 = readCPU() }

func (m *machineCPU) Report(b *testing.B) {
	cpu := readCPU().sub(m.t0)
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

package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// savingsOptions shape a savings test server.
type savingsOptions struct {
	limits    ledger.Limits
	threshold string // default "50.00"
	// river, when set, makes the River client that the server inserts with
	// (a working client in tests that deliver emails); it gets the pool.
	river func(t *testing.T, db *sqltest.DB) *river.Client[pgx.Tx]
	// maxConns bounds the pool (default 40).
	maxConns int32
}

// savingsEnv is the real server, with the ledger and the savings rules,
// over a fresh database; authEnv's helpers drive it.
type savingsEnv struct {
	*authEnv
	metrics *prometheus.Registry // the ledger's counters
	river   *river.Client[pgx.Tx]
	users   atomic.Int64
}

func newSavingsEnv(t *testing.T, o savingsOptions) *savingsEnv {
	t.Helper()
	if o.maxConns == 0 {
		o.maxConns = 40
	}
	db := sqltest.NewDB(t, sqltest.Options{MaxConns: o.maxConns})
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	var client *river.Client[pgx.Tx]
	if o.river != nil {
		client = o.river(t, db) // which may give db another pool
	}
	pool := db.Pool
	if client == nil {
		var err error
		if client, err = river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: logger}); err != nil {
			t.Fatal(err)
		}
	}
	sealer, err := jobs.NewSealer([]byte("the email sealing secret of the api tests"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Now().UTC().Truncate(time.Microsecond)}
	e := &authEnv{db: db, pool: pool, sealer: sealer, clock: clock, jwtKey: []byte("the jwt signing key of the api tests, 32+ bytes")}
	e.svc, err = auth.New(auth.Config{
		Pool:       pool,
		JWTKey:     e.jwtKey,
		RefreshKey: []byte("the refresh hashing key of the api tests, 32+ b"),
		CodeKey:    []byte("the code hashing key of the api tests, 32+ bytes"),
		Params:     fastParams,
		EventFunc:  jobs.AuthEventFunc(client, sealer),
		Now:        clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e.ledger, err = ledger.New(context.Background(), pool, ledger.Options{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if o.threshold == "" {
		o.threshold = "50.00"
	}
	led := e.ledger
	h := NewServer(Deps{
		Logger: logger, Pool: pool, River: client, Auth: e.svc, Ledger: led, Now: clock.Now,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Savings: SavingsConfig{
			Currency: "RWF", LowBalanceThreshold: decimal.RequireFromString(o.threshold), Limits: o.limits,
		},
		BalanceFunc: func(ctx context.Context, userID int64) (string, error) {
			b, err := led.WalletBalance(ctx, userID, "RWF")
			return ledger.FormatMoney(b), err
		},
	})
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return &savingsEnv{authEnv: e, metrics: reg, river: client}
}

// customer creates a customer and logs them in on an approved device.
func (e *savingsEnv) customer(t *testing.T) (auth.User, session) {
	t.Helper()
	n := e.users.Add(1)
	u := e.createUser(t, fmt.Sprintf("saver%d", n), auth.RoleCustomer)
	return u, e.approvedLogin(t, u, fmt.Sprintf("phone-%d", n))
}

// move posts a deposit or withdrawal body (a raw JSON string or a value)
// with an optional Idempotency-Key.
func (e *savingsEnv) move(t *testing.T, what, token string, body any, key string) resp {
	t.Helper()
	q := req{method: http.MethodPost, path: "/api/savings/" + what + "/", token: token, body: body}
	if key != "" {
		q.header = map[string]string{"Idempotency-Key": key}
	}
	return e.do(t, q)
}

// balance is the caller's balance as the API answers it.
func (e *savingsEnv) balance(t *testing.T, token string) string {
	t.Helper()
	r := e.get(t, "/api/savings/balance/", token)
	expect(t, r, http.StatusOK, "")
	return r.str("balance")
}

// retries is the ledger's count of serialization retries so far.
func (e *savingsEnv) retries(t *testing.T) float64 {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
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

func counterValue(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// verifyLedger fails t unless the ledger verifies clean.
func (e *savingsEnv) verifyLedger(t *testing.T) {
	t.Helper()
	rep, err := e.ledger.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("ledger verification: %d problem(s): %+v", rep.ProblemCount, rep.Problems)
	}
}

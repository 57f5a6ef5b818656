package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/api"
	"github.com/creditjambo/creditjambo/ledger"
	dbsql "github.com/creditjambo/creditjambo/sql"
)

const usage = `creditjambo: the CreditJambo savings service

Usage:
  creditjambo serve             HTTP API and background workers in one process
  creditjambo api               HTTP API only (jobs are queued, not worked)
  creditjambo worker            background workers only
  creditjambo migrate           apply the service's and River's migrations
  creditjambo verify-ledger     check the ledger's hash chain, balances and
                                derived balances; exit status 0 only when clean
  creditjambo createsuperuser --username U --email E [--password-stdin]
                                create an admin; the password is prompted for on
                                a terminal, or read as one line from stdin

Configuration comes from the environment and an optional .env file;
see README.md for every variable.
`

// shutdownTimeout bounds how long in-flight requests and running jobs get to
// finish after SIGINT or SIGTERM.
const shutdownTimeout = 25 * time.Second

// run is the whole program: main only calls it. Tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve", "api", "worker", "migrate", "createsuperuser", "verify-ledger":
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if cmd != "migrate" && cmd != "verify-ledger" {
		if err := cfg.ensureSecretKey(); err != nil {
			return err
		}
	}
	log := newLogger(cfg, stderr)

	if cfg.DatabaseURL == "" {
		return errors.New("DATABASE_URL: not set (use `make run`, which starts a local PostgreSQL, or set it to your server's URL)")
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	switch cmd {
	case "migrate":
		res, err := dbsql.Migrate(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "migrations applied: %d service, %d River; schema is current\n", len(res.Applied), len(res.RiverApplied))
		return nil
	case "verify-ledger":
		return verifyLedger(ctx, cfg, pool, stdout)
	case "createsuperuser":
		return createSuperuser(ctx, cfg, pool, rest, stdin, stdout, stderr)
	}

	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if err := dbsql.CheckCurrent(ctx, pool); err != nil {
		if errors.Is(err, dbsql.ErrPending) {
			return fmt.Errorf("%w (then start %s again)", err, cmd)
		}
		return fmt.Errorf("database: %w", err)
	}
	return serve(ctx, cfg, log, pool, cmd, stdout)
}

// serve runs the API, the workers or both until ctx is done, then shuts
// down in order: stop accepting, let in-flight requests finish, stop River
// (running jobs finish), close the pool.
func serve(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, cmd string, stdout io.Writer) error {
	withAPI, withWorkers := cmd != "worker", cmd != "api"

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	app, err := newApp(ctx, cfg, log, pool, reg, withWorkers)
	if err != nil {
		return err
	}
	if withWorkers {
		if err := app.river.Start(ctx); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
	}

	var servers []*http.Server
	errc := make(chan error, 2)
	listen := func(addr string, h http.Handler, what string) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("%s: listen on %s: %w", what, addr, err)
		}
		srv := &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
		servers = append(servers, srv)
		fmt.Fprintf(stdout, "creditjambo %s: %s listening on http://%s\n", cmd, what, ln.Addr())
		log.Info("listening", "what", what, "addr", ln.Addr().String())
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", what, err)
			}
		}()
		return nil
	}

	metricsSeparate := cfg.MetricsAddr != ""
	if withAPI {
		h := api.NewServer(api.Deps{
			Logger:         log,
			Pool:           pool,
			River:          app.river,
			Registry:       reg,
			Gatherer:       reg,
			MetricsOnMain:  !metricsSeparate,
			ReadyFunc:      readyFunc(pool),
			Debug:          cfg.Debug,
			AllowedOrigins: cfg.CORSAllowedOrigins,
			TrustedProxies: cfg.TrustedProxies,
			Ledger:         app.ledger,
			Emails:         app.emails,
			Outbox:         app.outbox(),
			Auth:           app.auth,
			Savings: api.SavingsConfig{
				Currency:            cfg.Currency,
				LowBalanceThreshold: cfg.LowBalanceThreshold,
				Limits: ledger.Limits{
					MaxAmount:       cfg.MaxTransaction,
					DailyDeposit:    cfg.DailyDepositLimit,
					DailyWithdrawal: cfg.DailyWithdrawLimit,
				},
			},
			BalanceFunc: func(ctx context.Context, userID int64) (string, error) {
				bal, err := app.ledger.WalletBalance(ctx, userID, cfg.Currency)
				return ledger.FormatMoney(bal), err
			},
		})
		if err := listen(cfg.HTTPAddr, h, "api"); err != nil {
			return stopAll(log, app, servers, err)
		}
	}
	if metricsSeparate || !withAPI {
		addr := cfg.MetricsAddr
		if addr == "" {
			addr = cfg.HTTPAddr // a lone worker serves its probes and metrics there
		}
		if err := listen(addr, opsHandler(reg, pool), "metrics"); err != nil {
			return stopAll(log, app, servers, err)
		}
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return stopAll(log, app, servers, nil)
	case err := <-errc:
		return stopAll(log, app, servers, err)
	}
}

func stopAll(log *slog.Logger, app *app, servers []*http.Server, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	errs := []error{cause}
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if app.working {
		if err := app.river.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop workers: %w", err))
		}
	}
	log.Info("stopped")
	return errors.Join(errs...)
}

// opsHandler serves /healthz, /readyz and /metrics on METRICS_ADDR (or on a
// worker's HTTP_ADDR).
func opsHandler(reg *prometheus.Registry, pool *pgxpool.Pool) http.Handler {
	mux := http.NewServeMux()
	ready := readyFunc(pool)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if err := ready(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"unavailable"}`+"\n")
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	return mux
}

// readyFunc checks that the database answers and its schema is current. A
// current schema stays current for this binary, so that part is remembered.
func readyFunc(pool *pgxpool.Pool) func(context.Context) error {
	var current bool
	return func(ctx context.Context) error {
		if err := pool.Ping(ctx); err != nil {
			return fmt.Errorf("database unreachable: %w", err)
		}
		if current {
			return nil
		}
		if err := dbsql.CheckCurrent(ctx, pool); err != nil {
			return err
		}
		current = true
		return nil
	}
}

func openPool(ctx context.Context, cfg config) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pc.MaxConns = int32(cfg.DatabaseMaxConns)
	pc.ConnConfig.RuntimeParams["application_name"] = "creditjambo"
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("database at DATABASE_URL does not answer: %w", err)
	}
	return pool, nil
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Debug {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// riverTx names the River client type used throughout.
type riverClient = river.Client[pgx.Tx]

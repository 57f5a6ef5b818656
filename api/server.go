package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/templates"
)

// Deps is everything the HTTP edge needs, built once in run.
type Deps struct {
	Logger *slog.Logger
	Pool   *pgxpool.Pool
	// River inserts jobs in the same transaction as the data they describe.
	// The API's client is insert-only; workers run in `serve` or `worker`.
	River *river.Client[pgx.Tx]
	// Registry receives the HTTP metrics; Gatherer serves /metrics.
	Registry prometheus.Registerer
	Gatherer prometheus.Gatherer
	// MetricsOnMain serves /metrics on this handler (false when
	// METRICS_ADDR gives it its own listener).
	MetricsOnMain bool
	// ReadyFunc reports whether the database answers and its schema is
	// current; /readyz returns 503 with its error otherwise.
	ReadyFunc func(context.Context) error
	Debug     bool
	// AllowedOrigins are the exact CORS origins allowed.
	AllowedOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Ledger is the double-entry ledger: wallets, postings, reports.
	Ledger *ledger.Ledger
	// Emails renders email templates for the DEBUG preview pages.
	Emails *templates.Renderer
	// Outbox lists the emails the console sender kept, newest first, for
	// the DEBUG preview pages; nil when emails are really sent.
	Outbox func() []jobs.OutgoingEmail
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Auth is the identity service behind /api/auth/, devices and every
	// authenticated route.
	Auth *auth.Service
	// BalanceFunc returns a user's wallet balance as a money string
	// ("1500.00") for the user shapes of login and /api/auth/me/. The ledger
	// is not wired into the API yet: nil answers "0.00" until the savings
	// work plugs in the real wallet balance.
	BalanceFunc func(ctx context.Context, userID int64) (string, error)
	// Savings are the wallet rules of the savings routes (api/savings.go).
	Savings SavingsConfig
}

// server holds the dependencies of every handler.
type server struct {
	log            *slog.Logger
	pool           *pgxpool.Pool
	river          *river.Client[pgx.Tx]
	gatherer       prometheus.Gatherer
	metrics        *httpMetrics
	ready          func(context.Context) error
	debug          bool
	metricsOnMain  bool
	origins        map[string]bool
	trustedProxies []netip.Prefix
	ledger         *ledger.Ledger
	emails         *templates.Renderer
	outbox         func() []jobs.OutgoingEmail
	now            func() time.Time
	router         *mux.Router
	auth           *auth.Service
	inbox          *jobs.Inbox
	balanceFunc    func(ctx context.Context, userID int64) (string, error)
	savings        SavingsConfig
	limiter        *ledger.Limiter
	recipients     *recipientCache
	kigali         *time.Location
}

// NewServer builds the service's HTTP handler.
func NewServer(d Deps) http.Handler { return newServer(d).handler() }

func newServer(d Deps) *server {
	s := &server{
		log:            d.Logger,
		pool:           d.Pool,
		river:          d.River,
		gatherer:       d.Gatherer,
		ready:          d.ReadyFunc,
		debug:          d.Debug,
		metricsOnMain:  d.MetricsOnMain,
		origins:        map[string]bool{},
		trustedProxies: d.TrustedProxies,
		ledger:         d.Ledger,
		emails:         d.Emails,
		outbox:         d.Outbox,
		now:            d.Now,
		auth:           d.Auth,
		balanceFunc:    d.BalanceFunc,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.gatherer == nil {
		s.gatherer = prometheus.NewRegistry()
	}
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.metrics = newHTTPMetrics(reg)
	s.inbox = jobs.NewInbox(s.pool, s.river, s.now)
	s.initSavings(d.Savings)
	for _, o := range d.AllowedOrigins {
		s.origins[o] = true
	}
	s.router = mux.NewRouter()
	s.router.Use(recordRoute)
	s.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, errNotFound)
	})
	s.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, errMethodNotAllowed)
	})
	s.routes()
	return s
}

// handler wraps the router in the edge middleware.
func (s *server) handler() http.Handler {
	return s.edge(s.limitAPI(http.HandlerFunc(s.serveSlashless)))
}

// serveSlashless serves a path without its trailing slash exactly as the
// path with it (no redirect: a redirected POST loses its body in some
// clients), and vice versa.
func (s *server) serveSlashless(w http.ResponseWriter, r *http.Request) {
	if s.routed(r) {
		s.router.ServeHTTP(w, r)
		return
	}
	alt := r.Clone(r.Context())
	if strings.HasSuffix(r.URL.Path, "/") {
		alt.URL.Path = strings.TrimSuffix(r.URL.Path, "/")
	} else {
		alt.URL.Path = r.URL.Path + "/"
	}
	alt.URL.RawPath = ""
	if alt.URL.Path != "" && s.routed(alt) {
		s.router.ServeHTTP(w, alt)
		return
	}
	s.router.ServeHTTP(w, r)
}

// routed reports whether some route serves r's path (for r's method or
// another). With a NotFoundHandler set, mux's Match reports true for every
// request, so the match error tells.
func (s *server) routed(r *http.Request) bool {
	var m mux.RouteMatch
	s.router.Match(r, &m)
	return m.MatchErr == nil || m.MatchErr == mux.ErrMethodMismatch
}

// handlerFunc is a handler that returns its error; handle writes it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

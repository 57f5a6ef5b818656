package ledger

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"
)

// AccountType is the accounting class of an account.
type AccountType string

// The account types. Assets and expenses are debit-normal; liabilities,
// equity and income are credit-normal.
const (
	Asset     AccountType = "asset"
	Liability AccountType = "liability"
	Equity    AccountType = "equity"
	Income    AccountType = "income"
	Expense   AccountType = "expense"
)

// Normal returns +1 for a debit-normal type and -1 for a credit-normal one:
// an account's balance is Normal() times the sum of its signed lines.
func (t AccountType) Normal() int {
	if t == Asset || t == Expense {
		return 1
	}
	return -1
}

func (t AccountType) normalDec() decimal.Decimal { return decimal.NewFromInt(int64(t.Normal())) }

// Account is a row of the chart of accounts. Accounts never change once
// created.
type Account struct {
	ID            int64
	Code          string
	Type          AccountType
	Currency      string
	OwnerUserID   int64 // 0 for system accounts
	AllowNegative bool
	CreatedAt     time.Time
}

// HasHead reports whether the account keeps a head (running balance and line
// sequence): every account that may not go negative, i.e. the wallets.
func (a Account) HasHead() bool { return !a.AllowNegative }

// Options configure a Ledger. The zero value works.
type Options struct {
	// Currencies get system accounts (cash:<CUR>, equity:adjustments:<CUR>),
	// created by New if missing. Default ["RWF"]. Wallets and postings in
	// other currencies fail with ErrUnknownCurrency.
	Currencies []string
	// Registerer receives the ledger's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now is the clock for the ledger's own timing (seal deadline, report
	// time). Posting times come from the database clock. Default time.Now.
	Now func() time.Time
	// MaxAttempts bounds the tries of a serializable transaction. Default 10.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the exponential backoff with full
	// jitter between tries. Defaults 2ms and 250ms.
	BackoffBase, BackoffMax time.Duration
	// LockStripes is the number of in-process mutexes keyed by wallet
	// account id that postings take before BEGIN. Default 1024; negative
	// disables them (benchmarks compare).
	LockStripes int
	// MaxInFlight is the most transactions RunSerializable runs at once in
	// this Ledger; the others wait their turn, in arrival order, before they
	// take a connection. Past the database's cores more concurrent
	// transactions add no throughput, only CPU (context switches, SSI
	// bookkeeping) and tail latency (docs/benchmarks.md). Default 8;
	// negative: no limit.
	MaxInFlight int
	// CacheSize bounds the in-memory account and wallet caches. Default 100,000.
	CacheSize int
	// SealBatch is how many entries Seal chains per transaction. Default 500.
	SealBatch int
	// SealWait bounds how long Seal waits for older transactions. Default 5s.
	SealWait time.Duration
	// MaxProblems is how many problems a Verify report keeps (all are
	// counted). Default 100.
	MaxProblems int
}

// Ledger is the double-entry ledger. It is safe for concurrent use.
type Ledger struct {
	pool     *pgxpool.Pool
	opts     Options
	system   map[string]systemAccounts // by currency
	accounts *boundedCache[int64, Account]
	wallets  *boundedCache[walletKey, int64]
	locks    *stripes
	// admit holds a token per transaction in flight (MaxInFlight); nil
	// when unlimited.
	admit chan struct{}
	// walletSQL is the ledger's own posting statement for an entry of a
	// head-less account and a wallet (see postWalletPair).
	walletSQL string
	waiting   prometheus.Gauge
	retries   *prometheus.CounterVec
	gaveUp    prometheus.Counter
}

type systemAccounts struct{ cash, equity Account }

type walletKey struct {
	user     int64
	currency string
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// New returns a Ledger on pool, making sure the system accounts of every
// configured currency exist and caching them: the posting path never reads
// them again.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Ledger, error) {
	if len(opts.Currencies) == 0 {
		opts.Currencies = []string{"RWF"}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = 2 * time.Millisecond
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 250 * time.Millisecond
	}
	if opts.LockStripes == 0 {
		opts.LockStripes = 1024
	}
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = 8
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
	}
	if opts.SealBatch <= 0 {
		opts.SealBatch = 500
	}
	if opts.SealWait <= 0 {
		opts.SealWait = 5 * time.Second
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 100
	}
	l := &Ledger{
		pool:     pool,
		opts:     opts,
		system:   make(map[string]systemAccounts),
		accounts: newBoundedCache[int64, Account](opts.CacheSize),
		wallets:  newBoundedCache[walletKey, int64](opts.CacheSize),
		locks:    newStripes(opts.LockStripes),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "creditjambo_ledger_tx_waiting",
			Help: "Serializable ledger transactions waiting for their turn (at most MaxInFlight run at once).",
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "creditjambo_ledger_tx_retries_total",
			Help: "Serializable ledger transactions run again after a serialization failure (40001) or deadlock (40P01).",
		}, []string{"code"}),
		gaveUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "creditjambo_ledger_tx_gave_up_total",
			Help: "Serializable ledger transactions abandoned after the maximum number of tries.",
		}),
	}
	if opts.Registerer != nil {
		var err error
		if l.retries, err = register(opts.Registerer, l.retries); err != nil {
			return nil, err
		}
		if l.gaveUp, err = register(opts.Registerer, l.gaveUp); err != nil {
			return nil, err
		}
		if l.waiting, err = register(opts.Registerer, l.waiting); err != nil {
			return nil, err
		}
	}
	if opts.MaxInFlight > 0 {
		l.admit = make(chan struct{}, opts.MaxInFlight)
	}
	if err := pool.QueryRow(ctx, `SELECT ledger_wallet_posting_sql()`).Scan(&l.walletSQL); err != nil {
		return nil, fmt.Errorf("ledger: load the posting statement: %w", err)
	}
	for _, cur := range opts.Currencies {
		if !currencyRE.MatchString(cur) {
			return nil, fmt.Errorf("ledger: currency %q is not three upper-case letters", cur)
		}
		sa, err := l.ensureSystemAccounts(ctx, cur)
		if err != nil {
			return nil, err
		}
		l.system[cur] = sa
	}
	return l, nil
}

// register registers c, or returns the collector already registered under
// the same description (two Ledgers in one process share the counters).
func register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("ledger: register metrics: %w", err)
	}
	return c, nil
}

func (l *Ledger) ensureSystemAccounts(ctx context.Context, cur string) (systemAccounts, error) {
	_, err := l.pool.Exec(ctx, `
		INSERT INTO ledger_accounts (code, type, currency, allow_negative)
		VALUES ('cash:' || $1, 'asset', $1, true), ('equity:adjustments:' || $1, 'equity', $1, true)
		ON CONFLICT DO NOTHING`, cur)
	if err != nil {
		return systemAccounts{}, fmt.Errorf("ledger: create system accounts for %s: %w", cur, err)
	}
	var sa systemAccounts
	for code, dst := range map[string]*Account{"cash:" + cur: &sa.cash, "equity:adjustments:" + cur: &sa.equity} {
		a, err := scanAccount(l.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM ledger_accounts WHERE code = $1`, code))
		if err != nil {
			return systemAccounts{}, fmt.Errorf("ledger: load system account %s: %w", code, err)
		}
		*dst = a
		l.accounts.put(a.ID, a)
	}
	return sa, nil
}

// CashAccount returns the settlement account of currency (ErrUnknownCurrency
// if it is not configured).
func (l *Ledger) CashAccount(currency string) (Account, error) {
	sa, ok := l.system[currency]
	if !ok {
		return Account{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, currency)
	}
	return sa.cash, nil
}

// AdjustmentsAccount returns the equity account that adjustments of currency
// are booked against.
func (l *Ledger) AdjustmentsAccount(currency string) (Account, error) {
	sa, ok := l.system[currency]
	if !ok {
		return Account{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, currency)
	}
	return sa.equity, nil
}

// querier is what pgxpool.Pool, pgx.Conn and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

const accountCols = `id, code, type, currency, coalesce(owner_user_id, 0), allow_negative, created_at`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	var typ string
	err := row.Scan(&a.ID, &a.Code, &typ, &a.Currency, &a.OwnerUserID, &a.AllowNegative, &a.CreatedAt)
	a.Type = AccountType(typ)
	return a, err
}

// Account returns the account with id (ErrAccountNotFound if none), from the
// cache when possible.
func (l *Ledger) Account(ctx context.Context, id int64) (Account, error) {
	return l.account(ctx, l.pool, id)
}

func (l *Ledger) account(ctx context.Context, q querier, id int64) (Account, error) {
	if a, ok := l.accounts.get(id); ok {
		return a, nil
	}
	a, err := scanAccount(q.QueryRow(ctx, `SELECT `+accountCols+` FROM ledger_accounts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("%w: id %d", ErrAccountNotFound, id)
	}
	if err != nil {
		return Account{}, err
	}
	l.accounts.put(id, a)
	return a, nil
}

// Wallet returns the wallet of userID in currency, creating it (with its
// head) on first use in its own short READ COMMITTED transaction. Call it
// before a serializable posting transaction: creating a wallet inside one
// inserts into index pages other postings read. The result is cached.
func (l *Ledger) Wallet(ctx context.Context, userID int64, currency string) (Account, error) {
	return l.wallet(ctx, l.pool, userID, currency)
}

// WalletTx is Wallet in the caller's transaction. A wallet it creates exists
// only if tx commits; prefer Wallet where possible (see there).
func (l *Ledger) WalletTx(ctx context.Context, tx pgx.Tx, userID int64, currency string) (Account, error) {
	return l.wallet(ctx, tx, userID, currency)
}

func (l *Ledger) wallet(ctx context.Context, q querier, userID int64, currency string) (Account, error) {
	if userID <= 0 {
		return Account{}, fmt.Errorf("%w: user id %d", ErrInvalidEntry, userID)
	}
	if _, ok := l.system[currency]; !ok {
		return Account{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, currency)
	}
	key := walletKey{userID, currency}
	if id, ok := l.wallets.get(key); ok {
		if a, ok := l.accounts.get(id); ok {
			return a, nil
		}
	}
	const create = `
		WITH ins AS (
			INSERT INTO ledger_accounts (code, type, currency, owner_user_id, allow_negative)
			VALUES (format('wallet:%s:%s', $1::bigint, $2::text), 'liability', $2::text, $1, false)
			ON CONFLICT DO NOTHING
			RETURNING ` + accountCols + `
		)
		SELECT * FROM ins
		UNION ALL
		SELECT ` + accountCols + ` FROM ledger_accounts WHERE owner_user_id = $1 AND currency = $2::text
		LIMIT 1`
	a, err := scanAccount(q.QueryRow(ctx, create, userID, currency))
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent transaction created it after our snapshot was taken;
		// a new statement sees it (READ COMMITTED; in a caller's
		// REPEATABLE READ/SERIALIZABLE transaction this fails and the
		// caller's retry handles it).
		a, err = scanAccount(q.QueryRow(ctx,
			`SELECT `+accountCols+` FROM ledger_accounts WHERE owner_user_id = $1 AND currency = $2`, userID, currency))
	}
	if err != nil {
		return Account{}, fmt.Errorf("ledger: wallet of user %d: %w", userID, MapError(err))
	}
	l.accounts.put(a.ID, a)
	l.wallets.put(key, a.ID)
	return a, nil
}

// boundedCache is a map with a size bound: when full, an arbitrary entry is
// evicted. The cached values (accounts) never change, so staleness is not a
// concern, only memory.
type boundedCache[K comparable, V any] struct {
	mu  sync.RWMutex
	max int
	m   map[K]V
}

func newBoundedCache[K comparable, V any](max int) *boundedCache[K, V] {
	return &boundedCache[K, V]{max: max, m: make(map[K]V)}
}

func (c *boundedCache[K, V]) get(k K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *boundedCache[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m { // Go's map order is random: evict one at random
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
}

// stripes are in-process locks keyed by account id, taken in a fixed order
// before a posting transaction begins, so that postings to one wallet queue
// here instead of failing each other with serialization errors. Across
// processes the retry loop still guarantees correctness; the stripes only
// reduce wasted work.
type stripes struct {
	ch []chan struct{}
}

func newStripes(n int) *stripes {
	if n < 0 {
		return &stripes{}
	}
	s := &stripes{ch: make([]chan struct{}, n)}
	for i := range s.ch {
		s.ch[i] = make(chan struct{}, 1)
	}
	return s
}

// lock takes the stripes of ids in ascending stripe order and returns the
// function releasing them. It gives up when ctx is done.
func (s *stripes) lock(ctx context.Context, ids []int64) (func(), error) {
	if len(s.ch) == 0 || len(ids) == 0 {
		return func() {}, nil
	}
	idx := make([]int, 0, len(ids))
	for _, id := range ids {
		i := int(uint64(id) % uint64(len(s.ch)))
		dup := false
		for _, j := range idx {
			dup = dup || j == i
		}
		if !dup {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	unlock := func(n int) {
		for _, i := range idx[:n] {
			<-s.ch[i]
		}
	}
	for n, i := range idx {
		select {
		case s.ch[i] <- struct{}{}:
		case <-ctx.Done():
			unlock(n)
			return nil, ctx.Err()
		}
	}
	return func() { unlock(len(idx)) }, nil
}

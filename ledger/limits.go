package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"
)

// Errors of the wallet limits. A refused request wrote nothing; both are
// returned as a *LimitError, which says which limit and by how much.
var (
	// ErrAmountOverLimit: the amount is over the maximum per transaction.
	ErrAmountOverLimit = errors.New("amount over the per-transaction limit")
	// ErrDailyLimitExceeded: the amount would take the wallet's deposits or
	// withdrawals of the calendar day over the daily limit.
	ErrDailyLimitExceeded = errors.New("daily limit exceeded")
)

// LimitError is a request refused by a limit. It matches
// ErrAmountOverLimit (Daily false) or ErrDailyLimitExceeded (Daily true).
type LimitError struct {
	Kind  Kind // KindDeposit or KindWithdrawal
	Daily bool
	Limit decimal.Decimal
	// Remaining is what the wallet may still move today (daily limits only).
	Remaining decimal.Decimal
}

func (e *LimitError) Error() string {
	if e.Daily {
		return fmt.Sprintf("daily %s limit of %s exceeded (%s left today)", e.Kind, FormatMoney(e.Limit), FormatMoney(e.Remaining))
	}
	return fmt.Sprintf("%s amount over the limit of %s per transaction", e.Kind, FormatMoney(e.Limit))
}

// Is matches the sentinel of the limit.
func (e *LimitError) Is(target error) bool {
	if e.Daily {
		return target == ErrDailyLimitExceeded
	}
	return target == ErrAmountOverLimit
}

// Limits bound deposits and withdrawals. A zero value means no limit.
type Limits struct {
	// MaxAmount bounds one deposit or withdrawal.
	MaxAmount decimal.Decimal
	// DailyDeposit and DailyWithdrawal bound what one wallet deposits and
	// withdraws per calendar day of Location.
	DailyDeposit, DailyWithdrawal decimal.Decimal
	// Location draws the calendar days; nil means UTC.
	Location *time.Location
}

// Limiter applies Limits to the wallets of a Ledger. The daily totals live
// in wallet_day_totals (sql/migrations/0006_savings.sql), one row per wallet
// and day: Prepare creates the row before the posting transaction, ChargeTx
// moves it inside, with a conditional UPDATE that stays HOT. The posting
// transaction therefore reads no index page that another posting inserts
// into (see the package doc), and a refused charge writes nothing. It is
// safe for concurrent use.
type Limiter struct {
	l      *Ledger
	limits Limits

	mu    sync.Mutex
	ready map[int64]time.Time // wallet → the day whose row is known to exist
}

// maxReady bounds Limiter's memory of prepared rows; beyond it the memory
// is dropped and rows are prepared again (a no-op INSERT each).
const maxReady = 100_000

// NewLimiter returns a Limiter of l's wallets.
func (l *Ledger) NewLimiter(limits Limits) *Limiter {
	if limits.Location == nil {
		limits.Location = time.UTC
	}
	return &Limiter{l: l, limits: limits, ready: make(map[int64]time.Time)}
}

// Limits returns the limits applied.
func (g *Limiter) Limits() Limits { return g.limits }

// Check refuses an amount over the per-transaction limit with a
// *LimitError (ErrAmountOverLimit).
func (g *Limiter) Check(kind Kind, amount Amount) error {
	if m := g.limits.MaxAmount; m.IsPositive() && amount.Decimal().GreaterThan(m) {
		return &LimitError{Kind: kind, Limit: m}
	}
	return nil
}

// Day is the calendar day of t in the limits' location, as a date at
// midnight UTC (how a PostgreSQL date is passed).
func (g *Limiter) Day(t time.Time) time.Time {
	y, m, d := t.In(g.limits.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (g *Limiter) daily(kind Kind) (decimal.Decimal, string) {
	if kind == KindWithdrawal {
		return g.limits.DailyWithdrawal, "withdrawn"
	}
	return g.limits.DailyDeposit, "deposited"
}

// Prepare makes sure the wallet's row for day exists, in its own short
// statement outside any posting transaction. After the first call for a
// wallet and day it does nothing.
func (g *Limiter) Prepare(ctx context.Context, walletID int64, day time.Time) error {
	if !g.limits.DailyDeposit.IsPositive() && !g.limits.DailyWithdrawal.IsPositive() {
		return nil
	}
	g.mu.Lock()
	known := g.ready[walletID].Equal(day)
	g.mu.Unlock()
	if known {
		return nil
	}
	if _, err := g.l.pool.Exec(ctx, `
		INSERT INTO wallet_day_totals (account_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		walletID, day); err != nil {
		return fmt.Errorf("ledger: prepare day totals of account %d: %w", walletID, err)
	}
	g.mu.Lock()
	if len(g.ready) >= maxReady {
		clear(g.ready)
	}
	g.ready[walletID] = day
	g.mu.Unlock()
	return nil
}

// ChargeTx adds amount to what the wallet deposited or withdrew (kind) on
// day, in the caller's posting transaction, refusing with a *LimitError
// (ErrDailyLimitExceeded) when that would exceed the daily limit. Call
// Prepare first: without the row it still works, but inserts it inside the
// transaction, into an index page other postings read.
func (g *Limiter) ChargeTx(ctx context.Context, tx pgx.Tx, walletID int64, day time.Time, kind Kind, amount Amount) error {
	limit, col := g.daily(kind)
	if !limit.IsPositive() {
		return nil
	}
	tag, err := tx.Exec(ctx, chargeSQL(col), walletID, day, amount.Decimal(), limit)
	if err != nil {
		return err
	}
	return g.settle(ctx, tx, walletID, day, kind, amount, tag.RowsAffected())
}

// chargeSQL is the conditional UPDATE of ChargeTx for column col: one
// constant text per column, so that pgx prepares it once per connection.
func chargeSQL(col string) string {
	if col == "withdrawn" {
		return chargeWithdrawnSQL
	}
	return chargeDepositedSQL
}

const (
	chargeDepositedSQL = `
		UPDATE wallet_day_totals SET deposited = deposited + $3
		 WHERE account_id = $1 AND day = $2 AND deposited + $3 <= $4`
	chargeWithdrawnSQL = `
		UPDATE wallet_day_totals SET withdrawn = withdrawn + $3
		 WHERE account_id = $1 AND day = $2 AND withdrawn + $3 <= $4`
)

// PendingCharge is a charge queued in a pgx.Batch by QueueCharge; Settle
// finishes it once the batch has been sent and closed.
type PendingCharge struct {
	g        *Limiter
	walletID int64
	day      time.Time
	kind     Kind
	amount   Amount
	// none: no daily limit for kind, nothing was queued.
	none bool
	// rows is the UPDATE's count of moved rows, -1 until the batch's
	// results have been read.
	rows int64
}

// QueueCharge is ChargeTx's conditional UPDATE queued in b, for a caller
// that sends it in one round trip with other statements of the posting
// transaction (pgx pipelining). After the batch has been sent in the
// transaction and its results read (BatchResults.Close), Settle gives
// ChargeTx's answer. Call Prepare first, as for ChargeTx.
func (g *Limiter) QueueCharge(b *pgx.Batch, walletID int64, day time.Time, kind Kind, amount Amount) *PendingCharge {
	pc := &PendingCharge{g: g, walletID: walletID, day: day, kind: kind, amount: amount, rows: -1}
	limit, col := g.daily(kind)
	if !limit.IsPositive() {
		pc.none = true
		return pc
	}
	b.Queue(chargeSQL(col), walletID, day, amount.Decimal(), limit).Exec(func(tag pgconn.CommandTag) error {
		pc.rows = tag.RowsAffected()
		return nil
	})
	return pc
}

// Settle returns what ChargeTx would have: nil when the charge was made,
// a *LimitError when it is refused. It may run one more statement in tx
// (only when the UPDATE moved nothing: a refusal, or a day row missing).
// It is an error to call it before the batch's results were read.
func (pc *PendingCharge) Settle(ctx context.Context, tx pgx.Tx) error {
	if pc.none {
		return nil
	}
	if pc.rows < 0 {
		return errors.New("ledger: daily-limit charge was not sent")
	}
	return pc.g.settle(ctx, tx, pc.walletID, pc.day, pc.kind, pc.amount, pc.rows)
}

// settle finishes a charge whose conditional UPDATE moved rows rows.
func (g *Limiter) settle(ctx context.Context, tx pgx.Tx, walletID int64, day time.Time, kind Kind, amount Amount, rows int64) error {
	if rows == 1 {
		return nil
	}
	limit, col := g.daily(kind)
	var total decimal.Decimal
	err := tx.QueryRow(ctx, `SELECT `+col+` FROM wallet_day_totals WHERE account_id = $1 AND day = $2`,
		walletID, day).Scan(&total)
	if errors.Is(err, pgx.ErrNoRows) {
		if amount.Decimal().GreaterThan(limit) {
			return &LimitError{Kind: kind, Daily: true, Limit: limit, Remaining: limit}
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO wallet_day_totals (account_id, day, `+col+`) VALUES ($1, $2, $3)
			ON CONFLICT (account_id, day) DO UPDATE SET `+col+` = wallet_day_totals.`+col+` + EXCLUDED.`+col,
			walletID, day, amount.Decimal())
		return err
	}
	if err != nil {
		return err
	}
	return &LimitError{Kind: kind, Daily: true, Limit: limit, Remaining: decimal.Max(limit.Sub(total), decimal.Zero)}
}

// PurgeDayTotals deletes the daily-total rows of days before before, batch
// rows per statement (each its own short transaction), and returns how many
// went. Only the current day's row is read by postings: older rows are
// history the journal already holds.
func (l *Ledger) PurgeDayTotals(ctx context.Context, before time.Time, batch int) (int64, error) {
	var total int64
	for {
		tag, err := l.pool.Exec(ctx, `
			DELETE FROM wallet_day_totals WHERE (account_id, day) IN (
				SELECT account_id, day FROM wallet_day_totals WHERE day < $1 LIMIT $2)`,
			before, batch)
		if err != nil {
			return total, fmt.Errorf("ledger: purge day totals: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) {
			return total, nil
		}
	}
}

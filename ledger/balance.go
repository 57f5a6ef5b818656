package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Balance returns the account's current balance on its normal side (what a
// wallet's owner holds; for cash, what all customers hold). For an account
// with a head it is one row read, whatever the history; for the shared
// accounts it is summed from the lines when asked.
func (l *Ledger) Balance(ctx context.Context, accountID int64) (decimal.Decimal, error) {
	a, err := l.Account(ctx, accountID)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if a.HasHead() {
		var bal decimal.Decimal
		err := l.pool.QueryRow(ctx, `SELECT balance FROM ledger_account_heads WHERE account_id = $1`, a.ID).Scan(&bal)
		if errors.Is(err, pgx.ErrNoRows) {
			return decimal.Decimal{}, ErrAccountNotFound
		}
		return bal, err
	}
	var sum decimal.Decimal
	err = l.pool.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM ledger_lines WHERE account_id = $1`, a.ID).Scan(&sum)
	return sum.Mul(a.Type.normalDec()), err
}

// BalanceAt returns the account's balance at instant t, counting every line
// posted at or before t. For an account with a head it is the balance_after
// of the last such line, found by index in O(log n). For the shared accounts
// it is a sum. An instant more recent than the longest running posting
// transaction may still gain lines that commit later.
func (l *Ledger) BalanceAt(ctx context.Context, accountID int64, t time.Time) (decimal.Decimal, error) {
	a, err := l.Account(ctx, accountID)
	if err != nil {
		return decimal.Decimal{}, err
	}
	return balanceAt(ctx, l.pool, a, t, true)
}

// balanceAt sums the lines of a with posted_at <= t (inclusive) or < t.
func balanceAt(ctx context.Context, q querier, a Account, t time.Time, inclusive bool) (decimal.Decimal, error) {
	op := "<="
	if !inclusive {
		op = "<"
	}
	if a.HasHead() {
		var bal decimal.Decimal
		err := q.QueryRow(ctx, `
			SELECT balance_after FROM ledger_lines
			 WHERE account_id = $1 AND posted_at `+op+` $2
			 ORDER BY posted_at DESC, id DESC LIMIT 1`, a.ID, t).Scan(&bal)
		if errors.Is(err, pgx.ErrNoRows) {
			return decimal.Zero, nil
		}
		return bal, err
	}
	var sum decimal.Decimal
	err := q.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM ledger_lines WHERE account_id = $1 AND posted_at `+op+` $2`,
		a.ID, t).Scan(&sum)
	return sum.Mul(a.Type.normalDec()), err
}

// WalletBalance returns the balance of the user's wallet in currency; zero
// when the user has none yet (no wallet is created).
func (l *Ledger) WalletBalance(ctx context.Context, userID int64, currency string) (decimal.Decimal, error) {
	if _, err := l.CashAccount(currency); err != nil {
		return decimal.Decimal{}, err
	}
	var bal decimal.Decimal
	err := l.pool.QueryRow(ctx, `
		SELECT h.balance FROM ledger_accounts a JOIN ledger_account_heads h ON h.account_id = a.id
		 WHERE a.owner_user_id = $1 AND a.currency = $2::text`, userID, currency).Scan(&bal)
	if errors.Is(err, pgx.ErrNoRows) {
		return decimal.Zero, nil
	}
	return bal, err
}

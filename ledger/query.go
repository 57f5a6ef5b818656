package ledger

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// AccountBalance is an account of the chart with its current balance on its
// normal side.
type AccountBalance struct {
	Account
	Balance decimal.Decimal
}

// AccountFilter selects a page of the chart of accounts, in id order.
type AccountFilter struct {
	AfterID int64 // keyset cursor: accounts with a larger id
	Limit   int   // at most this many; 0 means 100, more than 1000 means 1000
}

// Accounts returns a page of the chart of accounts with balances. Wallet
// balances come from their heads (one join, whatever the history); the few
// shared accounts are summed when asked.
func (l *Ledger) Accounts(ctx context.Context, f AccountFilter) ([]AccountBalance, error) {
	limit := clampLimit(f.Limit, 100, 1000)
	rows, err := l.pool.Query(ctx, `
		SELECT a.id, a.code, a.type, a.currency, coalesce(a.owner_user_id, 0), a.allow_negative, a.created_at,
		       h.balance
		  FROM ledger_accounts a
		  LEFT JOIN ledger_account_heads h ON h.account_id = a.id
		 WHERE a.id > $1
		 ORDER BY a.id
		 LIMIT $2`, f.AfterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountBalance
	for rows.Next() {
		var ab AccountBalance
		var typ string
		var head decimal.NullDecimal
		if err := rows.Scan(&ab.ID, &ab.Code, &typ, &ab.Currency, &ab.OwnerUserID, &ab.AllowNegative, &ab.CreatedAt, &head); err != nil {
			return nil, err
		}
		ab.Type = AccountType(typ)
		ab.Balance = head.Decimal
		out = append(out, ab)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if !out[i].HasHead() {
			if out[i].Balance, err = l.Balance(ctx, out[i].ID); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// EntryFilter selects a page of journal entries, in id order.
type EntryFilter struct {
	From, To  time.Time // inclusive bounds on created_at; zero is open
	AccountID int64     // only entries with a line on this account; 0 is any
	AfterID   int64     // keyset cursor: entries with a larger id
	Limit     int       // 0 means 50, more than 500 means 500
}

// SealedEntry is an entry with its place in the hash chain; Hash and
// PrevHash are hex, empty while the entry is not sealed.
type SealedEntry struct {
	Entry
	Hash, PrevHash string
}

// Entries returns a page of journal entries with their lines and seals.
func (l *Ledger) Entries(ctx context.Context, f EntryFilter) ([]SealedEntry, error) {
	limit := clampLimit(f.Limit, 50, 500)
	filter, args := `true`, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args)+2) // $1 and $2 are loadBatch's
	}
	if !f.From.IsZero() {
		filter += ` AND e.created_at >= ` + arg(f.From)
	}
	if !f.To.IsZero() {
		filter += ` AND e.created_at <= ` + arg(f.To)
	}
	if f.AccountID != 0 {
		filter += ` AND e.id IN (SELECT entry_id FROM ledger_lines WHERE account_id = ` + arg(f.AccountID) + `)`
	}
	es, _, err := loadBatch(ctx, l.pool, f.AfterID, limit, filter, args...)
	if err != nil {
		return nil, err
	}
	out := make([]SealedEntry, len(es))
	for i, e := range es {
		out[i].Entry = e.Entry
		if e.sealed {
			out[i].Hash, out[i].PrevHash = hex.EncodeToString(e.hash), hex.EncodeToString(e.prev)
		}
	}
	return out, nil
}

func clampLimit(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

// AccountByCode returns the account with code (ErrAccountNotFound if none).
func (l *Ledger) AccountByCode(ctx context.Context, code string) (Account, error) {
	var id int64
	err := l.pool.QueryRow(ctx, `SELECT id FROM ledger_accounts WHERE code = $1`, code).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fmt.Errorf("%w: %s", ErrAccountNotFound, code)
	}
	if err != nil {
		return Account{}, err
	}
	return l.Account(ctx, id)
}

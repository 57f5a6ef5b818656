package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// The admin views of the ledger: every user's wallet lines, the figures of
// the admin dashboard, and the balance read an admin's balance edit needs.
// Wallet lines across users are read through ledger_lines_wallet_time_idx
// (sql/migrations/0007_admin.sql), so that their cost follows the page or
// the period asked for, not the size of the journal.

// UserLine is a wallet line with its wallet's owner.
type UserLine struct {
	WalletLine
	UserID int64
}

// AdminHistoryQuery selects wallet lines across users, newest first.
type AdminHistoryQuery struct {
	Currency string
	// UserID keeps one user's wallet lines (0: every user's).
	UserID   int64
	Kinds    []Kind    // only these kinds of entry; empty: all
	From, To time.Time // posted within [From, To]; a zero bound is open
	// After continues keyset paging: only lines older than the cursor (the
	// same cursors as History's).
	After *HistoryCursor
	Limit int // 0 means 50; at most 500
}

// AllHistory returns the wallet lines matching q, newest first by
// (posted_at, line id). Without q.UserID it walks
// ledger_lines_wallet_time_idx backwards from the cursor; with it, the
// wallet's own (account_id, posted_at, id) index.
func (l *Ledger) AllHistory(ctx context.Context, q AdminHistoryQuery) ([]UserLine, error) {
	if _, ok := l.system[q.Currency]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCurrency, q.Currency)
	}
	args := []any{q.Currency}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	conds := []string{"l.account_seq IS NOT NULL", "a.owner_user_id IS NOT NULL", "a.currency = $1", "l.currency = $1"}
	if q.UserID != 0 {
		conds = append(conds, "l.account_id = (SELECT id FROM ledger_accounts WHERE owner_user_id = "+arg(q.UserID)+" AND currency = $1)")
	}
	if len(q.Kinds) > 0 {
		kinds := make([]string, len(q.Kinds))
		for i, k := range q.Kinds {
			kinds[i] = string(k)
		}
		conds = append(conds, "e.kind = ANY("+arg(kinds)+"::text[])")
	}
	if !q.From.IsZero() {
		conds = append(conds, "l.posted_at >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		conds = append(conds, "l.posted_at <= "+arg(q.To))
	}
	if q.After != nil {
		conds = append(conds, "(l.posted_at, l.id) < ("+arg(q.After.PostedAt)+"::timestamptz, "+arg(q.After.LineID)+"::bigint)")
	}
	rows, err := l.pool.Query(ctx, `
		SELECT l.entry_id, l.id, e.kind, e.description, l.posted_at, l.amount, l.balance_after, e.metadata::text,
		       a.owner_user_id, a.type
		  FROM ledger_lines l
		  JOIN ledger_accounts a ON a.id = l.account_id
		  JOIN ledger_entries e ON e.id = l.entry_id
		 WHERE `+strings.Join(conds, " AND ")+`
		 ORDER BY l.posted_at DESC, l.id DESC
		 LIMIT `+arg(clampLimit(q.Limit, 50, 500)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []UserLine{}
	for rows.Next() {
		var ul UserLine
		var kind, meta, typ string
		var amount decimal.Decimal
		if err := rows.Scan(&ul.EntryID, &ul.LineID, &kind, &ul.Description, &ul.PostedAt, &amount, &ul.BalanceAfter,
			&meta, &ul.UserID, &typ); err != nil {
			return nil, err
		}
		ul.Kind, ul.Metadata = Kind(kind), json.RawMessage(meta)
		ul.Change = amount.Mul(AccountType(typ).normalDec())
		out = append(out, ul)
	}
	return out, rows.Err()
}

// WalletTotals are the wallets' movements over a period: deposits and
// withdrawals (both positive) and the number of wallet postings of every
// kind.
type WalletTotals struct {
	Deposits, Withdrawals decimal.Decimal
	Count                 int64
}

// OwnerBalance is a wallet's balance with its owner.
type OwnerBalance struct {
	UserID  int64
	Balance decimal.Decimal
}

// DashboardQuery asks for the admin dashboard's figures.
type DashboardQuery struct {
	Currency string
	// Since starts the recent period (the dashboard's 30 days), which runs
	// to the latest posting: the database's clock stamps postings, and an
	// upper bound from another clock could miss the newest.
	Since time.Time
	// Now is the instant whose month is the series' last.
	Now time.Time
	// Months is how many calendar months of Location the series covers, up
	// to and including the one of Now.
	Months   int
	Location *time.Location
	// Top is how many of the largest wallets to return.
	Top int
}

// Dashboard is the admin dashboard's money figures.
type Dashboard struct {
	Recent WalletTotals
	// Months are the months' deposits and withdrawals, oldest first,
	// months without activity as zero.
	Months []MonthTotals
	// Top are the largest wallet balances, largest first (ties by user
	// id); empty wallets are left out.
	Top []OwnerBalance
}

// Dashboard computes q's figures from one snapshot. The recent totals and
// the months read only the wallet lines posted in their periods (through
// ledger_lines_wallet_time_idx), so their cost follows the activity of the
// period, not the size of the journal; the top wallets read the heads (one
// row per wallet, whatever its history).
func (l *Ledger) Dashboard(ctx context.Context, q DashboardQuery) (Dashboard, error) {
	if _, ok := l.system[q.Currency]; !ok {
		return Dashboard{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, q.Currency)
	}
	if q.Location == nil {
		q.Location = time.UTC
	}
	months := max(q.Months, 1)
	local := q.Now.In(q.Location)
	first := time.Date(local.Year(), local.Month()-time.Month(months-1), 1, 0, 0, 0, 0, q.Location)
	d := Dashboard{Months: make([]MonthTotals, months), Top: []OwnerBalance{}}
	index := make(map[string]int, months)
	for i := range d.Months {
		m := first.AddDate(0, i, 0)
		d.Months[i] = MonthTotals{Month: m}
		index[m.Format("2006-01")] = i
	}
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT e.kind, sum(l.amount * CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END), count(*)
			  FROM ledger_lines l
			  JOIN ledger_accounts a ON a.id = l.account_id
			  JOIN ledger_entries e ON e.id = l.entry_id
			 WHERE l.account_seq IS NOT NULL AND l.posted_at >= $1
			   AND l.currency = $2 AND a.owner_user_id IS NOT NULL
			 GROUP BY e.kind`, q.Since, q.Currency)
		if err != nil {
			return err
		}
		for rows.Next() {
			var kind string
			var change decimal.Decimal
			var n int64
			if err := rows.Scan(&kind, &change, &n); err != nil {
				rows.Close()
				return err
			}
			d.Recent.Count += n
			switch Kind(kind) {
			case KindDeposit:
				d.Recent.Deposits = change
			case KindWithdrawal:
				d.Recent.Withdrawals = change.Neg()
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `
			SELECT to_char(l.posted_at AT TIME ZONE $3, 'YYYY-MM'), e.kind,
			       sum(l.amount * CASE WHEN a.type IN ('asset', 'expense') THEN 1 ELSE -1 END)
			  FROM ledger_lines l
			  JOIN ledger_accounts a ON a.id = l.account_id
			  JOIN ledger_entries e ON e.id = l.entry_id
			 WHERE l.account_seq IS NOT NULL AND l.posted_at >= $1
			   AND l.currency = $2 AND a.owner_user_id IS NOT NULL AND e.kind IN ('deposit', 'withdrawal')
			 GROUP BY 1, 2`, first, q.Currency, q.Location.String())
		if err != nil {
			return err
		}
		for rows.Next() {
			var month, kind string
			var change decimal.Decimal
			if err := rows.Scan(&month, &kind, &change); err != nil {
				rows.Close()
				return err
			}
			if i, ok := index[month]; ok {
				if Kind(kind) == KindDeposit {
					d.Months[i].Deposits = change
				} else {
					d.Months[i].Withdrawals = change.Neg()
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if q.Top <= 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `
			SELECT a.owner_user_id, h.balance
			  FROM ledger_account_heads h JOIN ledger_accounts a ON a.id = h.account_id
			 WHERE a.owner_user_id IS NOT NULL AND a.currency = $1 AND h.balance > 0
			 ORDER BY h.balance DESC, a.owner_user_id
			 LIMIT $2`, q.Currency, q.Top)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var ob OwnerBalance
			if err := rows.Scan(&ob.UserID, &ob.Balance); err != nil {
				return err
			}
			d.Top = append(d.Top, ob)
		}
		return rows.Err()
	})
	return d, err
}

// WalletBalanceTx returns the balance of wallet (an account with a head)
// as tx sees it. In a SERIALIZABLE transaction that then posts to the
// wallet, a concurrent posting makes one of the two retry, so a change
// computed from this balance lands exactly.
func (l *Ledger) WalletBalanceTx(ctx context.Context, tx pgx.Tx, wallet Account) (decimal.Decimal, error) {
	var bal decimal.Decimal
	err := tx.QueryRow(ctx, `SELECT balance FROM ledger_account_heads WHERE account_id = $1`, wallet.ID).Scan(&bal)
	if errors.Is(err, pgx.ErrNoRows) {
		return decimal.Decimal{}, fmt.Errorf("%w: no head for %s", ErrAccountNotFound, wallet.Code)
	}
	return bal, err
}

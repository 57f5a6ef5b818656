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
// (posted_at, line id). With q.UserID it reads the wallet's own
// (account_id, posted_at, id) index. Without, it walks
// ledger_lines_wallet_time_idx backwards from the cursor; or, when q asks
// only for the rare kinds (adjustments, openings, reversals), the entries
// of those kinds by time (ledger_entries_adjustment_time_idx), so that a
// page never scans the deposits and withdrawals between two adjustments.
func (l *Ledger) AllHistory(ctx context.Context, q AdminHistoryQuery) ([]UserLine, error) {
	if _, ok := l.system[q.Currency]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCurrency, q.Currency)
	}
	args := []any{q.Currency}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// The time of a line is its entry's: posted_at = created_at.
	at, order := "l.posted_at", "l.posted_at DESC, l.id DESC"
	conds := []string{"l.account_seq IS NOT NULL", "a.owner_user_id IS NOT NULL", "a.currency = $1", "l.currency = $1"}
	if q.UserID != 0 {
		conds = append(conds, "l.account_id = (SELECT id FROM ledger_accounts WHERE owner_user_id = "+arg(q.UserID)+" AND currency = $1)")
	}
	if len(q.Kinds) > 0 {
		kinds := make([]string, len(q.Kinds))
		rare := q.UserID == 0
		for i, k := range q.Kinds {
			kinds[i] = string(k)
			rare = rare && (k == KindAdjustment || k == KindOpening || k == KindReversal)
		}
		conds = append(conds, "e.kind = ANY("+arg(kinds)+"::text[])")
		if rare {
			// Written out, so that the planner sees the partial index's
			// predicate even in a generic plan.
			conds = append(conds, "e.kind IN ('adjustment', 'opening', 'reversal')")
			at, order = "e.created_at", "e.created_at DESC, l.id DESC"
		}
	}
	if !q.From.IsZero() {
		conds = append(conds, at+" >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		conds = append(conds, at+" <= "+arg(q.To))
	}
	if q.After != nil {
		t := arg(q.After.PostedAt)
		conds = append(conds, at+" <= "+t, "("+at+", l.id) < ("+t+"::timestamptz, "+arg(q.After.LineID)+"::bigint)")
	}
	rows, err := l.pool.Query(ctx, `
		SELECT l.entry_id, l.id, e.kind, e.description, l.posted_at, l.amount, l.balance_after, e.metadata::text,
		       a.owner_user_id, a.type
		  FROM ledger_lines l
		  JOIN ledger_accounts a ON a.id = l.account_id
		  JOIN ledger_entries e ON e.id = l.entry_id
		 WHERE `+strings.Join(conds, " AND ")+`
		 ORDER BY `+order+`
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

// MonthSettle is how long after its end a month's totals are taken as
// final and kept in ledger_month_totals: a posting is stamped when its
// transaction moves the wallet's head, and commits within seconds.
const MonthSettle = 24 * time.Hour

// The dashboard's sums read only the wallet lines of their period, through
// ledger_lines_wallet_time_idx, and each line's entry by primary key (a
// LATERAL subquery with LIMIT, which the planner runs as a nested loop: a
// hash join would read the whole entries table). Wallet lines are exactly
// the lines with a sequence, and wallets are liability accounts (see
// wallet), so money in is a credit: the wallet's change is -amount.
const (
	walletLinesSince = `
		  FROM ledger_lines l
		 CROSS JOIN LATERAL (SELECT e.kind FROM ledger_entries e WHERE e.id = l.entry_id LIMIT 1) k
		 WHERE l.account_seq IS NOT NULL AND l.currency = $1 AND l.posted_at >= $2`
	monthSums = `SELECT to_char(l.posted_at AT TIME ZONE $3, 'YYYY-MM'), k.kind, -sum(l.amount)` +
		walletLinesSince + ` AND k.kind IN ('deposit', 'withdrawal')`
)

// Dashboard computes q's figures. The recent totals read the wallet lines
// posted since q.Since; the months' series reads the lines of the months
// not yet settled (the current one, and the previous one for a day), and
// takes the settled months from ledger_month_totals, computing each once
// (one month's lines) the first time it is asked for. So the cost follows
// the activity of the last 30 days and of the current month, not the size
// of the journal. The top wallets read the heads (one row per wallet,
// whatever its history).
func (l *Ledger) Dashboard(ctx context.Context, q DashboardQuery) (Dashboard, error) {
	if _, ok := l.system[q.Currency]; !ok {
		return Dashboard{}, fmt.Errorf("%w: %q", ErrUnknownCurrency, q.Currency)
	}
	if q.Location == nil {
		q.Location = time.UTC
	}
	zone := q.Location.String()
	months := max(q.Months, 1)
	local := q.Now.In(q.Location)
	first := time.Date(local.Year(), local.Month()-time.Month(months-1), 1, 0, 0, 0, 0, q.Location)
	d := Dashboard{Months: make([]MonthTotals, months), Top: []OwnerBalance{}}
	index := make(map[string]int, months)
	live := -1 // the first month not settled
	for i := range d.Months {
		m := first.AddDate(0, i, 0)
		d.Months[i] = MonthTotals{Month: m}
		index[m.Format("2006-01")] = i
		if live < 0 && q.Now.Before(m.AddDate(0, 1, 0).Add(MonthSettle)) {
			live = i
		}
	}
	settled := d.Months[:live]
	if err := l.settleMonths(ctx, q.Currency, q.Location, settled); err != nil {
		return Dashboard{}, err
	}
	add := func(month, kind string, change decimal.Decimal) {
		i, ok := index[month]
		if !ok {
			return // posted after now
		}
		if Kind(kind) == KindDeposit {
			d.Months[i].Deposits = d.Months[i].Deposits.Add(change)
		} else if Kind(kind) == KindWithdrawal {
			d.Months[i].Withdrawals = d.Months[i].Withdrawals.Sub(change)
		}
	}
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := forRows(ctx, tx, `SELECT k.kind, -sum(l.amount), count(*)`+walletLinesSince+` GROUP BY k.kind`,
			[]any{q.Currency, q.Since}, func(rows pgx.Rows) error {
				var kind string
				var change decimal.Decimal
				var n int64
				if err := rows.Scan(&kind, &change, &n); err != nil {
					return err
				}
				d.Recent.Count += n
				switch Kind(kind) {
				case KindDeposit:
					d.Recent.Deposits = change
				case KindWithdrawal:
					d.Recent.Withdrawals = change.Neg()
				}
				return nil
			})
		if err != nil {
			return err
		}
		if len(settled) > 0 {
			err = forRows(ctx, tx, `
				SELECT to_char(month, 'YYYY-MM'), deposits, withdrawals FROM ledger_month_totals
				 WHERE currency = $1 AND zone = $2 AND month >= $3::date AND month < $4::date`,
				[]any{q.Currency, zone, first.Format(time.DateOnly), d.Months[live].Month.Format(time.DateOnly)},
				func(rows pgx.Rows) error {
					var month string
					var dep, wd decimal.Decimal
					if err := rows.Scan(&month, &dep, &wd); err != nil {
						return err
					}
					if i, ok := index[month]; ok {
						d.Months[i].Deposits, d.Months[i].Withdrawals = dep, wd
					}
					return nil
				})
			if err != nil {
				return err
			}
		}
		err = forRows(ctx, tx, monthSums+` GROUP BY 1, 2`, []any{q.Currency, d.Months[live].Month, zone},
			func(rows pgx.Rows) error {
				var month, kind string
				var change decimal.Decimal
				if err := rows.Scan(&month, &kind, &change); err != nil {
					return err
				}
				add(month, kind, change)
				return nil
			})
		if err != nil || q.Top <= 0 {
			return err
		}
		return forRows(ctx, tx, `
			SELECT a.owner_user_id, h.balance
			  FROM ledger_account_heads h JOIN ledger_accounts a ON a.id = h.account_id
			 WHERE a.owner_user_id IS NOT NULL AND a.currency = $1 AND h.balance > 0
			 ORDER BY h.balance DESC, a.owner_user_id
			 LIMIT $2`, []any{q.Currency, q.Top}, func(rows pgx.Rows) error {
			var ob OwnerBalance
			if err := rows.Scan(&ob.UserID, &ob.Balance); err != nil {
				return err
			}
			d.Top = append(d.Top, ob)
			return nil
		})
	})
	return d, err
}

// settleMonths stores the totals of the given settled months that
// ledger_month_totals does not hold yet, each computed from its own lines.
// Two dashboards settling a month at once store it once.
func (l *Ledger) settleMonths(ctx context.Context, currency string, loc *time.Location, months []MonthTotals) error {
	if len(months) == 0 {
		return nil
	}
	zone := loc.String()
	have := map[string]bool{}
	err := forRows(ctx, l.pool, `
		SELECT to_char(month, 'YYYY-MM') FROM ledger_month_totals
		 WHERE currency = $1 AND zone = $2 AND month >= $3::date AND month <= $4::date`,
		[]any{currency, zone, months[0].Month.Format(time.DateOnly), months[len(months)-1].Month.Format(time.DateOnly)},
		func(rows pgx.Rows) error {
			var m string
			if err := rows.Scan(&m); err != nil {
				return err
			}
			have[m] = true
			return nil
		})
	if err != nil {
		return err
	}
	for _, m := range months {
		key := m.Month.Format("2006-01")
		if have[key] {
			continue
		}
		var dep, wd decimal.Decimal
		err := forRows(ctx, l.pool, monthSums+` AND l.posted_at < $4 GROUP BY 1, 2`,
			[]any{currency, m.Month, zone, m.Month.AddDate(0, 1, 0)}, func(rows pgx.Rows) error {
				var month, kind string
				var change decimal.Decimal
				if err := rows.Scan(&month, &kind, &change); err != nil {
					return err
				}
				if Kind(kind) == KindDeposit {
					dep = dep.Add(change)
				} else {
					wd = wd.Sub(change)
				}
				return nil
			})
		if err != nil {
			return err
		}
		if _, err := l.pool.Exec(ctx, `
			INSERT INTO ledger_month_totals (currency, zone, month, deposits, withdrawals)
			VALUES ($1, $2, $3::date, $4, $5) ON CONFLICT DO NOTHING`,
			currency, zone, m.Month.Format(time.DateOnly), dep, wd); err != nil {
			return err
		}
	}
	return nil
}

// forRows runs a query and calls fn for each row.
func forRows(ctx context.Context, q querier, sql string, args []any, fn func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
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

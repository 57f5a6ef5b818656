package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// WalletLine is one posting as its wallet sees it: the wallet's line and
// its entry.
type WalletLine struct {
	EntryID     int64
	LineID      int64
	Kind        Kind
	Description string
	PostedAt    time.Time
	// Change is the line's effect on the wallet's balance: positive for
	// money in (a deposit), negative for money out (a withdrawal).
	Change       decimal.Decimal
	BalanceAfter decimal.Decimal
	Metadata     json.RawMessage
}

// HistoryCursor is a position in a wallet's history, newest first: the
// lines strictly older than it come next.
type HistoryCursor struct {
	PostedAt time.Time
	LineID   int64
}

// Cursor is the position just after wl.
func (wl WalletLine) Cursor() HistoryCursor {
	return HistoryCursor{PostedAt: wl.PostedAt, LineID: wl.LineID}
}

// HistoryQuery selects lines of a wallet's history.
type HistoryQuery struct {
	Kinds    []Kind    // only these kinds of entry; empty: all
	From, To time.Time // posted within [From, To]; a zero bound is open
	// After continues keyset paging: only lines older than the cursor. Its
	// cost does not depend on how deep the cursor is.
	After *HistoryCursor
	// Offset skips lines (page-number paging; its cost grows with depth).
	Offset int
	Limit  int // at most this many lines; 0 means 100
}

// where builds the conditions of q on ledger_lines l joined with
// ledger_entries e, as SQL with its arguments, so that every bound is an
// index condition of the plan rather than a filter.
func (q HistoryQuery) where(accountID int64) (string, []any) {
	args := []any{accountID}
	conds := []string{"l.account_id = $1"}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
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
	return strings.Join(conds, " AND "), args
}

// History returns the wallet's lines matching q, newest first, read through
// the (account_id, posted_at, id) index.
func (l *Ledger) History(ctx context.Context, wallet Account, q HistoryQuery) ([]WalletLine, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	where, args := q.where(wallet.ID)
	args = append(args, q.Offset, q.Limit)
	rows, err := l.pool.Query(ctx, `
		SELECT l.entry_id, l.id, e.kind, e.description, l.posted_at, l.amount, coalesce(l.balance_after, 0), e.metadata::text
		  FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
		 WHERE `+where+`
		 ORDER BY l.posted_at DESC, l.id DESC
		OFFSET `+fmt.Sprintf("$%d", len(args)-1)+` LIMIT `+fmt.Sprintf("$%d", len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	normal := decimal.NewFromInt(int64(wallet.Type.Normal()))
	out := []WalletLine{}
	for rows.Next() {
		var wl WalletLine
		var kind, meta string
		var amount decimal.Decimal
		if err := rows.Scan(&wl.EntryID, &wl.LineID, &kind, &wl.Description, &wl.PostedAt, &amount, &wl.BalanceAfter, &meta); err != nil {
			return nil, err
		}
		wl.Kind, wl.Metadata, wl.Change = Kind(kind), json.RawMessage(meta), amount.Mul(normal)
		out = append(out, wl)
	}
	return out, rows.Err()
}

// HistoryCount counts the wallet's lines matching q (Offset, Limit and
// After aside). Its cost grows with the wallet's history.
func (l *Ledger) HistoryCount(ctx context.Context, wallet Account, q HistoryQuery) (int64, error) {
	q.After = nil
	where, args := q.where(wallet.ID)
	join := ""
	if len(q.Kinds) > 0 {
		join = " JOIN ledger_entries e ON e.id = l.entry_id"
	}
	var n int64
	err := l.pool.QueryRow(ctx, `SELECT count(*) FROM ledger_lines l`+join+` WHERE `+where, args...).Scan(&n)
	return n, err
}

// WalletEntry returns the entry with id if it moves wallet (ErrNotFound
// otherwise, so that another user's entry is indistinguishable from none).
func (l *Ledger) WalletEntry(ctx context.Context, wallet Account, id int64) (Entry, error) {
	e, err := l.Entry(ctx, id)
	if err != nil {
		return Entry{}, err
	}
	for _, ln := range e.Lines {
		if ln.AccountID == wallet.ID {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: entry %d", ErrNotFound, id)
}

// MonthTotals are a wallet's deposits and withdrawals in one calendar
// month.
type MonthTotals struct {
	Month       time.Time // the first instant of the month, in the location asked for
	Deposits    decimal.Decimal
	Withdrawals decimal.Decimal // positive
}

// WalletAnalytics summarises a wallet: its totals over its whole history
// and month by month.
type WalletAnalytics struct {
	// TotalDeposits and TotalWithdrawals sum the deposit and withdrawal
	// entries (adjustments are in neither); Count counts every entry.
	TotalDeposits, TotalWithdrawals decimal.Decimal
	Count                           int64
	Balance                         decimal.Decimal
	// Months are the last months in loc, oldest first, the current one
	// last; months without activity are zero.
	Months []MonthTotals
}

// Analytics returns the wallet's analytics over the months calendar months
// of loc up to and including the one of now, from one snapshot.
func (l *Ledger) Analytics(ctx context.Context, wallet Account, months int, now time.Time, loc *time.Location) (WalletAnalytics, error) {
	if months < 1 {
		months = 1
	}
	local := now.In(loc)
	first := time.Date(local.Year(), local.Month()-time.Month(months-1), 1, 0, 0, 0, 0, loc)
	a := WalletAnalytics{Months: make([]MonthTotals, months)}
	index := make(map[string]int, months)
	for i := range a.Months {
		m := first.AddDate(0, i, 0)
		a.Months[i] = MonthTotals{Month: m}
		index[m.Format("2006-01")] = i
	}
	normal := decimal.NewFromInt(int64(wallet.Type.Normal()))
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT balance FROM ledger_account_heads WHERE account_id = $1), 0)`,
			wallet.ID).Scan(&a.Balance); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT e.kind, sum(l.amount), count(*)
			  FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
			 WHERE l.account_id = $1
			 GROUP BY e.kind`, wallet.ID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var kind string
			var sum decimal.Decimal
			var n int64
			if err := rows.Scan(&kind, &sum, &n); err != nil {
				rows.Close()
				return err
			}
			a.Count += n
			switch Kind(kind) {
			case KindDeposit:
				a.TotalDeposits = a.TotalDeposits.Add(sum.Mul(normal))
			case KindWithdrawal:
				a.TotalWithdrawals = a.TotalWithdrawals.Sub(sum.Mul(normal))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `
			SELECT to_char(l.posted_at AT TIME ZONE $3, 'YYYY-MM'), e.kind, sum(l.amount)
			  FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
			 WHERE l.account_id = $1 AND l.posted_at >= $2 AND e.kind IN ('deposit', 'withdrawal')
			 GROUP BY 1, 2`, wallet.ID, first, loc.String())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var month, kind string
			var sum decimal.Decimal
			if err := rows.Scan(&month, &kind, &sum); err != nil {
				return err
			}
			i, ok := index[month]
			if !ok {
				continue // posted after now
			}
			if Kind(kind) == KindDeposit {
				a.Months[i].Deposits = a.Months[i].Deposits.Add(sum.Mul(normal))
			} else {
				a.Months[i].Withdrawals = a.Months[i].Withdrawals.Sub(sum.Mul(normal))
			}
		}
		return rows.Err()
	})
	return a, err
}

package ledger

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// TrialBalanceRow is one account of a trial balance.
type TrialBalanceRow struct {
	AccountID   int64
	Code        string
	Type        AccountType
	Currency    string
	OwnerUserID int64
	Debit       decimal.Decimal // sum of the debits
	Credit      decimal.Decimal // sum of the credits, positive
	Balance     decimal.Decimal // on the account's normal side
}

// TrialBalance lists every account with its totals as of an instant.
// TotalDebit and TotalCredit add all rows (meaningful in one currency);
// Balanced is true when debits equal credits in every currency.
type TrialBalance struct {
	AsOf        time.Time
	Accounts    []TrialBalanceRow
	TotalDebit  decimal.Decimal
	TotalCredit decimal.Decimal
	Balanced    bool
}

// TrialBalance returns the totals of every account over the lines posted at
// or before asOf, read in one snapshot.
func (l *Ledger) TrialBalance(ctx context.Context, asOf time.Time) (TrialBalance, error) {
	tb := TrialBalance{AsOf: asOf, Balanced: true}
	rows, err := l.pool.Query(ctx, `
		SELECT a.id, a.code, a.type, a.currency, coalesce(a.owner_user_id, 0),
		       coalesce(t.debit, 0), coalesce(t.credit, 0)
		  FROM ledger_accounts a
		  LEFT JOIN (SELECT account_id,
		                    sum(amount) FILTER (WHERE amount > 0) AS debit,
		                    -sum(amount) FILTER (WHERE amount < 0) AS credit
		               FROM ledger_lines WHERE posted_at <= $1 GROUP BY account_id) t
		    ON t.account_id = a.id
		 ORDER BY a.id`, asOf)
	if err != nil {
		return TrialBalance{}, err
	}
	defer rows.Close()
	perCurrency := map[string]decimal.Decimal{}
	for rows.Next() {
		var r TrialBalanceRow
		var typ string
		if err := rows.Scan(&r.AccountID, &r.Code, &typ, &r.Currency, &r.OwnerUserID, &r.Debit, &r.Credit); err != nil {
			return TrialBalance{}, err
		}
		r.Type = AccountType(typ)
		r.Balance = r.Debit.Sub(r.Credit).Mul(r.Type.normalDec())
		tb.TotalDebit = tb.TotalDebit.Add(r.Debit)
		tb.TotalCredit = tb.TotalCredit.Add(r.Credit)
		perCurrency[r.Currency] = perCurrency[r.Currency].Add(r.Debit).Sub(r.Credit)
		tb.Accounts = append(tb.Accounts, r)
	}
	for _, d := range perCurrency {
		tb.Balanced = tb.Balanced && d.IsZero()
	}
	return tb, rows.Err()
}

// StatementLine is one line of a Statement.
type StatementLine struct {
	EntryID     int64
	LineID      int64
	Kind        Kind
	Description string
	PostedAt    time.Time
	Amount      decimal.Decimal // signed: positive debits, negative credits
	// Change is the line's effect on the balance (normal side): a deposit
	// into a wallet is positive.
	Change  decimal.Decimal
	Balance decimal.Decimal // running balance after the line
}

// Statement is an account's activity over [From, To].
type Statement struct {
	Account        Account
	From, To       time.Time
	OpeningBalance decimal.Decimal // balance just before From
	Lines          []StatementLine
	ClosingBalance decimal.Decimal // balance at To
}

// Statement returns the account's opening balance before from, its lines
// posted in [from, to] (inclusive bounds, oldest first) with running
// balances, and its closing balance, read in one snapshot.
func (l *Ledger) Statement(ctx context.Context, accountID int64, from, to time.Time) (Statement, error) {
	a, err := l.Account(ctx, accountID)
	if err != nil {
		return Statement{}, err
	}
	st := Statement{Account: a, From: from, To: to}
	err = pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		open, err := balanceAt(ctx, tx, a, from, false)
		if err != nil {
			return err
		}
		st.OpeningBalance, st.ClosingBalance = open, open
		rows, err := tx.Query(ctx, `
			SELECT l.entry_id, l.id, e.kind, e.description, l.posted_at, l.amount, l.balance_after
			  FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
			 WHERE l.account_id = $1 AND l.posted_at >= $2 AND l.posted_at <= $3
			 ORDER BY l.posted_at, l.id`, a.ID, from, to)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sl StatementLine
			var kind string
			var after decimal.NullDecimal
			if err := rows.Scan(&sl.EntryID, &sl.LineID, &kind, &sl.Description, &sl.PostedAt, &sl.Amount, &after); err != nil {
				return err
			}
			sl.Kind = Kind(kind)
			sl.Change = sl.Amount.Mul(a.Type.normalDec())
			st.ClosingBalance = st.ClosingBalance.Add(sl.Change)
			if after.Valid {
				st.ClosingBalance = after.Decimal
			}
			sl.Balance = st.ClosingBalance
			st.Lines = append(st.Lines, sl)
		}
		return rows.Err()
	})
	return st, err
}

// ExportLine is one row of the journal export.
type ExportLine struct {
	EntryID      int64
	LineID       int64
	PostedAt     time.Time
	Kind         Kind
	AccountCode  string
	AccountType  AccountType
	OwnerUserID  int64           // 0 for system accounts
	Debit        decimal.Decimal // zero for a credit line
	Credit       decimal.Decimal // positive; zero for a debit line
	Currency     string
	BalanceAfter decimal.NullDecimal
	EntryHash    string // hex; empty while the entry is not sealed
	PrevHash     string // hex; empty while the entry is not sealed
}

// ExportLines calls fn for every line of the entries created in [from, to]
// (inclusive; a zero bound is open), entries in id order and lines in id
// order within each, from one consistent snapshot. Memory stays constant
// whatever the size: entries are read in keyset batches. It stops at the
// first error fn returns and returns it.
func (l *Ledger) ExportLines(ctx context.Context, from, to time.Time, fn func(ExportLine) error) error {
	filter, args := `true`, []any{}
	if !from.IsZero() {
		args = append(args, from)
		filter += ` AND e.created_at >= $3`
	}
	if !to.IsZero() {
		args = append(args, to)
		filter += fmt.Sprintf(` AND e.created_at <= $%d`, len(args)+2)
	}
	return pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		after := int64(0)
		batch := l.opts.SealBatch
		for {
			es, _, err := loadBatch(ctx, tx, after, batch, filter, args...)
			if err != nil {
				return err
			}
			for i := range es {
				e := &es[i]
				var hash, prev string
				if e.sealed {
					hash, prev = hex.EncodeToString(e.hash), hex.EncodeToString(e.prev)
				}
				for _, ln := range e.lines {
					if err := fn(ExportLine{
						EntryID: e.ID, LineID: ln.ID, PostedAt: ln.PostedAt, Kind: e.Kind,
						AccountCode: ln.AccountCode, AccountType: ln.accountType, OwnerUserID: ln.owner,
						Debit: ln.Debit(), Credit: ln.Credit(), Currency: ln.Currency,
						BalanceAfter: ln.BalanceAfter, EntryHash: hash, PrevHash: prev,
					}); err != nil {
						return err
					}
				}
			}
			if len(es) < batch {
				return nil
			}
			after = es[len(es)-1].ID
		}
	})
}

package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// ProblemKind names what Verify found wrong.
type ProblemKind string

// The problems Verify reports.
const (
	ProblemUnbalanced      ProblemKind = "unbalanced"          // an entry's lines do not sum to zero per currency
	ProblemTooFewLines     ProblemKind = "too_few_lines"       // an entry has fewer than two lines
	ProblemOrphanLine      ProblemKind = "orphan_line"         // a line's entry does not exist
	ProblemUnknownAccount  ProblemKind = "unknown_account"     // a line's account does not exist
	ProblemCurrency        ProblemKind = "currency_mismatch"   // a line's currency differs from its account's
	ProblemHash            ProblemKind = "hash_mismatch"       // a seal's hash is not the hash of its entry
	ProblemChain           ProblemKind = "chain_broken"        // a seal's prev_hash is not the previous seal's hash
	ProblemSealNoEntry     ProblemKind = "seal_without_entry"  // a seal whose entry does not exist
	ProblemUnsealedGap     ProblemKind = "unsealed_below_head" // an entry older than the chain head was never sealed
	ProblemHead            ProblemKind = "head_mismatch"       // a head differs from the sum or the last line of its account
	ProblemMissingHead     ProblemKind = "missing_head"        // an account that may not go negative has no head, or the reverse
	ProblemSequence        ProblemKind = "sequence_gap"        // an account's line sequence is not 1, 2, 3, ...
	ProblemBalanceAfter    ProblemKind = "balance_after_mismatch"
	ProblemNegativeBalance ProblemKind = "negative_balance"
)

// Problem is one inconsistency found by Verify.
type Problem struct {
	Kind      ProblemKind `json:"kind"`
	EntryID   int64       `json:"entry_id,omitempty"`
	LineID    int64       `json:"line_id,omitempty"`
	AccountID int64       `json:"account_id,omitempty"`
	Detail    string      `json:"detail"`
}

// Report is the result of Verify. OK is true when no problem was found;
// Problems keeps the first Options.MaxProblems, ProblemCount counts them all.
type Report struct {
	OK             bool      `json:"ok"`
	CheckedAt      time.Time `json:"checked_at"`
	CheckedEntries int64     `json:"checked_entries"`
	CheckedLines   int64     `json:"checked_lines"`
	SealedEntries  int64     `json:"sealed_entries"`
	ChainHead      string    `json:"chain_head"` // hex hash of the last sealed entry
	ProblemCount   int64     `json:"problem_count"`
	Problems       []Problem `json:"problems"`
}

func (r *Report) add(max int, p Problem) {
	r.ProblemCount++
	if len(r.Problems) < max {
		r.Problems = append(r.Problems, p)
	}
}

// Verify checks the whole ledger in one consistent snapshot (REPEATABLE READ,
// read only) and reports every problem; it never repairs anything. It checks
// that every entry has at least two lines that sum to zero per currency, that
// every line's entry and account exist and currencies match, that the hash
// chain recomputes (each sealed entry's hash and the link to the previous
// seal) with no unsealed entry below the chain head, and, for every account
// with a head, that its lines' sequence is 1, 2, 3, ..., each balance_after
// follows from the previous one and is not negative, and the head equals both
// the last balance_after and the sum of the lines. It streams in batches:
// memory does not grow with the ledger. The error is for failures to read,
// not for problems found.
func (l *Ledger) Verify(ctx context.Context) (Report, error) {
	rep := Report{CheckedAt: l.opts.Now().UTC(), Problems: []Problem{}}
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := l.verifyEntries(ctx, tx, &rep); err != nil {
			return err
		}
		if err := l.verifySeals(ctx, tx, &rep); err != nil {
			return err
		}
		return l.verifyAccounts(ctx, tx, &rep)
	})
	if err != nil {
		return Report{}, fmt.Errorf("ledger verify: %w", err)
	}
	rep.OK = rep.ProblemCount == 0
	return rep, nil
}

func (l *Ledger) verifyEntries(ctx context.Context, tx pgx.Tx, rep *Report) error {
	max := l.opts.MaxProblems
	var sealHead int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(entry_id), 0) FROM ledger_seals`).Scan(&sealHead); err != nil {
		return err
	}
	var lastHash []byte // stored hash of the previous sealed entry
	after := int64(0)
	batch := l.opts.SealBatch
	for {
		es, orphans, err := loadBatch(ctx, tx, after, batch, "")
		if err != nil {
			return err
		}
		for _, ln := range orphans {
			rep.add(max, Problem{Kind: ProblemOrphanLine, EntryID: ln.EntryID, LineID: ln.ID, AccountID: ln.AccountID,
				Detail: fmt.Sprintf("line %d refers to entry %d, which does not exist", ln.ID, ln.EntryID)})
		}
		for i := range es {
			e := &es[i]
			rep.CheckedEntries++
			rep.CheckedLines += int64(len(e.lines))
			checkEntry(rep, max, e)
			switch {
			case e.sealed:
				rep.SealedEntries++
				want := ZeroHash()
				if lastHash != nil {
					want = lastHash
				}
				if !bytes.Equal(e.prev, want) {
					rep.add(max, Problem{Kind: ProblemChain, EntryID: e.ID,
						Detail: fmt.Sprintf("prev_hash %x is not the previous seal's hash %x", e.prev, want)})
				}
				if got := HashEntry(e.prev, e.Entry); !bytes.Equal(got, e.hash) {
					rep.add(max, Problem{Kind: ProblemHash, EntryID: e.ID,
						Detail: fmt.Sprintf("stored hash %x, entry hashes to %x", e.hash, got)})
				}
				lastHash = e.hash
			case e.ID < sealHead:
				rep.add(max, Problem{Kind: ProblemUnsealedGap, EntryID: e.ID,
					Detail: fmt.Sprintf("entry %d is below the chain head %d but not sealed", e.ID, sealHead)})
			}
		}
		if len(es) < batch {
			rep.ChainHead = hex.EncodeToString(lastHash)
			return nil
		}
		after = es[len(es)-1].ID
	}
}

// checkEntry checks one entry's lines.
func checkEntry(rep *Report, max int, e *storedEntry) {
	if len(e.lines) < 2 {
		rep.add(max, Problem{Kind: ProblemTooFewLines, EntryID: e.ID,
			Detail: fmt.Sprintf("entry %d has %d line(s)", e.ID, len(e.lines))})
	}
	sums := map[string]decimal.Decimal{}
	for _, ln := range e.lines {
		sums[ln.Currency] = sums[ln.Currency].Add(ln.Amount)
		switch {
		case !ln.known:
			rep.add(max, Problem{Kind: ProblemUnknownAccount, EntryID: e.ID, LineID: ln.ID, AccountID: ln.AccountID,
				Detail: fmt.Sprintf("line %d: account %d does not exist", ln.ID, ln.AccountID)})
		case ln.accountCur != ln.Currency:
			rep.add(max, Problem{Kind: ProblemCurrency, EntryID: e.ID, LineID: ln.ID, AccountID: ln.AccountID,
				Detail: fmt.Sprintf("line %d is in %s, its account in %s", ln.ID, ln.Currency, ln.accountCur)})
		}
		if ln.known && !ln.allowNegative && ln.AccountSeq == 0 {
			rep.add(max, Problem{Kind: ProblemSequence, EntryID: e.ID, LineID: ln.ID, AccountID: ln.AccountID,
				Detail: fmt.Sprintf("line %d of account %s has no sequence", ln.ID, ln.AccountCode)})
		}
	}
	for cur, s := range sums {
		if !s.IsZero() {
			rep.add(max, Problem{Kind: ProblemUnbalanced, EntryID: e.ID,
				Detail: fmt.Sprintf("entry %d: %s lines sum to %s", e.ID, cur, FormatMoney(s))})
		}
	}
}

// verifySeals finds seals whose entry does not exist.
func (l *Ledger) verifySeals(ctx context.Context, tx pgx.Tx, rep *Report) error {
	rows, err := tx.Query(ctx, `
		SELECT s.entry_id FROM ledger_seals s
		 WHERE NOT EXISTS (SELECT 1 FROM ledger_entries e WHERE e.id = s.entry_id)
		 ORDER BY s.entry_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return err
		}
		rep.add(l.opts.MaxProblems, Problem{Kind: ProblemSealNoEntry, EntryID: id,
			Detail: fmt.Sprintf("a seal exists for entry %d, which does not exist", id)})
	}
	return rows.Err()
}

// verifyAccounts checks every account with a head against its lines, in
// batches of accounts; each account's lines are streamed in sequence order.
func (l *Ledger) verifyAccounts(ctx context.Context, tx pgx.Tx, rep *Report) error {
	max := l.opts.MaxProblems
	type acct struct {
		id       int64
		code     string
		typ      AccountType
		allowNeg bool
		hasHead  bool
		balance  decimal.Decimal
		seq      int64
	}
	after := int64(0)
	const batch = 500
	for {
		rows, err := tx.Query(ctx, `
			SELECT a.id, a.code, a.type, a.allow_negative, h.account_id IS NOT NULL,
			       coalesce(h.balance, 0), coalesce(h.seq, 0)
			  FROM ledger_accounts a LEFT JOIN ledger_account_heads h ON h.account_id = a.id
			 WHERE a.id > $1 ORDER BY a.id LIMIT $2`, after, batch)
		if err != nil {
			return err
		}
		var accts []acct
		for rows.Next() {
			var a acct
			var typ string
			if err := rows.Scan(&a.id, &a.code, &typ, &a.allowNeg, &a.hasHead, &a.balance, &a.seq); err != nil {
				rows.Close()
				return err
			}
			a.typ = AccountType(typ)
			accts = append(accts, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(accts) == 0 {
			return nil
		}
		byID := make(map[int64]*acct, len(accts))
		for i := range accts {
			a := &accts[i]
			byID[a.id] = a
			if a.hasHead == a.allowNeg {
				rep.add(max, Problem{Kind: ProblemMissingHead, AccountID: a.id,
					Detail: fmt.Sprintf("account %s: allow_negative=%v but has_head=%v", a.code, a.allowNeg, a.hasHead)})
			}
		}
		// The lines of these accounts that carry a sequence, in order.
		// (posted_at, id) follows account_seq for a wallet: any disorder
		// shows up as a sequence problem.
		lines, err := tx.Query(ctx, `
			SELECT account_id, id, entry_id, account_seq, amount, balance_after
			  FROM ledger_lines
			 WHERE account_id BETWEEN $1 AND $2 AND account_seq IS NOT NULL
			 ORDER BY account_id, posted_at, id`, accts[0].id, accts[len(accts)-1].id)
		if err != nil {
			return err
		}
		var cur *acct
		var seq int64
		var bal, sum decimal.Decimal
		finish := func() {
			if cur == nil || !cur.hasHead {
				return
			}
			if cur.seq != seq || !cur.balance.Equal(bal) || !cur.balance.Equal(sum.Mul(cur.typ.normalDec())) {
				rep.add(max, Problem{Kind: ProblemHead, AccountID: cur.id,
					Detail: fmt.Sprintf("account %s: head has balance %s seq %d; lines give last balance %s, sum %s, last seq %d",
						cur.code, FormatMoney(cur.balance), cur.seq, FormatMoney(bal), FormatMoney(sum.Mul(cur.typ.normalDec())), seq)})
			}
		}
		seen := map[int64]bool{}
		for lines.Next() {
			var accountID, lineID, entryID, lseq int64
			var amount decimal.Decimal
			var balAfter decimal.Decimal
			if err := lines.Scan(&accountID, &lineID, &entryID, &lseq, &amount, &balAfter); err != nil {
				lines.Close()
				return err
			}
			a := byID[accountID]
			if a == nil {
				continue // an unknown account: reported by the entry pass
			}
			if a != cur {
				finish()
				cur, seq, bal, sum = a, 0, decimal.Zero, decimal.Zero
				seen[a.id] = true
			}
			if lseq != seq+1 {
				rep.add(max, Problem{Kind: ProblemSequence, EntryID: entryID, LineID: lineID, AccountID: accountID,
					Detail: fmt.Sprintf("account %s: line %d has sequence %d after %d", a.code, lineID, lseq, seq)})
			}
			want := bal.Add(amount.Mul(a.typ.normalDec()))
			if !balAfter.Equal(want) {
				rep.add(max, Problem{Kind: ProblemBalanceAfter, EntryID: entryID, LineID: lineID, AccountID: accountID,
					Detail: fmt.Sprintf("account %s: line %d has balance_after %s, expected %s",
						a.code, lineID, FormatMoney(balAfter), FormatMoney(want))})
			}
			if balAfter.IsNegative() && !a.allowNeg {
				rep.add(max, Problem{Kind: ProblemNegativeBalance, EntryID: entryID, LineID: lineID, AccountID: accountID,
					Detail: fmt.Sprintf("account %s: balance %s after line %d", a.code, FormatMoney(balAfter), lineID)})
			}
			seq, bal, sum = lseq, balAfter, sum.Add(amount)
		}
		lines.Close()
		if err := lines.Err(); err != nil {
			return err
		}
		finish()
		for i := range accts {
			a := &accts[i]
			if a.hasHead && !seen[a.id] && (a.seq != 0 || !a.balance.IsZero()) {
				rep.add(max, Problem{Kind: ProblemHead, AccountID: a.id,
					Detail: fmt.Sprintf("account %s: head has balance %s seq %d but the account has no lines",
						a.code, FormatMoney(a.balance), a.seq)})
			}
		}
		if len(accts) < batch {
			return nil
		}
		after = accts[len(accts)-1].id
	}
}

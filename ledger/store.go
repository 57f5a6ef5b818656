package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// storedEntry is an entry as read back for sealing, verifying and exporting:
// with its lines, their accounts, and its seal if it has one.
type storedEntry struct {
	Entry
	lines  []storedLine // same order as Entry.Lines
	sealed bool
	hash   []byte
	prev   []byte
}

// storedLine is a line with its account as found in the database; known is
// false when the account row does not exist.
type storedLine struct {
	Line
	known         bool
	accountType   AccountType
	accountCur    string
	owner         int64
	allowNegative bool
}

const entryCols = `e.id, e.kind, e.effective_at, e.created_at, e.description, coalesce(e.actor_user_id, 0),
	coalesce(e.idem_scope, ''), coalesce(e.idem_key, ''), e.request_hash, e.metadata::text`

// loadEntries reads the entries matching cond (a condition on alias e, with
// args), in id order, with their lines and seals. It is meant for small sets;
// batches use loadBatch.
func loadEntries(ctx context.Context, q querier, cond string, args ...any) ([]storedEntry, error) {
	es, err := queryEntries(ctx, q, `SELECT `+entryCols+` FROM ledger_entries e WHERE `+cond+` ORDER BY e.id`, args...)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	_, err = attachLines(ctx, q, es, es[0].ID, es[len(es)-1].ID)
	return es, err
}

// loadBatch reads up to limit entries with id > after (and, when filter is
// set, matching it: a condition on alias e using $3, $4, ...) in id order,
// with their lines and seals. Lines whose entry_id lies in (after, last id
// read] but belongs to no entry read are returned as orphans; when the batch
// is the last one (fewer than limit entries, no filter) the range extends to
// infinity so that no orphan escapes.
func loadBatch(ctx context.Context, q querier, after int64, limit int, filter string, args ...any) ([]storedEntry, []storedLine, error) {
	sql := `SELECT ` + entryCols + ` FROM ledger_entries e WHERE e.id > $1`
	if filter != "" {
		sql += ` AND ` + filter
	}
	sql += ` ORDER BY e.id LIMIT $2`
	es, err := queryEntries(ctx, q, sql, append([]any{after, limit}, args...)...)
	if err != nil {
		return nil, nil, err
	}
	if filter != "" {
		if len(es) == 0 {
			return nil, nil, nil
		}
		after = es[0].ID - 1
	}
	hi := int64(1<<63 - 1)
	if len(es) == limit || filter != "" {
		hi = es[len(es)-1].ID
	}
	orphans, err := attachLines(ctx, q, es, after+1, hi)
	return es, orphans, err
}

func queryEntries(ctx context.Context, q querier, sql string, args ...any) ([]storedEntry, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []storedEntry
	for rows.Next() {
		var e storedEntry
		var kind, meta string
		if err := rows.Scan(&e.ID, &kind, &e.EffectiveAt, &e.CreatedAt, &e.Description, &e.ActorUserID,
			&e.IdemScope, &e.IdemKey, &e.RequestHash, &meta); err != nil {
			return nil, err
		}
		e.Kind, e.Metadata = Kind(kind), json.RawMessage(meta)
		es = append(es, e)
	}
	return es, rows.Err()
}

// attachLines reads the lines and seals of entries with id in [lo, hi] and
// attaches them to es (sorted by id); lines of ids not in es are returned.
func attachLines(ctx context.Context, q querier, es []storedEntry, lo, hi int64) ([]storedLine, error) {
	byID := make(map[int64]*storedEntry, len(es))
	for i := range es {
		byID[es[i].ID] = &es[i]
	}
	rows, err := q.Query(ctx, `
		SELECT l.id, l.entry_id, l.account_id, coalesce(a.code, ''), l.amount, l.currency,
		       coalesce(l.account_seq, 0), l.balance_after, l.posted_at,
		       a.id IS NOT NULL, coalesce(a.type, ''), coalesce(a.currency, ''),
		       coalesce(a.owner_user_id, 0), coalesce(a.allow_negative, true)
		  FROM ledger_lines l LEFT JOIN ledger_accounts a ON a.id = l.account_id
		 WHERE l.entry_id BETWEEN $1 AND $2
		 ORDER BY l.entry_id, l.id`, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var orphans []storedLine
	for rows.Next() {
		var sl storedLine
		var typ string
		if err := rows.Scan(&sl.ID, &sl.EntryID, &sl.AccountID, &sl.AccountCode, &sl.Amount, &sl.Currency,
			&sl.AccountSeq, &sl.BalanceAfter, &sl.PostedAt,
			&sl.known, &typ, &sl.accountCur, &sl.owner, &sl.allowNegative); err != nil {
			return nil, err
		}
		sl.accountType = AccountType(typ)
		if e, ok := byID[sl.EntryID]; ok {
			e.lines = append(e.lines, sl)
			e.Lines = append(e.Lines, sl.Line)
		} else {
			orphans = append(orphans, sl)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT entry_id, prev_hash, hash FROM ledger_seals WHERE entry_id BETWEEN $1 AND $2`, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var prev, hash []byte
		if err := rows.Scan(&id, &prev, &hash); err != nil {
			return nil, err
		}
		if e, ok := byID[id]; ok {
			e.sealed, e.prev, e.hash = true, prev, hash
		}
		// A seal without an entry is found by Verify's seal pass.
	}
	return orphans, rows.Err()
}

// encoder builds the canonical, unambiguous byte string that is hashed: every
// field is an 8-byte big-endian length followed by its bytes.
type encoder struct{ buf []byte }

func (e *encoder) bytes(b []byte) {
	n := uint64(len(b))
	e.buf = append(e.buf, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	e.buf = append(e.buf, b...)
}

func (e *encoder) str(s string) { e.bytes([]byte(s)) }

func (e *encoder) int(v int64) { e.str(fmt.Sprint(v)) }

func (e *encoder) time(t time.Time) { e.str(FormatTime(t)) }

func (e *encoder) money(d decimal.Decimal) { e.str(FormatMoney(d)) }

// FormatTime formats t as the ledger stores and hashes it: RFC 3339 in UTC
// with exactly six fractional digits, e.g. "2026-12-03T17:48:00.123456Z".
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

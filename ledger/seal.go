package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// ZeroHash returns the prev_hash of the first sealed entry: 32 zero bytes
// (a new slice each time).
func ZeroHash() []byte { return make([]byte, sha256.Size) }

// sealLockKey is the transaction-level advisory lock that lets one sealer at
// a time extend the chain.
const sealLockKey int64 = 0x43524a4c53454c // "CRJLSEL"

// HashEntry returns the link of the hash chain for e: SHA-256 over a
// canonical encoding of the entry, all its lines and prev. Every field is
// written as an 8-byte big-endian length followed by its bytes, in this
// order: the tag "creditjambo.ledger.entry.v1"; id; kind; effective_at;
// created_at; description; actor user id (empty when none); idempotency
// scope; key; request hash (raw bytes); metadata (PostgreSQL's text of the
// jsonb value); the number of lines; for each line in line-id order: line
// id, account code, amount (signed, two decimals), currency, account_seq
// (empty when none), balance_after (two decimals, empty when none),
// posted_at; and finally prev. Integers are decimal text; times are
// FormatTime. e.Lines must carry AccountCode and be sorted by line id, as
// entries read from the ledger are.
func HashEntry(prev []byte, e Entry) []byte {
	var enc encoder
	enc.str("creditjambo.ledger.entry.v1")
	enc.int(e.ID)
	enc.str(string(e.Kind))
	enc.time(e.EffectiveAt)
	enc.time(e.CreatedAt)
	enc.str(e.Description)
	if e.ActorUserID != 0 {
		enc.int(e.ActorUserID)
	} else {
		enc.str("")
	}
	enc.str(e.IdemScope)
	enc.str(e.IdemKey)
	enc.bytes(e.RequestHash)
	enc.bytes(e.Metadata)
	enc.int(int64(len(e.Lines)))
	for _, ln := range e.Lines {
		enc.int(ln.ID)
		enc.str(ln.AccountCode)
		enc.money(ln.Amount)
		enc.str(ln.Currency)
		if ln.AccountSeq != 0 {
			enc.int(ln.AccountSeq)
		} else {
			enc.str("")
		}
		if ln.BalanceAfter.Valid {
			enc.money(ln.BalanceAfter.Decimal)
		} else {
			enc.str("")
		}
		enc.time(ln.PostedAt)
	}
	enc.bytes(prev)
	return sha256Sum(enc.buf)
}

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// Seal extends the hash chain over every committed entry that no running
// transaction can still precede, in entry-id order, and returns how many
// entries it sealed. It is meant to be called every second or so by one
// periodic job; concurrent calls are safe (one sealer works at a time under
// an advisory lock, the others return 0, nil).
//
// Entry ids come from a sequence, so a lower id can commit after a higher
// one. Seal therefore (1) reads L, the sequence's last value, then (2) takes
// a fresh transaction id X, assigned after L was read, and (3) waits until
// no transaction older than X is running. Every entry's transaction owns its
// xid before drawing its id (the posting statement draws it after moving the
// wallet's head, the id's default ledger_entry_id() after taking the xid, and
// an entry with any other id cannot commit), so any
// transaction holding an id <= L has an xid < X and has ended by then: the
// committed entries with ids <= L are final, and Seal chains them. It waits
// at most Options.SealWait, polling every 20 ms; then it returns
// ErrSealWait having sealed nothing (a transaction left open for long —
// of any kind, not only ledger postings — delays sealing; a later call
// catches up).
func (l *Ledger) Seal(ctx context.Context) (int, error) {
	var last int64
	var called bool
	if err := l.pool.QueryRow(ctx, `SELECT last_value, is_called FROM ledger_entries_id_seq`).Scan(&last, &called); err != nil {
		return 0, fmt.Errorf("ledger seal: %w", err)
	}
	if !called {
		return 0, nil // no entry was ever posted
	}
	var x string
	if err := l.pool.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&x); err != nil {
		return 0, fmt.Errorf("ledger seal: %w", err)
	}
	xid, err := strconv.ParseUint(x, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("ledger seal: xid %q: %w", x, err)
	}
	deadline := l.opts.Now().Add(l.opts.SealWait)
	for {
		var xmin string
		if err := l.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&xmin); err != nil {
			return 0, fmt.Errorf("ledger seal: %w", err)
		}
		if v, err := strconv.ParseUint(xmin, 10, 64); err == nil && v >= xid {
			break
		}
		if !l.opts.Now().Before(deadline) {
			return 0, ErrSealWait
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
	total := 0
	for {
		n, more, err := l.sealBatch(ctx, last)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// sealBatch chains the next unsealed entries with id <= upTo, at most
// SealBatch of them, in one READ COMMITTED transaction holding the sealer's
// advisory lock. more is false when there is nothing left or another sealer
// holds the lock.
func (l *Ledger) sealBatch(ctx context.Context, upTo int64) (n int, more bool, err error) {
	err = pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, sealLockKey).Scan(&locked); err != nil {
			return err
		}
		if !locked {
			return nil
		}
		var headID int64
		prev := ZeroHash()
		err := tx.QueryRow(ctx, `SELECT entry_id, hash FROM ledger_seals ORDER BY entry_id DESC LIMIT 1`).Scan(&headID, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if headID >= upTo {
			return nil
		}
		es, _, err := loadBatch(ctx, tx, headID, l.opts.SealBatch, `e.id <= $3`, upTo)
		if err != nil || len(es) == 0 {
			return err
		}
		ids := make([]int64, len(es))
		prevs := make([][]byte, len(es))
		hashes := make([][]byte, len(es))
		for i := range es {
			ids[i], prevs[i] = es[i].ID, prev
			prev = HashEntry(prev, es[i].Entry)
			hashes[i] = prev
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO ledger_seals (entry_id, prev_hash, hash)
			SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[])`, ids, prevs, hashes); err != nil {
			return err
		}
		n, more = len(es), len(es) == l.opts.SealBatch
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("ledger seal: %w", err)
	}
	return n, more, nil
}

// SealHead returns the id and hash of the last sealed entry (0 and ZeroHash()
// when nothing is sealed yet).
func (l *Ledger) SealHead(ctx context.Context) (int64, []byte, error) {
	var id int64
	var hash []byte
	err := l.pool.QueryRow(ctx, `SELECT entry_id, hash FROM ledger_seals ORDER BY entry_id DESC LIMIT 1`).Scan(&id, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ZeroHash(), nil
	}
	return id, hash, err
}

package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

type seal struct {
	id         int64
	prev, hash []byte
}

func seals(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []seal {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT entry_id, prev_hash, hash FROM ledger_seals ORDER BY entry_id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (seal, error) {
		var s seal
		return s, r.Scan(&s.id, &s.prev, &s.hash)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSealChain(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	if n, err := l.Seal(ctx); n != 0 || err != nil {
		t.Fatalf("seal of an empty ledger: %d %v", n, err)
	}
	for i := range 7 {
		deposit(t, l, int64(i%3+1), "10")
	}
	n, err := l.Seal(ctx)
	if err != nil || n != 7 {
		t.Fatalf("Seal = %d, %v; want 7", n, err)
	}
	if n, err := l.Seal(ctx); n != 0 || err != nil {
		t.Fatalf("second Seal = %d, %v", n, err)
	}
	ss := seals(t, pool)
	prev := ledger.ZeroHash()
	for _, s := range ss {
		e, err := l.Entry(ctx, s.id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(s.prev, prev) || !bytes.Equal(s.hash, ledger.HashEntry(prev, e)) {
			t.Fatalf("seal of entry %d does not chain", s.id)
		}
		prev = s.hash
	}
	rep := verifyClean(t, l)
	if rep.SealedEntries != 7 || rep.CheckedEntries != 7 || rep.ChainHead != fmt.Sprintf("%x", prev) {
		t.Fatalf("report %+v", rep)
	}
	id, head, err := l.SealHead(ctx)
	if err != nil || id != ss[6].id || !bytes.Equal(head, prev) {
		t.Fatalf("SealHead = %d %x %v", id, head, err)
	}
}

// TestSealWaitsForLowerIDs holds a transaction open with an entry, commits a
// later entry, and checks that Seal neither skips the open one nor seals
// past it, then seals both in id order once it commits.
func TestSealWaitsForLowerIDs(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()
	impatient := ledgerOn(t, pool, ledger.Options{SealWait: 100 * time.Millisecond})
	patient := ledgerOn(t, pool, ledger.Options{SealWait: 10 * time.Second})
	if _, err := impatient.Wallet(ctx, 1, "RWF"); err != nil {
		t.Fatal(err)
	}

	open, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback(ctx)
	low, err := impatient.DepositTx(ctx, open, ledger.DepositRequest{UserID: 1, Amount: amt(t, "5"), Currency: "RWF"})
	if err != nil {
		t.Fatal(err)
	}
	high := deposit(t, impatient, 2, "7")
	if high.Entry.ID <= low.Entry.ID {
		t.Fatalf("ids %d then %d", low.Entry.ID, high.Entry.ID)
	}
	if n, err := impatient.Seal(ctx); n != 0 || !errors.Is(err, ledger.ErrSealWait) {
		t.Fatalf("Seal with a lower id still open = %d, %v; want 0, ErrSealWait", n, err)
	}
	if ss := seals(t, pool); len(ss) != 0 {
		t.Fatalf("sealed %v past an open lower id", ss)
	}

	type result struct {
		n   int
		err error
	}
	done := make(chan result)
	go func() {
		n, err := patient.Seal(ctx)
		done <- result{n, err}
	}()
	time.Sleep(150 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("Seal returned %+v while a lower id was open", r)
	default:
	}
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.n != 2 {
		t.Fatalf("Seal after commit = %+v; want 2 sealed", r)
	}
	ss := seals(t, pool)
	if len(ss) != 2 || ss[0].id != low.Entry.ID || ss[1].id != high.Entry.ID ||
		!bytes.Equal(ss[0].prev, ledger.ZeroHash()) || !bytes.Equal(ss[1].prev, ss[0].hash) {
		t.Fatalf("seals %+v", ss)
	}
	verifyClean(t, patient)
}

// TestSealRolledBackIDs: an id whose transaction rolled back is a gap that
// the chain skips.
func TestSealRolledBackIDs(t *testing.T) {
	t.Parallel()
	l, pool := newLedger(t)
	ctx := context.Background()
	deposit(t, l, 1, "5")
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.DepositTx(ctx, tx, ledger.DepositRequest{UserID: 1, Amount: amt(t, "5"), Currency: "RWF"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	deposit(t, l, 1, "5")
	if n, err := l.Seal(ctx); n != 2 || err != nil {
		t.Fatalf("Seal = %d, %v", n, err)
	}
	verifyClean(t, l)
}

// tamper runs sql as the superuser with triggers disabled.
func tamper(t *testing.T, db *sqltest.DB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("tamper %q: %v", sql, err)
	}
}

func problemKinds(rep ledger.Report) map[ledger.ProblemKind][]ledger.Problem {
	m := map[ledger.ProblemKind][]ledger.Problem{}
	for _, p := range rep.Problems {
		m[p.Kind] = append(m[p.Kind], p)
	}
	return m
}

func mustVerify(t *testing.T, l *ledger.Ledger) (ledger.Report, map[ledger.ProblemKind][]ledger.Problem) {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep, problemKinds(rep)
}

func TestVerifyCatchesTamperedLine(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	l := ledgerOn(t, db.Pool, ledger.Options{})
	ctx := context.Background()
	var ps []ledger.Posting
	for range 4 {
		ps = append(ps, deposit(t, l, 1, "10"))
	}
	if _, err := l.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	verifyClean(t, l)
	// The wallet line of the second entry: 10 more to the customer.
	target := ps[1].Entry.Lines[1]
	tamper(t, db, `UPDATE ledger_lines SET amount = amount - 10 WHERE id = $1`, target.ID)

	rep, kinds := mustVerify(t, l)
	if rep.OK {
		t.Fatal("Verify is OK after a line was changed")
	}
	if p := kinds[ledger.ProblemUnbalanced]; len(p) != 1 || p[0].EntryID != ps[1].Entry.ID {
		t.Errorf("unbalanced: %+v", p)
	}
	if p := kinds[ledger.ProblemHash]; len(p) != 1 || p[0].EntryID != ps[1].Entry.ID {
		t.Errorf("hash mismatch: %+v", p)
	}
	if len(kinds[ledger.ProblemBalanceAfter]) == 0 || len(kinds[ledger.ProblemHead]) != 1 {
		t.Errorf("balance checks: %+v", rep.Problems)
	}
	if len(kinds[ledger.ProblemChain]) != 0 {
		t.Errorf("the chain links themselves are intact: %+v", kinds[ledger.ProblemChain])
	}
}

func TestVerifyCatchesTamperedSeal(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	l := ledgerOn(t, db.Pool, ledger.Options{})
	ctx := context.Background()
	var ps []ledger.Posting
	for range 3 {
		ps = append(ps, deposit(t, l, 2, "10"))
	}
	if _, err := l.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	tamper(t, db, `UPDATE ledger_seals SET hash = sha256('forged') WHERE entry_id = $1`, ps[1].Entry.ID)
	rep, kinds := mustVerify(t, l)
	if rep.OK || len(kinds[ledger.ProblemHash]) != 1 || kinds[ledger.ProblemHash][0].EntryID != ps[1].Entry.ID ||
		len(kinds[ledger.ProblemChain]) != 1 || kinds[ledger.ProblemChain][0].EntryID != ps[2].Entry.ID {
		t.Fatalf("report %+v", rep)
	}
}

func TestVerifyCatchesOtherTampering(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	l := ledgerOn(t, db.Pool, ledger.Options{})
	ctx := context.Background()
	a := deposit(t, l, 3, "10")
	b := deposit(t, l, 3, "20")
	c := deposit(t, l, 4, "30")
	if _, err := l.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	// Remove an entry (its lines become orphans, its seal has no entry), give
	// a head money it never got, and drop a line's sequence.
	tamper(t, db, `DELETE FROM ledger_entries WHERE id = $1`, a.Entry.ID)
	tamper(t, db, `UPDATE ledger_account_heads SET balance = balance + 1000 WHERE account_id = $1`, c.Wallet.ID)
	tamper(t, db, `UPDATE ledger_lines SET account_seq = 5 WHERE id = $1`, b.Entry.Lines[1].ID)
	rep, kinds := mustVerify(t, l)
	if rep.OK {
		t.Fatal("Verify OK")
	}
	for _, k := range []ledger.ProblemKind{ledger.ProblemOrphanLine, ledger.ProblemSealNoEntry, ledger.ProblemHead, ledger.ProblemSequence, ledger.ProblemHash} {
		if len(kinds[k]) == 0 {
			t.Errorf("no %s problem in %+v", k, rep.Problems)
		}
	}
	if rep.ProblemCount != int64(len(rep.Problems)) {
		t.Errorf("count %d, kept %d", rep.ProblemCount, len(rep.Problems))
	}
}

package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Tx is the transaction RunSerializable runs its function in: a pgx.Tx
// that saves round trips.
//
// Statements queued in Batch are not sent on their own: they go in one
// pipeline (a pgx batch, one round trip) with the next statement run
// through Exec, Query, QueryRow or SendBatch, before it, and their
// callbacks (pgx.QueuedQuery's Exec, Query or QueryRow) run, in order,
// before that statement's result is read. BEGIN is queued that way too, so
// the transaction's first statement also begins it; statements still queued
// when the function returns go with COMMIT; a function that runs nothing
// costs no round trip at all.
//
// PostgreSQL skips the rest of a pipeline after a failed statement: the
// statements after it return its error, so the first error is never lost.
// Flush sends whatever is queued and returns the first error of a queued
// statement or callback since the last Flush.
//
// Conn returns the connection without sending anything: a statement run on
// it directly would not be in the transaction while BEGIN is still queued.
// A Tx is not safe for concurrent use.
type Tx struct {
	conn   *pgxpool.Conn
	queued pgx.Batch
	begun  bool  // BEGIN has been sent
	done   bool  // committed or rolled back
	err    error // the first error of a queued statement or its callback
	open   pgx.BatchResults
	saves  int // savepoints made, for their names
}

// errTxDone is the error of a statement run after Commit or Rollback.
var errTxDone = errors.New("ledger: transaction already committed or rolled back")

// beginStatements begin RunSerializable's transactions. Sequential scans
// are turned off for the transaction: under SSI a sequential scan locks the
// whole relation, so on a small table (where the planner prefers one) every
// posting would conflict with every other.
var beginStatements = []string{`BEGIN ISOLATION LEVEL SERIALIZABLE`, `SET LOCAL enable_seqscan = off`}

func newTx(conn *pgxpool.Conn) *Tx {
	t := &Tx{conn: conn}
	for _, s := range beginStatements {
		t.queued.Queue(s)
	}
	return t
}

// Batch is where statements to send with the next one are queued.
func (t *Tx) Batch() *pgx.Batch { return &t.queued }

// Flush sends the statements still queued, in one round trip, and returns
// the first error of the queued statements or their callbacks since the
// last Flush.
func (t *Tx) Flush(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	t.closeOpen()
	if t.queued.Len() > 0 {
		br := t.send(ctx, nil)
		if err := br.Close(); err != nil && t.err == nil {
			t.err = err
		}
	}
	err := t.err
	t.err = nil
	return err
}

// send sends the queued statements and then carriers, in one batch, reads
// the queued statements' results (running their callbacks) and returns the
// batch positioned at the first carrier.
func (t *Tx) send(ctx context.Context, carriers []*pgx.QueuedQuery) pgx.BatchResults {
	queued := t.queued.QueuedQueries
	t.queued = pgx.Batch{}
	b := &pgx.Batch{QueuedQueries: append(queued, carriers...)}
	br := t.conn.SendBatch(ctx, b)
	t.begun = true
	for _, q := range queued {
		var err error
		if q.Fn != nil {
			err = q.Fn(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil && t.err == nil {
			t.err = err
		}
	}
	return br
}

// closeOpen finishes reading a batch whose carrier was a Query.
func (t *Tx) closeOpen() {
	if t.open == nil {
		return
	}
	if err := t.open.Close(); err != nil && t.err == nil {
		t.err = err
	}
	t.open = nil
}

// direct reports whether a statement with these arguments goes straight
// to the connection: nothing is queued. A statement whose first argument is
// a pgx query option also goes straight, after the queue has been flushed
// (a batch treats such options differently).
func (t *Tx) direct(ctx context.Context, args []any) (bool, error) {
	if t.done {
		return true, errTxDone
	}
	t.closeOpen()
	if t.queued.Len() == 0 {
		return true, nil
	}
	if len(args) > 0 {
		switch args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryRewriter, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
			err := t.Flush(ctx)
			return true, err
		}
	}
	return false, nil
}

// Exec runs sql, with the queued statements before it.
func (t *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if direct, err := t.direct(ctx, args); err != nil {
		return pgconn.CommandTag{}, err
	} else if direct {
		return t.conn.Exec(ctx, sql, args...)
	}
	br := t.send(ctx, []*pgx.QueuedQuery{{SQL: sql, Arguments: args}})
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// QueryRow runs sql, with the queued statements before it.
func (t *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if direct, err := t.direct(ctx, args); err != nil {
		return errRow{err}
	} else if direct {
		return t.conn.QueryRow(ctx, sql, args...)
	}
	return batchRow{br: t.send(ctx, []*pgx.QueuedQuery{{SQL: sql, Arguments: args}})}
}

type batchRow struct{ br pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil && !errors.Is(cerr, pgx.ErrNoRows) {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Query runs sql, with the queued statements before it.
func (t *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if direct, err := t.direct(ctx, args); err != nil {
		return nil, err
	} else if direct {
		return t.conn.Query(ctx, sql, args...)
	}
	br := t.send(ctx, []*pgx.QueuedQuery{{SQL: sql, Arguments: args}})
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return rows, err
	}
	t.open = br
	return &batchRows{Rows: rows, t: t}, nil
}

// batchRows closes the batch of a Query carrier when its rows are closed,
// or read to the end, as pgx.Rows are.
type batchRows struct {
	pgx.Rows
	t *Tx
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.t.closeOpen()
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// SendBatch sends b, with the queued statements before it.
func (t *Tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if _, err := t.direct(ctx, nil); err != nil {
		return errBatch{err}
	}
	return t.send(ctx, b.QueuedQueries)
}

type errBatch struct{ err error }

func (e errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, e.err }
func (e errBatch) Query() (pgx.Rows, error)         { return nil, e.err }
func (e errBatch) QueryRow() pgx.Row                { return errRow(e) }
func (e errBatch) Close() error                     { return e.err }
func (e errBatch) Tx() pgx.Tx                       { return nil }

// begin sends what is queued, BEGIN at least, for the methods that cannot
// carry it.
func (t *Tx) begin(ctx context.Context) error {
	if t.done {
		return errTxDone
	}
	if t.queued.Len() == 0 && t.open == nil {
		return nil
	}
	return t.Flush(ctx)
}

// Prepare prepares a statement on the connection, after sending what is
// queued.
func (t *Tx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return t.conn.Conn().Prepare(ctx, name, sql)
}

// CopyFrom copies rows in, after sending what is queued.
func (t *Tx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.begin(ctx); err != nil {
		return 0, err
	}
	return t.conn.CopyFrom(ctx, table, columns, src)
}

// LargeObjects are not supported (pgx builds them only on its own
// transactions): the zero value, whose methods panic. The ledger has none.
func (t *Tx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

// Conn is the transaction's connection. Nothing is sent: see Tx.
func (t *Tx) Conn() *pgx.Conn { return t.conn.Conn() }

// Begin starts a nested transaction: a savepoint.
func (t *Tx) Begin(ctx context.Context) (pgx.Tx, error) {
	t.saves++
	sp := &savepoint{Tx: t, name: fmt.Sprintf("ledger_sp_%d", t.saves)}
	if _, err := t.Exec(ctx, "SAVEPOINT "+sp.name); err != nil {
		return nil, err
	}
	return sp, nil
}

// Commit commits, sending COMMIT with the statements still queued. A
// transaction that never sent anything has nothing to commit.
func (t *Tx) Commit(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.closeOpen()
	if !t.begun && t.queued.Len() == len(beginStatements) {
		t.done = true
		t.queued = pgx.Batch{}
		return t.err
	}
	tag, err := t.Exec(ctx, "COMMIT")
	t.done = true
	if qerr := t.err; qerr != nil {
		t.err, err = nil, qerr
	}
	if err != nil {
		// A statement queued before COMMIT failed, and the transaction
		// with it: end it, so the connection goes back to the pool.
		if t.conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = t.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
		return err
	}
	if tag.String() == "ROLLBACK" { // the transaction had failed
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// Rollback rolls back. After Commit, or when the transaction already ended
// (a failed COMMIT), it does nothing.
func (t *Tx) Rollback(ctx context.Context) error {
	if t.done {
		return pgx.ErrTxClosed
	}
	t.done = true
	t.queued = pgx.Batch{}
	if t.open != nil {
		_ = t.open.Close()
		t.open = nil
	}
	if !t.begun || t.conn.Conn().PgConn().TxStatus() == 'I' {
		return nil
	}
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
}

// savepoint is a Tx's nested transaction.
type savepoint struct {
	*Tx
	name string
	done bool
}

func (s *savepoint) Begin(ctx context.Context) (pgx.Tx, error) { return s.Tx.Begin(ctx) }

func (s *savepoint) Commit(ctx context.Context) error {
	if s.done {
		return pgx.ErrTxClosed
	}
	s.done = true
	_, err := s.Tx.Exec(ctx, "RELEASE SAVEPOINT "+s.name)
	return err
}

func (s *savepoint) Rollback(ctx context.Context) error {
	if s.done {
		return pgx.ErrTxClosed
	}
	s.done = true
	_, err := s.Tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+s.name)
	return err
}

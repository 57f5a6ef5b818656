package ledger_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// tripCounter counts round trips: single statements and batches.
type tripCounter struct{ trips atomic.Int64 }

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.trips.Add(1)
	return ctx
}
func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.trips.Add(1)
	return ctx
}
func (c *tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// txEnv is a ledger whose pool counts round trips, and a table to write.
func txEnv(t *testing.T) (*ledger.Ledger, *pgxpool.Pool, *tripCounter) {
	t.Helper()
	ctx := context.Background()
	db := sqltest.NewDB(t, sqltest.Options{MaxConns: 2})
	pc, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tripCounter{}
	pc.ConnConfig.Tracer = tr
	pc.MaxConns = 1 // every transaction on the one connection
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `CREATE TABLE tx_t (id int PRIMARY KEY, v text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return ledgerOn(t, pool, ledger.Options{MaxAttempts: 3}), pool, tr
}

func countRows(t *testing.T, pool *pgxpool.Pool) (n int) {
	t.Helper()
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM tx_t`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `DELETE FROM tx_t`); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTxRoundTrips: BEGIN and the queued statements go with the next
// statement, before it, whatever kind it is; what is left goes with COMMIT.
func TestTxRoundTrips(t *testing.T) {
	ctx := context.Background()
	l, pool, tr := txEnv(t)
	carriers := map[string]struct {
		run   func(tx *ledger.Tx) error
		rows  int   // rows in tx_t after the commit
		trips int64 // round trips of the whole transaction
	}{
		"QueryRow": {func(tx *ledger.Tx) error {
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM tx_t`).Scan(&n); err != nil {
				return err
			}
			if n != 3 { // the queued inserts ran first
				t.Errorf("QueryRow carrier saw %d rows, want 3", n)
			}
			return nil
		}, 3, 2},
		"Exec": {func(tx *ledger.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO tx_t VALUES (100, 'carrier')`)
			return err
		}, 4, 2},
		"Query": {func(tx *ledger.Tx) error {
			rows, err := tx.Query(ctx, `SELECT id FROM tx_t ORDER BY id`)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if len(ids) != 3 {
				t.Errorf("Query carrier: %v", ids)
			}
			return err
		}, 3, 2},
		"SendBatch": {func(tx *ledger.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO tx_t VALUES (200, 'x')`)
			b.Queue(`INSERT INTO tx_t VALUES (201, 'y')`)
			return tx.SendBatch(ctx, b).Close()
		}, 5, 2},
		// Nothing else: the queued statements go with COMMIT.
		"none": {func(*ledger.Tx) error { return nil }, 3, 1},
	}
	for name, c := range carriers {
		t.Run(name, func(t *testing.T) {
			var moved int64 = -1
			before := tr.trips.Load()
			err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
				tx.Batch().Queue(`INSERT INTO tx_t VALUES (1, 'a'), (2, 'b')`).Exec(func(ct pgconn.CommandTag) error {
					moved = ct.RowsAffected()
					return nil
				})
				tx.Batch().Queue(`INSERT INTO tx_t VALUES (3, 'c')`)
				if err := c.run(tx); err != nil {
					return err
				}
				if name == "none" {
					return nil // no Flush: COMMIT takes them
				}
				if moved != 2 {
					t.Errorf("queued callback had not run when the carrier returned: %d", moved)
				}
				return tx.Flush(ctx)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.trips.Load() - before; got != c.trips {
				t.Errorf("%d round trips, want %d", got, c.trips)
			}
			if moved != 2 {
				t.Errorf("queued callback: %d rows", moved)
			}
			if n := countRows(t, pool); n != c.rows {
				t.Errorf("%d rows committed, want %d", n, c.rows)
			}
		})
	}

	t.Run("empty", func(t *testing.T) {
		before := tr.trips.Load()
		if err := l.RunSerializable(ctx, nil, func(*ledger.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if got := tr.trips.Load() - before; got != 0 {
			t.Errorf("an empty transaction took %d round trips", got)
		}
	})
}

// TestTxIsSerializable: the statements run inside the transaction
// RunSerializable promises, from the first one.
func TestTxIsSerializable(t *testing.T) {
	ctx := context.Background()
	l, _, _ := txEnv(t)
	err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
		var iso, seqscan string
		var xact int64
		if err := tx.QueryRow(ctx, `SELECT current_setting('transaction_isolation'), current_setting('enable_seqscan'), txid_current()`).
			Scan(&iso, &seqscan, &xact); err != nil {
			return err
		}
		var again int64
		if err := tx.QueryRow(ctx, `SELECT txid_current()`).Scan(&again); err != nil {
			return err
		}
		if iso != "serializable" || seqscan != "off" || again != xact {
			t.Errorf("isolation %q, enable_seqscan %q, txids %d and %d", iso, seqscan, xact, again)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTxErrors: a queued statement's failure is the carrier's and Flush's,
// nothing commits, and the connection goes back to the pool usable.
func TestTxErrors(t *testing.T) {
	ctx := context.Background()
	l, pool, _ := txEnv(t)
	var notNull *pgconn.PgError

	t.Run("queued before a carrier", func(t *testing.T) {
		err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
			ran := false
			tx.Batch().Queue(`INSERT INTO tx_t VALUES (1, NULL)`)
			tx.Batch().Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { ran = true; return nil })
			_, cerr := tx.Exec(ctx, `INSERT INTO tx_t VALUES (2, 'b')`)
			if !errors.As(cerr, &notNull) || notNull.Code != "23502" {
				t.Errorf("carrier: %v, want the queued not-null violation", cerr)
			}
			if ran {
				t.Error("a callback after the failed statement ran")
			}
			return tx.Flush(ctx)
		})
		if !errors.As(err, &notNull) || notNull.Code != "23502" {
			t.Fatalf("RunSerializable: %v, want a not-null violation", err)
		}
		if n := countRows(t, pool); n != 0 {
			t.Fatalf("%d rows committed", n)
		}
	})

	t.Run("queued with COMMIT", func(t *testing.T) {
		err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tx_t VALUES (1, 'a')`); err != nil {
				return err
			}
			tx.Batch().Queue(`INSERT INTO tx_t VALUES (2, NULL)`)
			return nil
		})
		if !errors.As(err, &notNull) || notNull.Code != "23502" {
			t.Fatalf("RunSerializable: %v, want a not-null violation", err)
		}
		if n := countRows(t, pool); n != 0 {
			t.Fatalf("%d rows committed", n)
		}
	})

	t.Run("fn fails", func(t *testing.T) {
		boom := errors.New("boom")
		err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tx_t VALUES (1, 'a')`); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("RunSerializable: %v", err)
		}
		if n := countRows(t, pool); n != 0 {
			t.Fatalf("%d rows committed", n)
		}
	})

	t.Run("retried", func(t *testing.T) {
		tries := 0
		err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
			tries++
			if _, err := tx.Exec(ctx, `INSERT INTO tx_t VALUES (1, 'a')`); err != nil {
				return err
			}
			if tries == 1 {
				_, err := tx.Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`)
				return err
			}
			return nil
		})
		if err != nil || tries != 2 {
			t.Fatalf("RunSerializable: %v after %d tries", err, tries)
		}
		if n := countRows(t, pool); n != 1 {
			t.Fatalf("%d rows committed, want 1", n)
		}
	})

	t.Run("used after the end", func(t *testing.T) {
		var kept *ledger.Tx
		if err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
			kept = tx
			_, err := tx.Exec(ctx, `SELECT 1`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := kept.Exec(ctx, `INSERT INTO tx_t VALUES (1, 'late')`); err == nil {
			t.Fatal("a statement ran on a committed Tx")
		}
		if n := countRows(t, pool); n != 0 {
			t.Fatalf("%d rows committed", n)
		}
	})

	// The one connection is idle and usable after all of the above.
	var one int
	if err := pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		t.Fatal(err)
	}
}

// TestTxSavepoint: Begin on a Tx is a savepoint.
func TestTxSavepoint(t *testing.T) {
	ctx := context.Background()
	l, pool, _ := txEnv(t)
	err := l.RunSerializable(ctx, nil, func(tx *ledger.Tx) error {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := sp.Exec(ctx, `INSERT INTO tx_t VALUES (1, 'undone')`); err != nil {
			return err
		}
		if err := sp.Rollback(ctx); err != nil {
			return err
		}
		sp, err = tx.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := sp.Exec(ctx, `INSERT INTO tx_t VALUES (2, 'kept')`); err != nil {
			return err
		}
		return sp.Commit(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := pool.QueryRow(ctx, `SELECT string_agg(v, ',') FROM tx_t`).Scan(&v); err != nil || v != "kept" {
		t.Fatalf("rows %q (%v), want kept", v, err)
	}
}

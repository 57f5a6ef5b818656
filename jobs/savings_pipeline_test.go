package jobs

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// countingTracer counts round trips: single statements and batches.
type countingTracer struct{ trips atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.trips.Add(1)
	return ctx
}
func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.trips.Add(1)
	return ctx
}
func (c *countingTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func TestPipelineTx(t *testing.T) {
	ctx := context.Background()
	db := sqltest.NewDB(t, sqltest.Options{MaxConns: 2})
	conf, err := pgx.ParseConfig(db.URL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &countingTracer{}
	conf.Tracer = tr
	cc, err := pgx.ConnectConfig(ctx, conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close(ctx) })
	if _, err := cc.Exec(ctx, `CREATE TABLE pipe_t (id int PRIMARY KEY, v text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	count := func(tx pgx.Tx) (n int) {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM pipe_t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Each leader kind carries the queued statements in its round trip,
	// and the queued callbacks have run once the leader was read.
	leaders := map[string]func(p *PipelineTx) error{
		"QueryRow": func(p *PipelineTx) error {
			var one int
			return p.QueryRow(ctx, `SELECT 1`).Scan(&one)
		},
		"Exec": func(p *PipelineTx) error {
			_, err := p.Exec(ctx, `INSERT INTO pipe_t VALUES (100, 'leader')`)
			return err
		},
		"Query": func(p *PipelineTx) error {
			rows, err := p.Query(ctx, `SELECT g FROM generate_series(1, 3) g`)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
			}
			if n != 3 {
				t.Errorf("Query leader: %d rows", n)
			}
			return rows.Err()
		},
		"none": func(*PipelineTx) error { return nil },
	}
	for name, lead := range leaders {
		t.Run(name, func(t *testing.T) {
			tx, err := cc.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			p := NewPipelineTx(tx)
			var moved int64 = -1
			p.Batch().Queue(`INSERT INTO pipe_t VALUES (1, 'a'), (2, 'b')`).Exec(func(ct pgconn.CommandTag) error {
				moved = ct.RowsAffected()
				return nil
			})
			p.Batch().Queue(`INSERT INTO pipe_t VALUES (3, 'c')`)
			before := tr.trips.Load()
			if err := lead(p); err != nil {
				t.Fatal(err)
			}
			if name != "none" && moved != 2 {
				t.Errorf("queued callback not run with the leader: %d", moved)
			}
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if trips := tr.trips.Load() - before; trips != 1 {
				t.Errorf("%d round trips, want 1", trips)
			}
			if moved != 2 {
				t.Errorf("queued callback: %d rows", moved)
			}
			want := 3
			if name == "Exec" {
				want = 4
			}
			if n := count(tx); n != want {
				t.Errorf("%d rows, want %d", n, want)
			}
			// Nothing queued: statements pass through.
			if err := lead(NewPipelineTx(tx)); err != nil && name != "Exec" {
				t.Fatal(err)
			}
		})
	}

	// A queued statement's error is Flush's, and the transaction is aborted.
	t.Run("error", func(t *testing.T) {
		tx, err := cc.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		p := NewPipelineTx(tx)
		p.Batch().Queue(`INSERT INTO pipe_t VALUES (1, NULL)`)
		var one int
		if err := p.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil || one != 1 {
			t.Fatalf("leader: %v %d", err, one)
		}
		var pe *pgconn.PgError
		if err := p.Flush(ctx); !errors.As(err, &pe) || pe.Code != "23502" {
			t.Fatalf("Flush: %v, want a not-null violation", err)
		}
		if err := tx.Commit(ctx); err == nil {
			t.Fatal("commit after a failed queued statement succeeded")
		}
	})

	// The leader's error comes first; the queued statements did not run.
	t.Run("leader error", func(t *testing.T) {
		tx, err := cc.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		p := NewPipelineTx(tx)
		ran := false
		p.Batch().Queue(`SELECT 1`).Exec(func(pgconn.CommandTag) error { ran = true; return nil })
		var one int
		if err := p.QueryRow(ctx, `SELECT 1/0`).Scan(&one); err == nil {
			t.Fatal("division by zero succeeded")
		}
		if err := p.Flush(ctx); err == nil || ran {
			t.Fatalf("Flush: %v, queued ran %v", err, ran)
		}
	})
}

package sql_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	dbsql "github.com/creditjambo/creditjambo/sql"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

func TestMigrateTwiceAndConcurrently(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()

	// The template is already migrated: running again applies nothing.
	res, err := dbsql.Migrate(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 0 || len(res.RiverApplied) != 0 {
		t.Fatalf("second run applied %v / river %v", res.Applied, res.RiverApplied)
	}
	if err := dbsql.CheckCurrent(ctx, pool); err != nil {
		t.Fatalf("CheckCurrent after migrate: %v", err)
	}
}

func TestMigrateFromEmptyConcurrently(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()

	// Wipe everything to get an empty database, then race two migrators.
	if _, err := pool.Exec(ctx, `DROP SCHEMA public CASCADE; CREATE SCHEMA public;`); err != nil {
		t.Fatal(err)
	}
	if err := dbsql.CheckCurrent(ctx, pool); !errors.Is(err, dbsql.ErrPending) {
		t.Fatalf("CheckCurrent on empty database = %v, want ErrPending", err)
	}
	var wg sync.WaitGroup
	results := make([]dbsql.Result, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { results[i], errs[i] = dbsql.Migrate(ctx, pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
	}
	// Exactly one of them did the work.
	if (len(results[0].Applied) == 0) == (len(results[1].Applied) == 0) {
		t.Fatalf("applied by both or neither: %v / %v", results[0].Applied, results[1].Applied)
	}
	if err := dbsql.CheckCurrent(ctx, pool); err != nil {
		t.Fatalf("CheckCurrent: %v", err)
	}
}

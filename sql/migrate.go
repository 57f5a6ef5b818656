package sql

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// ErrPending is returned by CheckCurrent when the service's or River's schema
// is behind this binary.
var ErrPending = errors.New("database migrations are pending: run `creditjambo migrate`")

// migrateLockKey is the session-level advisory lock that serialises Migrate
// across processes, so two `creditjambo migrate` runs at once are safe: the
// second waits and then finds nothing to do.
const migrateLockKey int64 = 0x43524a4d49475254 // "CRJMIGRT"

// Result says what Migrate applied.
type Result struct {
	Applied      []string // the service's migration files applied now
	RiverApplied []int    // River's migration versions applied now
}

// Migrate applies the service's embedded migrations (goose, one transaction
// per file), then River's own migrations, which cannot run inside a goose
// transaction. It holds an advisory lock for the whole run.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (Result, error) {
	var res Result
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return res, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx is done.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
	}()

	provider, db, err := newProvider(pool)
	if err != nil {
		return res, err
	}
	defer db.Close()
	results, err := provider.Up(ctx)
	if err != nil {
		return res, fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		res.Applied = append(res.Applied, r.Source.Path)
	}

	migrator, err := riverMigrator(pool)
	if err != nil {
		return res, err
	}
	rres, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return res, fmt.Errorf("migrate river: %w", err)
	}
	for _, v := range rres.Versions {
		res.RiverApplied = append(res.RiverApplied, v.Version)
	}
	return res, nil
}

// CheckCurrent returns ErrPending (wrapped) when any migration of the service
// or of River is not yet applied, and nil when the schema is current.
func CheckCurrent(ctx context.Context, pool *pgxpool.Pool) error {
	provider, db, err := newProvider(pool)
	if err != nil {
		return err
	}
	defer db.Close()
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending {
		return ErrPending
	}
	migrator, err := riverMigrator(pool)
	if err != nil {
		return err
	}
	existing, err := migrator.ExistingVersions(ctx)
	if err != nil {
		return fmt.Errorf("check river migrations: %w", err)
	}
	if len(existing) < len(migrator.AllVersions()) {
		return fmt.Errorf("river schema at %d of %d versions: %w", len(existing), len(migrator.AllVersions()), ErrPending)
	}
	return nil
}

// Fingerprint is a hash of every migration this binary carries, the
// service's and River's. Test helpers use it to know when a migrated template
// database is stale.
func Fingerprint() string {
	h := sha256.New()
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	sort.Strings(names)
	for _, name := range names {
		b, _ := migrationFS.ReadFile(name)
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	if m, err := rivermigrate.New(riverpgxv5.New(nil), nil); err == nil {
		for _, v := range m.AllVersions() {
			fmt.Fprintf(h, "river\x00%d\x00%s\x00", v.Version, v.SQLUp)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newProvider(pool *pgxpool.Pool) (*goose.Provider, interface{ Close() error }, error) {
	sub, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrations: %w", err)
	}
	return p, db, nil
}

func riverMigrator(pool *pgxpool.Pool) (*rivermigrate.Migrator[pgx.Tx], error) {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, fmt.Errorf("river migrator: %w", err)
	}
	return m, nil
}

// Package sqltest gives each test a real PostgreSQL database, cloned from a
// template that carries every migration of the service and of River, and
// dropped when the test ends (kept for inspection when it fails).
//
// The server comes from TEST_DATABASE_URL (`make test` sets it: see the
// Makefile), or postgres://postgres@127.0.0.1:5432/postgres when unset.
package sqltest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver pgtestdb uses
	"github.com/peterldowns/pgtestdb"

	dbsql "github.com/creditjambo/creditjambo/sql"
)

// DefaultURL is used when TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DB is one test's database.
type DB struct {
	Pool *pgxpool.Pool
	// URL connects as the unprivileged test role that owns the database, like
	// the service in production.
	URL string
	// AdminURL connects to the same database as the server's superuser, for
	// tests that must do what the service cannot (disable triggers to tamper).
	AdminURL string
}

// Options tune New.
type Options struct {
	// MaxConns bounds the pool; 0 means 10.
	MaxConns int32
}

// New returns a pool to a fresh, migrated database for t.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewDB(t, Options{}).Pool
}

// NewDB is New with options, returning the database's URLs too.
func NewDB(t testing.TB, opts Options) *DB {
	t.Helper()
	base, err := serverConfig()
	if err != nil {
		t.Fatalf("sqltest: %v", err)
	}
	conf := pgtestdb.Custom(t, base, migrator{})

	poolConf, err := pgxpool.ParseConfig(conf.URL())
	if err != nil {
		t.Fatalf("sqltest: parse URL: %v", err)
	}
	poolConf.MaxConns = 10
	if opts.MaxConns > 0 {
		poolConf.MaxConns = opts.MaxConns
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, poolConf)
	if err != nil {
		t.Fatalf("sqltest: connect: %v", err)
	}
	// Registered after pgtestdb's own clean-up, so it runs first: the pool
	// is closed before the database is dropped.
	t.Cleanup(pool.Close)

	admin := base
	admin.Database = conf.Database
	return &DB{Pool: pool, URL: conf.URL(), AdminURL: admin.URL()}
}

// ServerURL is the URL of the server the tests use, as its superuser.
func ServerURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

func serverConfig() (pgtestdb.Config, error) {
	raw := ServerURL()
	u, err := url.Parse(raw)
	if err != nil {
		return pgtestdb.Config{}, fmt.Errorf("TEST_DATABASE_URL: %w", err)
	}
	conf := pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      u.Hostname(),
		Port:                      u.Port(),
		User:                      u.User.Username(),
		Database:                  strings.TrimPrefix(u.Path, "/"),
		ForceTerminateConnections: true,
	}
	conf.Password, _ = u.User.Password()
	q := u.Query()
	// A unix-socket server is named by ?host=/dir; pgx reads it from the
	// options, which then override the (empty) host of the URL.
	if h := q.Get("host"); h != "" {
		conf.Host = "localhost"
	}
	if conf.Host == "" {
		conf.Host = "127.0.0.1"
	}
	if conf.Port == "" {
		conf.Port = "5432"
		if p := q.Get("port"); p != "" {
			conf.Port = p
			q.Del("port")
		}
	}
	if conf.User == "" {
		conf.User = "postgres"
	}
	if conf.Database == "" {
		conf.Database = "postgres"
	}
	if !q.Has("sslmode") && !q.Has("host") {
		q.Set("sslmode", "disable")
	}
	conf.Options = q.Encode()
	return conf, nil
}

// migrator builds the template database with the service's own Migrate, so
// tests run on exactly the schema production gets.
type migrator struct{}

func (migrator) Hash() (string, error) { return dbsql.Fingerprint(), nil }

func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		return err
	}
	defer pool.Close()
	_, err = dbsql.Migrate(ctx, pool)
	return err
}

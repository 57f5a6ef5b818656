// Package sql holds the service's schema: numbered migration files under
// migrations/ (embedded in the binary, applied with goose) and Migrate, which
// also applies River's own migrations. Package sqltest gives each test a real,
// migrated, isolated PostgreSQL database.
package sql

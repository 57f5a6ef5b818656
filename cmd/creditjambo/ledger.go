package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/creditjambo/creditjambo/ledger"
)

// newLedger opens the ledger for the configured currency, creating its
// system accounts if they are missing.
func newLedger(ctx context.Context, cfg config, pool *pgxpool.Pool, reg prometheus.Registerer) (*ledger.Ledger, error) {
	l, err := ledger.New(ctx, pool, ledger.Options{
		Currencies: []string{cfg.Currency}, Registerer: reg, MaxInFlight: cfg.LedgerMaxInFlight,
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return l, nil
}

// errLedgerProblems makes verify-ledger exit non-zero.
type errLedgerProblems int64

func (e errLedgerProblems) Error() string {
	return fmt.Sprintf("ledger verification found %d problem(s)", int64(e))
}

// verifyLedger runs the checks of GET /api/ledger/verify/ and prints the
// report as JSON. It returns an error, so a non-zero exit status, unless the
// ledger is clean.
func verifyLedger(ctx context.Context, cfg config, pool *pgxpool.Pool, stdout io.Writer) error {
	l, err := newLedger(ctx, cfg, pool, nil)
	if err != nil {
		return err
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return err
	}
	if !rep.OK {
		return errLedgerProblems(rep.ProblemCount)
	}
	return nil
}

package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/ledger"
)

// Periodic ledger work: the sealer chains committed entries into the hash
// chain within seconds (API.md promises exports show hashes "within
// seconds"), and a verifier re-checks the whole ledger every so often and
// exposes the result to Prometheus, so a tampered row pages someone.
const (
	SealInterval   = 2 * time.Second
	VerifyInterval = time.Hour
)

// SealArgs is the periodic job that seals newly committed entries.
type SealArgs struct{}

// Kind is River's name for seal jobs.
func (SealArgs) Kind() string { return "ledger_seal" }

// InsertOpts makes a seal job run once: a missed round is caught up by the
// next, so retrying would only pile up work. Two rounds at once are harmless:
// Seal lets one sealer work at a time.
func (SealArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// SealWorker runs ledger.Seal until nothing is left to seal.
type SealWorker struct {
	river.WorkerDefaults[SealArgs]
	ledger *ledger.Ledger
	log    *slog.Logger
}

// Timeout bounds one round of sealing.
func (w *SealWorker) Timeout(*river.Job[SealArgs]) time.Duration { return 20 * time.Second }

// Work seals in batches until a round seals nothing. A long-open transaction
// elsewhere makes Seal give up waiting (ErrSealWait): that is no failure,
// the next round catches up.
func (w *SealWorker) Work(ctx context.Context, _ *river.Job[SealArgs]) error {
	for {
		n, err := w.ledger.Seal(ctx)
		if errors.Is(err, ledger.ErrSealWait) {
			w.log.InfoContext(ctx, "ledger seal waiting for an open transaction; next round catches up")
			return nil
		}
		if err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}

// VerifyArgs is the periodic job that verifies the whole ledger.
type VerifyArgs struct{}

// Kind is River's name for verify jobs.
func (VerifyArgs) Kind() string { return "ledger_verify" }

// InsertOpts runs a verification once per schedule; a failed read is
// retried a few times.
func (VerifyArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 3} }

// VerifyWorker runs ledger.Verify and publishes the outcome.
type VerifyWorker struct {
	river.WorkerDefaults[VerifyArgs]
	ledger   *ledger.Ledger
	log      *slog.Logger
	ok       prometheus.Gauge
	problems prometheus.Gauge
	checked  prometheus.Gauge
	last     prometheus.Gauge
}

// Timeout allows a long verification of a large ledger.
func (w *VerifyWorker) Timeout(*river.Job[VerifyArgs]) time.Duration { return 30 * time.Minute }

// Work verifies and records the result; problems are logged one by one and
// never repaired.
func (w *VerifyWorker) Work(ctx context.Context, _ *river.Job[VerifyArgs]) error {
	rep, err := w.ledger.Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if rep.OK {
		w.ok.Set(1)
	} else {
		w.ok.Set(0)
	}
	w.problems.Set(float64(rep.ProblemCount))
	w.checked.Set(float64(rep.CheckedEntries))
	w.last.SetToCurrentTime()
	for _, p := range rep.Problems {
		w.log.ErrorContext(ctx, "ledger verification problem", "kind", p.Kind, "entry_id", p.EntryID, "account_id", p.AccountID, "detail", p.Detail)
	}
	if !rep.OK {
		w.log.ErrorContext(ctx, "ledger verification failed", "problems", rep.ProblemCount, "checked_entries", rep.CheckedEntries)
	}
	return nil
}

func newVerifyWorker(l *ledger.Ledger, log *slog.Logger, reg prometheus.Registerer) *VerifyWorker {
	w := &VerifyWorker{
		ledger:   l,
		log:      log,
		ok:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_ok", Help: "1 when the last ledger verification found no problem, else 0."}),
		problems: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_problems", Help: "Problems found by the last ledger verification."}),
		checked:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_checked_entries", Help: "Entries checked by the last ledger verification."}),
		last:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "ledger_verify_last_run_timestamp_seconds", Help: "When the last ledger verification finished."}),
	}
	if reg != nil {
		reg.MustRegister(w.ok, w.problems, w.checked, w.last)
	}
	return w
}

// PeriodicJobs are the service's periodic jobs, for river.Config.PeriodicJobs
// of a client that works jobs.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(SealInterval), func() (river.JobArgs, *river.InsertOpts) {
			return SealArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "ledger_seal", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(VerifyInterval), func() (river.JobArgs, *river.InsertOpts) {
			return VerifyArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "ledger_verify", RunOnStart: true}),
	}
}

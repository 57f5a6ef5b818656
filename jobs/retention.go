package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/ledger"
)

// Clean-up: read notifications are deleted once older than the retention
// (NOTIFICATION_RETENTION), and auth's expired codes, reset tokens and
// refresh tokens are purged, each by a periodic job. Deletions run in
// batches of CleanupBatchSize rows, each its own short transaction, so a
// large backlog never holds locks or a snapshot for long.
const (
	DefaultNotificationRetention = 180 * 24 * time.Hour
	CleanupBatchSize             = 1000
	CleanupInterval              = time.Hour
	// CleanupJobTimeout bounds one clean-up; what is left waits for the
	// next round.
	CleanupJobTimeout = 10 * time.Minute
)

// RetentionArgs is the periodic job that deletes old read notifications.
type RetentionArgs struct{}

// Kind is River's name for notification retention jobs.
func (RetentionArgs) Kind() string { return "notification_retention" }

// InsertOpts runs a round once: the next round catches up.
func (RetentionArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// RetentionWorker deletes read notifications created more than its
// retention ago. Unread notifications are kept however old.
type RetentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	pool      *pgxpool.Pool
	log       *slog.Logger
	now       func() time.Time
	retention time.Duration
	batch     int
}

// NewRetentionWorker returns the retention worker with d's
// NotificationRetention (DefaultNotificationRetention when zero), or an
// error if d lacks a Pool or the retention is negative.
func NewRetentionWorker(d Deps) (*RetentionWorker, error) {
	if d.Pool == nil {
		return nil, errors.New("jobs: the retention worker needs a Pool")
	}
	if d.NotificationRetention < 0 {
		return nil, fmt.Errorf("jobs: negative notification retention %s", d.NotificationRetention)
	}
	if d.NotificationRetention == 0 {
		d.NotificationRetention = DefaultNotificationRetention
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &RetentionWorker{pool: d.Pool, log: d.Logger, now: d.Now, retention: d.NotificationRetention, batch: CleanupBatchSize}, nil
}

// Timeout bounds one round at CleanupJobTimeout.
func (w *RetentionWorker) Timeout(*river.Job[RetentionArgs]) time.Duration { return CleanupJobTimeout }

// Work deletes batch after batch until a batch comes back short.
func (w *RetentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	n, err := w.deleteOld(ctx)
	if n > 0 {
		w.log.InfoContext(ctx, "old read notifications deleted", slog.Int64("deleted", n))
	}
	return err
}

// deleteOld deletes the read notifications created before now - retention
// and returns how many went.
func (w *RetentionWorker) deleteOld(ctx context.Context) (int64, error) {
	cutoff := w.now().Add(-w.retention)
	var total int64
	for {
		tag, err := w.pool.Exec(ctx, `
			DELETE FROM notifications WHERE id IN (
				SELECT id FROM notifications
				WHERE read_at IS NOT NULL AND created_at < $1
				ORDER BY created_at LIMIT $2
			)`, cutoff, w.batch)
		if err != nil {
			return total, fmt.Errorf("notification retention: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(w.batch) {
			return total, nil
		}
	}
}

// PurgeArgs is the periodic job that purges auth's expired secrets.
type PurgeArgs struct{}

// Kind is River's name for auth purge jobs.
func (PurgeArgs) Kind() string { return "auth_purge_expired" }

// InsertOpts runs a round once: the next round catches up.
func (PurgeArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// PurgeWorker calls Deps.PurgeAuthFunc (auth.(*Service).PurgeExpired).
type PurgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	purge func(context.Context) (int64, error)
	log   *slog.Logger
}

// Timeout bounds one round at CleanupJobTimeout.
func (w *PurgeWorker) Timeout(*river.Job[PurgeArgs]) time.Duration { return CleanupJobTimeout }

// Work purges once.
func (w *PurgeWorker) Work(ctx context.Context, _ *river.Job[PurgeArgs]) error {
	n, err := w.purge(ctx)
	if err != nil {
		return fmt.Errorf("auth purge: %w", err)
	}
	if n > 0 {
		w.log.InfoContext(ctx, "expired auth records purged", slog.Int64("deleted", n))
	}
	return nil
}

// DayTotalsArgs is the periodic job that purges old daily-limit totals.
type DayTotalsArgs struct{}

// Kind is River's name for day-totals purge jobs.
func (DayTotalsArgs) Kind() string { return "ledger_day_totals_purge" }

// InsertOpts runs a round once: the next round catches up.
func (DayTotalsArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// dayTotalsKeep is how many days of daily-limit totals are kept: the
// current day is the only one read, and two more cover any time zone.
const dayTotalsKeep = 3 * 24 * time.Hour

// DayTotalsWorker deletes the daily-limit totals of days long past.
type DayTotalsWorker struct {
	river.WorkerDefaults[DayTotalsArgs]
	ledger *ledger.Ledger
	log    *slog.Logger
	now    func() time.Time
}

// Timeout bounds one round at CleanupJobTimeout.
func (w *DayTotalsWorker) Timeout(*river.Job[DayTotalsArgs]) time.Duration { return CleanupJobTimeout }

// Work purges once.
func (w *DayTotalsWorker) Work(ctx context.Context, _ *river.Job[DayTotalsArgs]) error {
	n, err := w.ledger.PurgeDayTotals(ctx, w.now().UTC().Add(-dayTotalsKeep), CleanupBatchSize)
	if n > 0 {
		w.log.InfoContext(ctx, "old daily-limit totals deleted", slog.Int64("deleted", n))
	}
	return err
}

// CleanupPeriodicJobs are the clean-up jobs for river.Config.PeriodicJobs of
// a client whose workers were added by AddWorkers with the same d: the
// notification retention, and the auth purge when d.PurgeAuthFunc is set.
func CleanupPeriodicJobs(d Deps) []*river.PeriodicJob {
	out := []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(CleanupInterval), func() (river.JobArgs, *river.InsertOpts) {
			return RetentionArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "notification_retention", RunOnStart: true}),
	}
	if d.Ledger != nil {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(CleanupInterval), func() (river.JobArgs, *river.InsertOpts) {
			return DayTotalsArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "ledger_day_totals_purge", RunOnStart: true}))
	}
	if d.PurgeAuthFunc != nil {
		out = append(out, river.NewPeriodicJob(river.PeriodicInterval(CleanupInterval), func() (river.JobArgs, *river.InsertOpts) {
			return PurgeArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "auth_purge_expired", RunOnStart: true}))
	}
	return out
}

// addNotificationWorkers registers the announcement fan-out, the retention
// and (with d.PurgeAuthFunc) the auth purge workers.
func addNotificationWorkers(workers *river.Workers, d Deps) error {
	announce, err := NewAnnounceWorker(d)
	if err != nil {
		return err
	}
	retention, err := NewRetentionWorker(d)
	if err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, announce); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if err := river.AddWorkerSafely(workers, retention); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if d.Ledger != nil {
		now := d.Now
		if now == nil {
			now = time.Now
		}
		if err := river.AddWorkerSafely(workers, &DayTotalsWorker{ledger: d.Ledger, log: log, now: now}); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
	}
	if d.PurgeAuthFunc != nil {
		if err := river.AddWorkerSafely(workers, &PurgeWorker{purge: d.PurgeAuthFunc, log: log}); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
	}
	return nil
}

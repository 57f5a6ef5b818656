package jobs

import (
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"
)

// AddWorkers registers every worker of the service with workers. It returns
// an error if d lacks a dependency or a worker is already registered.
func AddWorkers(workers *river.Workers, d Deps) error {
	email, err := NewEmailWorker(d)
	if err != nil {
		return err
	}
	if err := river.AddWorkerSafely(workers, email); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if d.Ledger != nil {
		log := d.Logger
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		if err := river.AddWorkerSafely(workers, &SealWorker{ledger: d.Ledger, log: log}); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		if err := river.AddWorkerSafely(workers, newVerifyWorker(d.Ledger, log, d.Registerer)); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
	}
	return addNotificationWorkers(workers, d)
}

// Queues returns the queues the workers use, with their concurrency, for
// river.Config.Queues of a client that works jobs.
func Queues() map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		river.QueueDefault: {MaxWorkers: 10},
		QueueEmail:         {MaxWorkers: 10},
	}
}

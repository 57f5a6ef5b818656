package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/templates"
)

// Announcements: an admin's message to one user or to every active user,
// delivered by a River job in batches of AnnounceBatchSize users taken in id
// order. Each batch is its own short transaction that writes the batch's
// notifications, their email jobs and the announcement's progress together,
// so a retried or rescued job resumes after the last committed batch, and
// memory and transaction length do not grow with the number of users.
//
// Each recipient gets an announcement exactly once: the notifications carry
// DedupKey "announcement:<id>", so a batch delivered twice (two jobs for one
// announcement, or a retry) writes nothing the second time, and an email job
// is inserted only for a notification actually written (RETURNING).
const (
	AnnounceBatchSize = 1000
	// AnnounceJobTimeout bounds one attempt of a fan-out; a longer one is
	// rescued and resumes where it stopped.
	AnnounceJobTimeout = 10 * time.Minute
)

// NewAnnouncement is an admin's announcement, already validated at the
// edge: Title of 1-200 characters on one line, Message of 1-5000.
type NewAnnouncement struct {
	CreatedBy int64 // the admin
	Title     string
	Message   string
	UserID    int64 // the one recipient; 0 for every active user
	SendEmail bool  // also email each recipient
}

// Announcement is an announcement accepted for delivery.
type Announcement struct {
	ID int64
	// Recipients is how many users it was addressed to when it was
	// created: 1, or the active users then.
	Recipients int64
}

// Announce stores a and its fan-out job in one transaction and returns at
// once; the job delivers it. It returns ErrNoRecipient when a.UserID is not
// an active user.
func (in *Inbox) Announce(ctx context.Context, a NewAnnouncement) (Announcement, error) {
	var out Announcement
	err := pgx.BeginFunc(ctx, in.pool, func(tx pgx.Tx) error {
		var err error
		out, err = in.AnnounceTx(ctx, tx, a)
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNoRecipient) {
			return Announcement{}, err
		}
		return Announcement{}, fmt.Errorf("announce: %w", err)
	}
	return out, nil
}

// AnnounceTx is Announce in the caller's transaction (with the audit record
// of the announcement, say): the announcement and its fan-out job exist if
// and only if tx commits.
func (in *Inbox) AnnounceTx(ctx context.Context, tx pgx.Tx, a NewAnnouncement) (Announcement, error) {
	if in.river == nil {
		return Announcement{}, errors.New("jobs: announcements need a River client")
	}
	var out Announcement
	var userID *int64
	if a.UserID != 0 {
		var active bool
		err := tx.QueryRow(ctx, `SELECT is_active AND deleted_at IS NULL FROM users WHERE id = $1`, a.UserID).Scan(&active)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !active) {
			return Announcement{}, fmt.Errorf("announce to user %d: %w", a.UserID, ErrNoRecipient)
		}
		if err != nil {
			return Announcement{}, err
		}
		userID, out.Recipients = &a.UserID, 1
	} else if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE is_active AND deleted_at IS NULL`).Scan(&out.Recipients); err != nil {
		return Announcement{}, err
	}
	err := tx.QueryRow(ctx, `
		INSERT INTO announcements (created_by, created_at, title, message, user_id, send_email, recipients)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING id`, a.CreatedBy, in.now(), a.Title, a.Message, userID, a.SendEmail, out.Recipients).Scan(&out.ID)
	if err != nil {
		return Announcement{}, err
	}
	if _, err := in.river.InsertTx(ctx, tx, AnnounceArgs{AnnouncementID: out.ID}, nil); err != nil {
		return Announcement{}, err
	}
	return out, nil
}

// AnnounceArgs is the fan-out job of one announcement.
type AnnounceArgs struct {
	AnnouncementID int64 `json:"announcement_id"`
}

// Kind is River's name for announcement fan-out jobs.
func (AnnounceArgs) Kind() string { return "announcement_fanout" }

// AnnounceWorker delivers announcements (see AnnounceBatchSize).
type AnnounceWorker struct {
	river.WorkerDefaults[AnnounceArgs]
	pool  *pgxpool.Pool
	log   *slog.Logger
	now   func() time.Time
	batch int
}

// NewAnnounceWorker returns the fan-out worker, or an error if d lacks a
// Pool.
func NewAnnounceWorker(d Deps) (*AnnounceWorker, error) {
	if d.Pool == nil {
		return nil, errors.New("jobs: the announcement worker needs a Pool")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &AnnounceWorker{pool: d.Pool, log: d.Logger, now: d.Now, batch: AnnounceBatchSize}, nil
}

// Timeout bounds one attempt at AnnounceJobTimeout.
func (w *AnnounceWorker) Timeout(*river.Job[AnnounceArgs]) time.Duration { return AnnounceJobTimeout }

// Work delivers the announcement batch after batch until it is complete. A
// missing announcement cancels the job; any other failure is retried, and
// the retry resumes after the last committed batch.
func (w *AnnounceWorker) Work(ctx context.Context, job *river.Job[AnnounceArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	for {
		done, err := w.deliverBatch(ctx, client, job.Args.AnnouncementID)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// recipient is one user of a batch; inserted says the notification was
// written now (not already there).
type recipient struct {
	id                                 int64
	email, language, firstName, handle string
	inserted                           bool
}

// The next batch of recipients after $2, with the notification written to
// each who does not hold it yet. The CTEs share one snapshot: batch is read
// once, and ins reports which of its rows it wrote.
const (
	fanoutAll = `
		WITH batch AS (
			SELECT id, email, language, first_name, username FROM users
			WHERE id > $2 AND is_active AND deleted_at IS NULL
			ORDER BY id LIMIT $3
		),`
	fanoutOne = `
		WITH batch AS (
			SELECT id, email, language, first_name, username FROM users
			WHERE id > $2 AND id = $7 AND is_active AND deleted_at IS NULL
			LIMIT $3
		),`
	fanoutInsert = `
		ins AS (
			INSERT INTO notifications (recipient_id, notif_type, title, message, meta, dedup_key)
			SELECT id, 'ANNOUNCEMENT', $4, $5, jsonb_build_object('announcement_id', $1::bigint), $6 FROM batch
			ORDER BY id
			ON CONFLICT (recipient_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
			RETURNING recipient_id
		)
		SELECT b.id, b.email, b.language, b.first_name, b.username, ins.recipient_id IS NOT NULL
		FROM batch b LEFT JOIN ins ON ins.recipient_id = b.id
		ORDER BY b.id`
)

// deliverBatch delivers the next batch of announcement id in one
// transaction, holding the announcement's row lock so that two jobs for it
// take turns. It reports whether the announcement is now complete.
func (w *AnnounceWorker) deliverBatch(ctx context.Context, client *river.Client[pgx.Tx], id int64) (bool, error) {
	var done, finished bool
	err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		var (
			title, message string
			userID         *int64
			sendEmail      bool
			last           int64
			completed      *time.Time
		)
		err := tx.QueryRow(ctx, `
			SELECT title, message, user_id, send_email, last_user_id, completed_at
			FROM announcements WHERE id = $1 FOR UPDATE`, id).Scan(&title, &message, &userID, &sendEmail, &last, &completed)
		if errors.Is(err, pgx.ErrNoRows) {
			return river.JobCancel(fmt.Errorf("announcement %d does not exist", id))
		}
		if err != nil {
			return err
		}
		if completed != nil {
			done = true
			return nil
		}
		q, args := fanoutAll+fanoutInsert, []any{id, last, w.batch, title, message, "announcement:" + strconv.FormatInt(id, 10)}
		if userID != nil {
			q, args = fanoutOne+fanoutInsert, append(args, *userID)
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (recipient, error) {
			var p recipient
			err := r.Scan(&p.id, &p.email, &p.language, &p.firstName, &p.handle, &p.inserted)
			return p, err
		})
		if err != nil {
			return err
		}
		var delivered int
		var emails []river.InsertManyParams
		for _, p := range batch {
			last = max(last, p.id)
			if !p.inserted {
				continue
			}
			delivered++
			if sendEmail {
				name := p.firstName
				if name == "" {
					name = p.handle
				}
				emails = append(emails, river.InsertManyParams{Args: EmailArgs{
					Template: templates.Announcement, Language: p.language, To: p.email, ToName: name,
					Data: map[string]any{"Title": title, "Message": message},
				}})
			}
		}
		if len(emails) > 0 {
			if _, err := client.InsertManyTx(ctx, tx, emails); err != nil {
				return fmt.Errorf("insert announcement emails: %w", err)
			}
		}
		done = len(batch) < w.batch
		finished = done
		var completedAt *time.Time
		if done {
			now := w.now()
			completedAt = &now
		}
		_, err = tx.Exec(ctx, `
			UPDATE announcements
			SET last_user_id = $2, delivered = delivered + $3, emailed = emailed + $4, completed_at = $5
			WHERE id = $1`, id, last, delivered, len(emails), completedAt)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("announcement %d: %w", id, err)
	}
	if finished {
		w.log.InfoContext(ctx, "announcement delivered", slog.Int64("announcement_id", id))
	}
	return done, nil
}

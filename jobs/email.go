package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	netmail "net/mail"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/templates"
)

// QueueEmail is the River queue of email jobs, so that a backlog of emails
// never delays other work (and the other way round).
const QueueEmail = "email"

// EmailMaxAttempts is how many times an email job runs before River gives up
// on it. With River's default backoff (attempt⁴ seconds) the last attempt
// comes about a day after the first, long enough to outlast an SMTP outage.
const EmailMaxAttempts = 12

// Time bounds of email jobs and the River client settings they imply.
//
// API.md promises that emails whose worker died with its process are sent
// within 60 seconds of the next start. River's rescuer runs at start and then
// every 30 s, and retries a running job once it has run for
// RescueStuckJobsAfter (or its kind's own Timeout, if longer). So a job
// whose process died just before the restart is retried at worst
// RescueStuckJobsAfter + 30 s + leader election (a few seconds) + its
// backoff (1 s for a first attempt) after the start: with 25 s, under a
// minute. River's default (an hour) would leave such an email stuck for an
// hour; 60 s would give up to about 95 s.
//
// A job must not still be running when it is rescued, or it would be sent
// twice: an email job is bounded by EmailJobTimeout (River cancels its
// context then), which covers SMTPSendTimeout plus the email_log write.
const (
	// EmailJobTimeout bounds one attempt of an email job: rendering,
	// SMTPSendTimeout (15 s) and the email_log write (bounded at 5 s).
	EmailJobTimeout = 20 * time.Second

	// RescueStuckJobsAfter is the value to give river.Config.RescueStuckJobsAfter.
	RescueStuckJobsAfter = 25 * time.Second

	// ClientJobTimeout is the value to give river.Config.JobTimeout: River
	// refuses a RescueStuckJobsAfter below JobTimeout (default one minute).
	// It applies to workers that do not declare their own Timeout; a worker
	// that needs longer declares it, and the rescuer waits for it.
	ClientJobTimeout = RescueStuckJobsAfter
)

// logWriteTimeout bounds the email_log write after a delivery attempt.
const logWriteTimeout = 5 * time.Second

// EmailArgs is an email job: which email, in which language, to whom, with
// what data.
//
// Data travels in clear in river_job.args: it must hold no secret. Secrets
// (an OTP code) go in Sealed, made by Sealer.Seal, and are merged over Data
// only when the email is rendered. Data values should be JSON-friendly:
// amounts as decimal strings, times as time.Time (stored as RFC 3339);
// numbers come back as json.Number, keeping their digits.
type EmailArgs struct {
	Template string         `json:"template"`          // a templates name, e.g. templates.DepositReceipt
	Language string         `json:"language"`          // "en" or "rw"; another is sent in English, with a warning logged
	To       string         `json:"to"`                // the recipient's address
	ToName   string         `json:"to_name,omitempty"` // display name; also the greeting's Name when Data has none
	Data     map[string]any `json:"data,omitempty"`    // the template's data, no secrets
	Sealed   string         `json:"sealed,omitempty"`  // Sealer.Seal of the secret part of the data
}

// Kind is River's name for email jobs.
func (EmailArgs) Kind() string { return "email" }

// InsertOpts puts email jobs on QueueEmail with EmailMaxAttempts.
func (EmailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEmail, MaxAttempts: EmailMaxAttempts}
}

// UnmarshalJSON decodes numbers in Data as json.Number, so that an amount
// given as a number keeps its exact digits instead of becoming a float.
func (a *EmailArgs) UnmarshalJSON(b []byte) error {
	type plain EmailArgs // no methods: no recursion
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*a = EmailArgs(p)
	return nil
}

// The statuses of an email_log row.
const (
	StatusSent     = "sent"     // accepted by the SMTP server
	StatusLogged   = "logged"   // written by a sender that does not deliver (console)
	StatusRetrying = "retrying" // a transient failure; River will try again
	StatusFailed   = "failed"   // a permanent failure, or the last attempt failed
)

// Deps are what the workers need. Renderer, Sender, Pool are required.
type Deps struct {
	Renderer *templates.Renderer
	Sender   Sender
	// Sealer opens EmailArgs.Sealed. Without one, a job carrying sealed data
	// fails permanently.
	Sealer *Sealer
	Pool   *pgxpool.Pool
	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil means time.Now
	// MessageIDDomain is the right-hand side of Message-IDs, e.g. the domain
	// of DEFAULT_FROM_EMAIL; empty means "creditjambo".
	MessageIDDomain string
	// Ledger, when set, adds the periodic ledger workers (seal, verify).
	Ledger *ledger.Ledger
	// Registerer receives the workers' metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// NotificationRetention is how long read notifications are kept;
	// zero means DefaultNotificationRetention.
	NotificationRetention time.Duration
	// PurgeAuthFunc, when set, is run by a periodic clean-up job
	// (auth.(*Service).PurgeExpired).
	PurgeAuthFunc func(context.Context) (int64, error)
}

func (d Deps) withDefaults() (Deps, error) {
	if d.Renderer == nil || d.Sender == nil || d.Pool == nil {
		return d, errors.New("jobs: Deps needs a Renderer, a Sender and a Pool")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.MessageIDDomain == "" {
		d.MessageIDDomain = "creditjambo"
	}
	return d, nil
}

// EmailWorker renders and sends email jobs and records each attempt in
// email_log.
type EmailWorker struct {
	river.WorkerDefaults[EmailArgs]
	d Deps
}

// NewEmailWorker returns the email worker, or an error if d lacks a required
// dependency.
func NewEmailWorker(d Deps) (*EmailWorker, error) {
	d, err := d.withDefaults()
	if err != nil {
		return nil, err
	}
	return &EmailWorker{d: d}, nil
}

// Timeout bounds each attempt at EmailJobTimeout.
func (w *EmailWorker) Timeout(*river.Job[EmailArgs]) time.Duration { return EmailJobTimeout }

// MessageID is the Message-ID (without angle brackets) of the email of the
// job with this id and creation time: the same for every attempt of the job,
// and different across jobs even if a database is recreated and ids repeat.
func MessageID(jobID int64, createdAt time.Time, domain string) string {
	return fmt.Sprintf("email-%d.%d@%s", jobID, createdAt.Unix(), domain)
}

// Work renders and sends one email. A render failure (unknown email, missing
// data, sealed data that does not open) and a permanent SMTP failure cancel
// the job; any other failure is returned for River to retry with backoff.
// Each attempt's outcome is written to email_log; after a successful send a
// failure to write it is only logged, since retrying would send again.
func (w *EmailWorker) Work(ctx context.Context, job *river.Job[EmailArgs]) error {
	a := job.Args
	rec := logRecord{
		JobID:     job.ID,
		Recipient: a.To,
		Template:  a.Template,
		Language:  a.Language,
		MessageID: MessageID(job.ID, job.CreatedAt, w.d.MessageIDDomain),
		Attempts:  job.Attempt,
	}
	log := w.d.Logger.With(
		slog.Int64("job_id", job.ID), slog.Int("attempt", job.Attempt),
		slog.String("template", a.Template), slog.String("to", a.To),
	)

	// A later attempt first asks email_log whether an earlier one already
	// delivered: River marks jobs complete asynchronously, in batches, so a
	// process killed just after a delivery leaves a job that the rescuer runs
	// again although its email went out and was recorded. Only a crash
	// between the SMTP server's acceptance and that record still repeats an
	// email, under the same Message-ID.
	if job.Attempt > 1 {
		sent, err := w.alreadySent(ctx, job.ID)
		if err != nil {
			return fmt.Errorf("email_log: %w", err)
		}
		if sent {
			log.InfoContext(ctx, "email already delivered by an earlier attempt; not sending again", slog.String("message_id", rec.MessageID))
			return nil
		}
	}

	out, err := w.render(ctx, log, a)
	if err != nil {
		rec.Status, rec.Error = StatusFailed, err.Error()
		log.ErrorContext(ctx, "email cannot be rendered; giving up", slog.String("error", err.Error()))
		w.record(ctx, log, rec)
		return river.JobCancel(err)
	}
	out.MessageID = rec.MessageID
	out.Date = w.d.Now()
	rec.Subject, rec.Language = out.Subject, out.Language

	err = w.d.Sender.Send(ctx, out)
	switch {
	case err == nil:
		now := w.d.Now()
		rec.Status, rec.SentAt = StatusSent, &now
		if lo, ok := w.d.Sender.(interface{ LogsOnly() bool }); ok && lo.LogsOnly() {
			rec.Status = StatusLogged
		}
		log.InfoContext(ctx, "email sent", slog.String("message_id", rec.MessageID), slog.String("status", rec.Status))
		w.record(ctx, log, rec)
		return nil

	case IsPermanent(err):
		rec.Status, rec.Error = StatusFailed, err.Error()
		log.ErrorContext(ctx, "email refused permanently", slog.String("error", err.Error()))
		w.record(ctx, log, rec)
		return river.JobCancel(err)

	default:
		rec.Status, rec.Error = StatusRetrying, err.Error()
		if job.Attempt >= job.MaxAttempts {
			rec.Status = StatusFailed
		}
		log.WarnContext(ctx, "email not sent; will retry", slog.String("error", err.Error()), slog.String("status", rec.Status))
		w.record(ctx, log, rec)
		return err
	}
}

// render merges the job's data with its opened secrets and renders it,
// falling back to English (with a warning) for a language the emails are not
// written in: the recipient is better served by an English email than none.
func (w *EmailWorker) render(ctx context.Context, log *slog.Logger, a EmailArgs) (OutgoingEmail, error) {
	if _, err := netmail.ParseAddress(a.To); err != nil {
		return OutgoingEmail{}, fmt.Errorf("recipient %q: %w", a.To, err)
	}
	data := make(map[string]any, len(a.Data)+4)
	maps.Copy(data, a.Data)
	if _, ok := data["Name"]; !ok && a.ToName != "" {
		data["Name"] = a.ToName
	}
	if a.Sealed != "" {
		if w.d.Sealer == nil {
			return OutgoingEmail{}, errors.New("job carries sealed data but the worker has no Sealer")
		}
		secret, err := w.d.Sealer.Open(a.Sealed)
		if err != nil {
			return OutgoingEmail{}, err
		}
		maps.Copy(data, secret)
	}

	lang := a.Language
	msg, err := w.d.Renderer.Render(a.Template, lang, data)
	if errors.Is(err, templates.ErrUnknownLanguage) {
		log.WarnContext(ctx, "email language unknown; sending in English", slog.String("language", lang))
		lang = "en"
		msg, err = w.d.Renderer.Render(a.Template, lang, data)
	}
	if err != nil {
		return OutgoingEmail{}, err
	}
	return OutgoingEmail{
		To: a.To, ToName: a.ToName,
		Subject: msg.Subject, HTML: msg.HTML, Text: msg.Text,
		Template: a.Template, Language: lang,
	}, nil
}

// alreadySent reports whether email_log records the job's email as
// delivered (or logged, for a sender that does not deliver).
func (w *EmailWorker) alreadySent(ctx context.Context, jobID int64) (bool, error) {
	var sent bool
	err := w.d.Pool.QueryRow(ctx, `SELECT status IN ('sent', 'logged') FROM email_log WHERE job_id = $1`, jobID).Scan(&sent)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return sent, err
}

// logRecord is one attempt's row in email_log.
type logRecord struct {
	JobID                                  int64
	Recipient, Template, Language, Subject string
	MessageID, Status, Error               string
	Attempts                               int
	SentAt                                 *time.Time
}

// upsertEmailLog writes an attempt's outcome, keyed by job. An older attempt
// never overwrites a newer one; sent_at, once set, stays.
const upsertEmailLog = `
INSERT INTO email_log (job_id, recipient, template, language, subject, message_id,
                       status, attempts, error, created_at, updated_at, sent_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULLIF($9, ''), $10, $10, $11)
ON CONFLICT (job_id) DO UPDATE SET
    recipient  = EXCLUDED.recipient,
    template   = EXCLUDED.template,
    language   = EXCLUDED.language,
    subject    = COALESCE(NULLIF(EXCLUDED.subject, ''), email_log.subject),
    message_id = EXCLUDED.message_id,
    status     = EXCLUDED.status,
    attempts   = EXCLUDED.attempts,
    error      = EXCLUDED.error,
    updated_at = EXCLUDED.updated_at,
    sent_at    = COALESCE(email_log.sent_at, EXCLUDED.sent_at)
WHERE email_log.attempts <= EXCLUDED.attempts`

// maxLoggedError bounds the error text kept in email_log.
const maxLoggedError = 2000

// record writes rec to email_log, even when the job's context is done, and
// logs a failure to do so: the outcome of the delivery stands regardless.
func (w *EmailWorker) record(ctx context.Context, log *slog.Logger, rec logRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logWriteTimeout)
	defer cancel()
	if r := []rune(rec.Error); len(r) > maxLoggedError {
		rec.Error = string(r[:maxLoggedError]) + "…"
	}
	_, err := w.d.Pool.Exec(ctx, upsertEmailLog,
		rec.JobID, rec.Recipient, rec.Template, rec.Language, rec.Subject, rec.MessageID,
		rec.Status, rec.Attempts, rec.Error, w.d.Now(), rec.SentAt)
	if err != nil {
		log.ErrorContext(ctx, "email_log write failed", slog.String("error", err.Error()), slog.String("status", rec.Status))
	}
}

package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/creditjambo/creditjambo/sql/sqltest"
	"github.com/creditjambo/creditjambo/templates"
)

// fastRetry retries after 10ms, so tests of retries take no time.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time { return time.Now().Add(10 * time.Millisecond) }

// emailEnv is a migrated database, a River client working email jobs, and
// what they were built with.
type emailEnv struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
	sealer *Sealer
	events <-chan *river.Event
}

// newEmailEnv starts a River client over a fresh database, with the email
// worker sending through sender. It stops when t ends.
func newEmailEnv(t *testing.T, sender Sender) *emailEnv {
	t.Helper()
	pool := sqltest.New(t)
	r, err := templates.New(templates.Options{FrontendURL: "https://app.creditjambo.test"})
	if err != nil {
		t.Fatal(err)
	}
	sealer := testSealer(t, "a test secret that is at least 32 bytes long")
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	workers := river.NewWorkers()
	err = AddWorkers(workers, Deps{
		Renderer: r, Sender: sender, Sealer: sealer, Pool: pool, Logger: logger,
		MessageIDDomain: "creditjambo.test",
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               map[string]river.QueueConfig{QueueEmail: {MaxWorkers: 2}},
		Workers:              workers,
		RetryPolicy:          fastRetry{},
		FetchCooldown:        5 * time.Millisecond,
		FetchPollInterval:    20 * time.Millisecond,
		JobTimeout:           ClientJobTimeout,
		RescueStuckJobsAfter: RescueStuckJobsAfter,
		Logger:               logger,
		TestOnly:             true,
	})
	if err != nil {
		t.Fatalf("river client: %v", err)
	}
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	t.Cleanup(cancel)
	if err := client.Start(context.Background()); err != nil {
		t.Fatalf("river start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	return &emailEnv{pool: pool, client: client, sealer: sealer, events: events}
}

// insert enqueues args the way the service does, in a transaction.
func (e *emailEnv) insert(t *testing.T, args EmailArgs) int64 {
	t.Helper()
	ctx := t.Context()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	res, err := e.client.InsertTx(ctx, tx, args, nil)
	if err != nil {
		t.Fatalf("InsertTx: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

// wait returns the job once it is completed, cancelled or discarded.
func (e *emailEnv) wait(t *testing.T, id int64) *rivertype.JobRow {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if ev.Job.ID != id {
				continue
			}
			switch ev.Job.State {
			case rivertype.JobStateCompleted, rivertype.JobStateCancelled, rivertype.JobStateDiscarded:
				return ev.Job
			}
		case <-timeout:
			t.Fatalf("job %d did not finish", id)
		}
	}
}

// emailLog is a row of email_log.
type emailLog struct {
	Recipient, Template, Language, Subject, MessageID, Status string
	Attempts                                                  int
	Error                                                     *string
	SentAt                                                    *time.Time
	JSON                                                      string
}

func (e *emailEnv) log(t *testing.T, jobID int64) emailLog {
	t.Helper()
	var l emailLog
	err := e.pool.QueryRow(t.Context(), `
		SELECT recipient, template, language, subject, message_id, status, attempts, error, sent_at,
		       row_to_json(email_log)::text
		FROM email_log WHERE job_id = $1`, jobID).Scan(
		&l.Recipient, &l.Template, &l.Language, &l.Subject, &l.MessageID, &l.Status, &l.Attempts, &l.Error, &l.SentAt, &l.JSON)
	if err != nil {
		t.Fatalf("email_log for job %d: %v", jobID, err)
	}
	return l
}

// otpArgs is a welcome email whose code travels sealed.
func (e *emailEnv) otpArgs(t *testing.T, code string) EmailArgs {
	t.Helper()
	data := templates.Samples()[templates.WelcomeVerify]
	delete(data, "Code")
	delete(data, "Name")
	sealed, err := e.sealer.Seal(map[string]any{"Code": code})
	if err != nil {
		t.Fatal(err)
	}
	return EmailArgs{
		Template: templates.WelcomeVerify, Language: "en",
		To: "aline@example.rw", ToName: "Aline", Data: data, Sealed: sealed,
	}
}

func smtpSender(t *testing.T, srv *smtpServer) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, From: "CreditJambo <no-reply@creditjambo.test>"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEmailJobDelivers(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	env := newEmailEnv(t, smtpSender(t, srv))
	const code = "914275"

	id := env.insert(t, env.otpArgs(t, code))
	job := env.wait(t, id)
	if job.State != rivertype.JobStateCompleted || job.Attempt != 1 {
		t.Fatalf("job %s after %d attempts: %v", job.State, job.Attempt, job.Errors)
	}

	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("server got %d mails", len(mails))
	}
	p := parseMail(t, mails[0].Data)
	wantID := fmt.Sprintf("email-%d.%d@creditjambo.test", id, job.CreatedAt.Unix())
	if got := p.Header.Get("Message-ID"); got != "<"+wantID+">" {
		t.Errorf("Message-ID = %q, want <%s>", got, wantID)
	}
	if p.Subj != "Welcome to CreditJambo — verify your email" {
		t.Errorf("Subject = %q", p.Subj)
	}
	if !strings.Contains(p.From, "no-reply@creditjambo.test") || !strings.Contains(p.To, "aline@example.rw") {
		t.Errorf("From %q To %q", p.From, p.To)
	}
	if !strings.Contains(p.Text, code) || !strings.Contains(p.HTML, code) {
		t.Error("the sealed code is not in both parts of the email")
	}
	if !strings.Contains(p.Text, "Hi Aline,") {
		t.Error("ToName did not become the greeting's name")
	}

	// The secret never rests in clear: not in the job, not in the log.
	var args string
	if err := env.pool.QueryRow(t.Context(), `SELECT args::text FROM river_job WHERE id = $1`, id).Scan(&args); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(args, code) || !strings.Contains(args, `"sealed"`) {
		t.Errorf("river_job.args = %s", args)
	}
	l := env.log(t, id)
	if strings.Contains(l.JSON, code) {
		t.Errorf("email_log holds the code: %s", l.JSON)
	}
	if l.Status != StatusSent || l.Attempts != 1 || l.Error != nil || l.SentAt == nil ||
		l.MessageID != wantID || l.Subject != p.Subj || l.Recipient != "aline@example.rw" ||
		l.Template != templates.WelcomeVerify || l.Language != "en" {
		t.Errorf("email_log = %+v", l)
	}
}

func TestEmailJobRetriesTransientFailure(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{replies: []int{451}})
	env := newEmailEnv(t, smtpSender(t, srv))
	data := templates.Samples()[templates.DepositReceipt]
	id := env.insert(t, EmailArgs{Template: templates.DepositReceipt, Language: "rw", To: "aline@example.rw", Data: data})

	job := env.wait(t, id)
	if job.State != rivertype.JobStateCompleted || job.Attempt != 2 {
		t.Fatalf("job %s after %d attempts", job.State, job.Attempt)
	}
	if len(job.Errors) != 1 || !strings.Contains(job.Errors[0].Error, "451") {
		t.Errorf("job errors %+v", job.Errors)
	}
	if srv.Rcpts() != 2 || len(srv.Mails()) != 1 {
		t.Errorf("server saw %d RCPT and accepted %d mails", srv.Rcpts(), len(srv.Mails()))
	}
	p := parseMail(t, srv.Mails()[0].Data)
	if p.Subj != "Amafaranga wabikije yakiriwe: 1,500.00 RWF — CreditJambo" {
		t.Errorf("Subject = %q", p.Subj)
	}
	l := env.log(t, id)
	if l.Status != StatusSent || l.Attempts != 2 || l.Error != nil || l.SentAt == nil || l.Language != "rw" {
		t.Errorf("email_log = %+v", l)
	}
}

func TestEmailJobCancelsOnPermanentFailure(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{always: 550})
	env := newEmailEnv(t, smtpSender(t, srv))
	id := env.insert(t, EmailArgs{
		Template: templates.PasswordChanged, Language: "en", To: "gone@example.rw",
		Data: templates.Samples()[templates.PasswordChanged],
	})

	job := env.wait(t, id)
	if job.State != rivertype.JobStateCancelled || job.Attempt != 1 {
		t.Fatalf("job %s after %d attempts", job.State, job.Attempt)
	}
	if srv.Rcpts() != 1 {
		t.Errorf("server saw %d RCPT, want 1 (no retry)", srv.Rcpts())
	}
	l := env.log(t, id)
	if l.Status != StatusFailed || l.Attempts != 1 || l.Error == nil || !strings.Contains(*l.Error, "550") || l.SentAt != nil {
		t.Errorf("email_log = %+v", l)
	}
	if l.Subject != "Your CreditJambo password was changed" {
		t.Errorf("subject %q", l.Subject)
	}
}

func TestEmailJobCancelsWhatCannotRender(t *testing.T) {
	t.Parallel()
	env := newEmailEnv(t, NewConsoleSender(nil, 10))
	for name, args := range map[string]EmailArgs{
		"unknown template": {Template: "nope", Language: "en", To: "a@example.rw"},
		"missing data":     {Template: templates.DepositReceipt, Language: "en", To: "a@example.rw", Data: map[string]any{"Amount": "1"}},
		"bad sealed data":  {Template: templates.WelcomeVerify, Language: "en", To: "a@example.rw", Sealed: "v1.AAAA"},
		"bad recipient":    {Template: templates.Announcement, Language: "en", To: "nobody", Data: map[string]any{"Title": "t", "Message": "m"}},
	} {
		id := env.insert(t, args)
		job := env.wait(t, id)
		if job.State != rivertype.JobStateCancelled || job.Attempt != 1 {
			t.Errorf("%s: job %s after %d attempts", name, job.State, job.Attempt)
		}
		if l := env.log(t, id); l.Status != StatusFailed || l.Error == nil {
			t.Errorf("%s: email_log = %+v", name, l)
		}
	}
}

func TestEmailJobConsoleSender(t *testing.T) {
	t.Parallel()
	console := NewConsoleSender(nil, 10)
	env := newEmailEnv(t, console)
	args := env.otpArgs(t, "605118")
	args.Language = "fr" // not written: sent in English
	id := env.insert(t, args)

	job := env.wait(t, id)
	if job.State != rivertype.JobStateCompleted {
		t.Fatalf("job %s: %v", job.State, job.Errors)
	}
	recent := console.Recent()
	if len(recent) != 1 {
		t.Fatalf("console kept %d emails", len(recent))
	}
	m := recent[0]
	if m.Subject != "Welcome to CreditJambo — verify your email" || m.Language != "en" ||
		!strings.Contains(m.Text, "605118") || !strings.Contains(m.HTML, "605118") ||
		m.MessageID != fmt.Sprintf("email-%d.%d@creditjambo.test", id, job.CreatedAt.Unix()) {
		t.Errorf("kept email %+v", m)
	}
	l := env.log(t, id)
	if l.Status != StatusLogged || l.Attempts != 1 || l.SentAt == nil || l.Language != "en" {
		t.Errorf("email_log = %+v", l)
	}
}

func TestEmailArgsKeepNumbersExact(t *testing.T) {
	t.Parallel()
	var a EmailArgs
	if err := json.Unmarshal([]byte(`{"template":"x","data":{"Amount":1500.10,"Big":12345678901234567890}}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.Data["Amount"] != json.Number("1500.10") || a.Data["Big"] != json.Number("12345678901234567890") {
		t.Errorf("Data = %#v", a.Data)
	}
	if got := (EmailArgs{}).InsertOpts(); got.Queue != QueueEmail || got.MaxAttempts != EmailMaxAttempts {
		t.Errorf("InsertOpts = %+v", got)
	}
	if RescueStuckJobsAfter < EmailJobTimeout+time.Second || EmailJobTimeout < SMTPSendTimeout+logWriteTimeout {
		t.Error("the timeouts no longer nest: SMTP + log write ≤ job timeout < rescue")
	}
}

func TestAddWorkersNeedsDeps(t *testing.T) {
	t.Parallel()
	if err := AddWorkers(river.NewWorkers(), Deps{}); err == nil {
		t.Error("AddWorkers accepted empty Deps")
	}
}

// TestEmailJobRunAgainAfterDeliveryDoesNotResend stands for a process killed
// after a delivery but before River recorded the job complete: the rescued
// job runs again, finds its email recorded as sent, and sends nothing.
func TestEmailJobRunAgainAfterDeliveryDoesNotResend(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	env := newEmailEnv(t, smtpSender(t, srv))

	id := env.insert(t, env.otpArgs(t, "204816"))
	if job := env.wait(t, id); job.State != rivertype.JobStateCompleted {
		t.Fatalf("first run: %s %v", job.State, job.Errors)
	}
	// Run the job again, as the rescuer would.
	if _, err := env.client.JobRetry(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	job := env.wait(t, id)
	if job.State != rivertype.JobStateCompleted || job.Attempt != 2 {
		t.Fatalf("second run: %s after %d attempts %v", job.State, job.Attempt, job.Errors)
	}
	if n := len(srv.Mails()); n != 1 {
		t.Fatalf("server got %d mails, want the first only", n)
	}
	if l := env.log(t, id); l.Status != StatusSent || l.Attempts != 1 {
		t.Fatalf("email_log = %+v", l)
	}
}

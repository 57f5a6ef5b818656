package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/sql/sqltest"
	"github.com/creditjambo/creditjambo/templates"
)

// mailSink is a real SMTP server (emersion/go-smtp) on loopback that keeps
// what it accepts.
type mailSink struct {
	srv   *smtp.Server
	mu    sync.Mutex
	mails [][]byte
}

func (m *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{m: m}, nil }

type sinkSession struct{ m *mailSink }

func (s *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *sinkSession) Reset()                               {}
func (s *sinkSession) Logout() error                        { return nil }
func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.m.mu.Lock()
	s.m.mails = append(s.m.mails, b)
	s.m.mu.Unlock()
	return nil
}

// startMailSink serves SMTP on addr ("127.0.0.1:0" for any port) until t
// ends.
func startMailSink(t *testing.T, addr string) (*mailSink, int) {
	t.Helper()
	m := &mailSink{}
	m.srv = smtp.NewServer(m)
	m.srv.Domain = "mx.test"
	m.srv.ReadTimeout, m.srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("smtp listen: %v", err)
	}
	go func() { _ = m.srv.Serve(l) }()
	t.Cleanup(func() { _ = m.srv.Close() })
	return m, l.Addr().(*net.TCPAddr).Port
}

var referencePattern = regexp.MustCompile(`TX-[0-9]{6,}`)

// receipts maps each transaction reference in the accepted mails to the
// distinct Message-IDs that carried it, as an MTA deduplicating by
// Message-ID would count them.
func (m *mailSink) receipts(t *testing.T) map[string]map[string]bool {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]map[string]bool{}
	for _, raw := range m.mails {
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("mail: %v", err)
		}
		body, _ := io.ReadAll(msg.Body)
		text := strings.ReplaceAll(string(body), "=\r\n", "") // quoted-printable soft breaks
		id := msg.Header.Get("Message-Id")
		for _, ref := range referencePattern.FindAllString(text, -1) {
			if out[ref] == nil {
				out[ref] = map[string]bool{}
			}
			out[ref][id] = true
		}
	}
	return out
}

// fastRetry retries failed jobs after 200ms, so an outage test takes no
// time.
type fastRetry struct{}

func (fastRetry) NextRetry(*rivertype.JobRow) time.Time {
	return time.Now().Add(200 * time.Millisecond)
}

// TestDepositsWhileSMTPIsDown: with the SMTP server down, deposits still
// succeed (the receipts are jobs, committed with the money); once the
// server is back, every receipt arrives, once.
func TestDepositsWhileSMTPIsDown(t *testing.T) {
	t.Parallel()
	// A port with nothing listening: connections are refused until the
	// server starts there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	e := newSavingsEnv(t, savingsOptions{river: func(t *testing.T, db *sqltest.DB) *river.Client[pgx.Tx] {
		renderer, err := templates.New(templates.Options{FrontendURL: "https://app.creditjambo.test"})
		if err != nil {
			t.Fatal(err)
		}
		sender, err := jobs.NewSMTPSender(jobs.SMTPConfig{
			Host: "127.0.0.1", Port: port, From: "CreditJambo <no-reply@creditjambo.test>",
			DialTimeout: 2 * time.Second, SendTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
		worker, err := jobs.NewEmailWorker(jobs.Deps{Renderer: renderer, Sender: sender, Pool: db.Pool, Logger: logger, MessageIDDomain: "creditjambo.test"})
		if err != nil {
			t.Fatal(err)
		}
		workers := river.NewWorkers()
		river.AddWorker(workers, worker)
		client, err := river.NewClient(riverpgxv5.New(db.Pool), &river.Config{
			Queues:               map[string]river.QueueConfig{jobs.QueueEmail: {MaxWorkers: 4}},
			Workers:              workers,
			RetryPolicy:          fastRetry{},
			FetchCooldown:        10 * time.Millisecond,
			FetchPollInterval:    50 * time.Millisecond,
			JobTimeout:           jobs.ClientJobTimeout,
			RescueStuckJobsAfter: jobs.RescueStuckJobsAfter,
			Logger:               logger,
			TestOnly:             true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = client.Stop(ctx)
		})
		return client
	}})
	_, s := e.customer(t)
	var refs []string
	for i := range 5 {
		r := e.move(t, "deposit", s.access, fmt.Sprintf(`{"amount": "%d"}`, 100+i), "")
		expect(t, r, http.StatusCreated, "")
		refs = append(refs, jobs.Reference(int64(r.json["id"].(float64))))
	}
	if b := e.balance(t, s.access); b != "510.00" {
		t.Fatalf("balance %s", b)
	}
	// The receipts are tried and fail while the server is down.
	waitFor(t, 20*time.Second, "failed receipt attempts", func() bool {
		return e.count(t, `SELECT count(*) FROM email_log WHERE template = 'deposit_receipt' AND status = 'retrying'`) == 5
	})

	sink, _ := startMailSink(t, fmt.Sprintf("127.0.0.1:%d", port))
	waitFor(t, 30*time.Second, "the receipts", func() bool {
		return e.count(t, `SELECT count(*) FROM email_log WHERE template = 'deposit_receipt' AND status = 'sent'`) == 5
	})
	got := sink.receipts(t)
	for _, ref := range refs {
		if len(got[ref]) != 1 {
			t.Errorf("receipt %s arrived under %d Message-IDs", ref, len(got[ref]))
		}
	}
	if len(got) != len(refs) {
		t.Errorf("receipts for %d references, want %d: %v", len(got), len(refs), got)
	}

}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

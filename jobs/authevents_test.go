package jobs

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/sql/sqltest"
	"github.com/creditjambo/creditjambo/templates"
)

// TestAuthEventFunc gives the hook every auth event in a transaction and
// checks the email jobs it inserts: the right template, recipient and
// language; codes only sealed; data the worker renders without error, in
// both languages. Events without an email insert nothing; a rolled-back
// transaction leaves no job.
func TestAuthEventFunc(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sealer := testSealer(t, "a test secret that is at least 32 bytes long")
	hook := AuthEventFunc(client, sealer)
	renderer, err := templates.New(templates.Options{FrontendURL: "https://app.creditjambo.test"})
	if err != nil {
		t.Fatal(err)
	}
	worker, err := NewEmailWorker(Deps{Renderer: renderer, Sender: discardSender{}, Sealer: sealer, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for _, lang := range []auth.Language{auth.English, auth.Kinyarwanda} {
		u := auth.User{ID: 1, Username: "aline", Email: "aline@example.com", FirstName: "Aline", Language: lang}
		dev := auth.Device{ID: 3, DeviceID: "browser-1", Name: "Firefox"}
		cases := []struct {
			ev       auth.Event
			template string // "" = no email
			code     string
		}{
			{auth.UserRegistered{User: u, VerifyCode: "482913", CodeTTL: 10 * time.Minute}, templates.WelcomeVerify, "482913"},
			{auth.OTPRequested{User: u, Purpose: auth.PurposePasswordReset, Code: "730145", CodeTTL: 10 * time.Minute}, templates.PasswordResetCode, "730145"},
			{auth.OTPRequested{User: u, Purpose: auth.PurposeVerifyEmail, Code: "021346", CodeTTL: 10 * time.Minute}, templates.WelcomeVerify, "021346"},
			{auth.DeviceSeen{User: u, Device: dev, Via: auth.ViaLogin, IP: "197.243.12.40", UserAgent: "Mozilla/5.0", At: at}, templates.NewDevice, ""},
			{auth.DeviceSeen{User: u, Device: dev, Via: auth.ViaAPI, At: at}, "", ""},
			{auth.DeviceDecided{User: u, Device: dev, Approved: true, At: at}, templates.DeviceApproved, ""},
			{auth.DeviceDecided{User: u, Device: auth.Device{DeviceID: "x"}, Approved: false, At: at}, templates.DeviceRejected, ""},
			{auth.PasswordChanged{User: u, IP: "197.243.12.40", At: at}, templates.PasswordChanged, ""},
			{auth.DeviceRemoved{User: u, Device: dev, At: at}, "", ""},
			{auth.UserActiveChanged{User: u, Active: false, At: at}, "", ""},
		}
		for _, c := range cases {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := hook(ctx, tx, c.ev); err != nil {
				t.Fatalf("%T: %v", c.ev, err)
			}
			var raws []string
			rows, err := tx.Query(ctx, `SELECT args::text FROM river_job WHERE kind = 'email'`)
			if err != nil {
				t.Fatal(err)
			}
			if raws, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				t.Fatal(err)
			}
			_ = tx.Rollback(ctx) // the job goes with the change
			if c.template == "" {
				if len(raws) != 0 {
					t.Fatalf("%T inserted %v", c.ev, raws)
				}
				continue
			}
			if len(raws) != 1 {
				t.Fatalf("%T: %d jobs", c.ev, len(raws))
			}
			var a EmailArgs
			if err := json.Unmarshal([]byte(raws[0]), &a); err != nil {
				t.Fatal(err)
			}
			if a.Template != c.template || a.To != u.Email || a.Language != string(lang) || a.ToName != "Aline" {
				t.Fatalf("%T: args %+v", c.ev, a)
			}
			if c.code != "" && (strings.Contains(raws[0], c.code) || a.Sealed == "") {
				t.Fatalf("%T: code not sealed: %s", c.ev, raws[0])
			}
			out, err := worker.render(ctx, slog.New(slog.DiscardHandler), a)
			if err != nil {
				t.Fatalf("%T (%s): render: %v", c.ev, lang, err)
			}
			if c.code != "" && !strings.Contains(out.Text, c.code) {
				t.Fatalf("%T: the code is not in the email", c.ev)
			}
		}
	}
	if n := countEmailJobs(t, pool); n != 0 {
		t.Fatalf("%d jobs outlived their rolled-back transactions", n)
	}
}

func countEmailJobs(t *testing.T, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) int {
	t.Helper()
	var n int
	if err := q.QueryRow(context.Background(), `SELECT count(*) FROM river_job`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// discardSender sends nothing; the test only renders.
type discardSender struct{}

func (discardSender) Send(context.Context, OutgoingEmail) error { return nil }

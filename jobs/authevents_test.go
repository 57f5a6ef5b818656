package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
		u := insertUser(t, pool, "aline-"+string(lang), lang, auth.RoleCustomer)
		u.FirstName = "Aline"
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

// insertUser writes an active user straight into users (the hook reads
// recipients and their language there).
func insertUser(t testing.TB, pool *pgxpool.Pool, username string, lang auth.Language, role auth.Role) auth.User {
	t.Helper()
	u := auth.User{Username: username, Email: strings.ToLower(username) + "@example.com", Language: lang, Role: role, IsActive: true}
	err := pool.QueryRow(context.Background(), `
		INSERT INTO users (username, email, password_hash, language, role, date_joined)
		VALUES ($1, $2, 'x', $3, $4, now()) RETURNING id, date_joined`,
		u.Username, u.Email, string(lang), string(role)).Scan(&u.ID, &u.DateJoined)
	if err != nil {
		t.Fatalf("insert user %s: %v", username, err)
	}
	return u
}

// notification is a stored notification as the tests look at it.
type notification struct {
	Recipient int64
	Type      string
	Title     string
	Message   string
	Meta      map[string]any
}

func notifications(t testing.TB, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []notification {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT recipient_id, notif_type, title, message, meta FROM notifications ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (notification, error) {
		var n notification
		err := r.Scan(&n.Recipient, &n.Type, &n.Title, &n.Message, &n.Meta)
		return n, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAuthEventNotifications gives the hook each auth event in a committed
// transaction and checks the notifications it writes: exactly one per
// recipient, to the right people, in each one's language, with no secret;
// then the same events in rolled-back transactions, which leave none.
func TestAuthEventNotifications(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	hook := AuthEventFunc(client, testSealer(t, "a test secret that is at least 32 bytes long"))

	adminEN := insertUser(t, pool, "boss", auth.English, auth.RoleAdmin)
	adminRW := insertUser(t, pool, "umuyobozi", auth.Kinyarwanda, auth.RoleAdmin)
	formerAdmin := insertUser(t, pool, "former", auth.English, auth.RoleAdmin)
	if _, err := pool.Exec(ctx, `UPDATE users SET is_active = false WHERE id = $1`, formerAdmin.ID); err != nil {
		t.Fatal(err)
	}
	insertUser(t, pool, "auditor", auth.English, auth.RoleAuditor)
	aline := insertUser(t, pool, "aline", auth.Kinyarwanda, auth.RoleCustomer)
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	dev := auth.Device{ID: 7, UserID: aline.ID, DeviceID: "browser-1", Name: "Firefox", Status: auth.DevicePending}
	approved := dev
	approved.Status = auth.DeviceApproved
	admins := []int64{adminEN.ID, adminRW.ID}

	cases := []struct {
		ev    auth.Event
		typ   string  // "" = no notification
		to    []int64 // recipients
		title map[int64]string
	}{
		{auth.UserRegistered{User: aline, VerifyCode: "482913", CodeTTL: 10 * time.Minute}, NotifNewUser, admins,
			map[int64]string{adminEN.ID: "New user registered", adminRW.ID: "Umukoresha mushya yiyandikishije"}},
		{auth.DeviceSeen{User: aline, Device: dev, Via: auth.ViaLogin, At: at}, NotifUserApprovalRequired, admins,
			map[int64]string{adminEN.ID: "Device awaiting approval", adminRW.ID: "Igikoresho gitegereje kwemezwa"}},
		// The same device back to PENDING: admins were told already.
		{auth.DeviceSeen{User: aline, Device: dev, Via: auth.ViaRequest, At: at}, "", nil, nil},
		{auth.DeviceDecided{User: aline, Device: approved, Approved: true, AdminID: adminEN.ID, At: at}, NotifDeviceEvent, []int64{aline.ID},
			map[int64]string{aline.ID: "Igikoresho cyawe cyemejwe"}},
		{auth.OTPRequested{User: aline, Purpose: auth.PurposePasswordReset, Code: "730145", CodeTTL: 10 * time.Minute}, NotifPasswordReset, []int64{aline.ID},
			map[int64]string{aline.ID: "Hasabwe guhindura ijambo ry'ibanga"}},
		{auth.OTPRequested{User: aline, Purpose: auth.PurposeVerifyEmail, Code: "021346", CodeTTL: 10 * time.Minute}, "", nil, nil},
		{auth.PasswordChanged{User: aline, At: at}, "", nil, nil},
		{auth.DeviceRemoved{User: aline, Device: dev, At: at}, "", nil, nil},
		{auth.UserActiveChanged{User: aline, Active: false, At: at}, NotifUserBlocked, admins,
			map[int64]string{adminEN.ID: "User deactivated", adminRW.ID: "Konti yahagaritswe"}},
		{auth.UserActiveChanged{User: aline, Active: true, At: at}, "", nil, nil},
	}

	// Rolled back first: nothing may survive.
	for _, c := range cases {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := hook(ctx, tx, c.ev); err != nil {
			t.Fatalf("%T: %v", c.ev, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ns := notifications(t, pool); len(ns) != 0 {
		t.Fatalf("rolled-back events left notifications: %+v", ns)
	}

	seen := 0
	for _, c := range cases {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return hook(ctx, tx, c.ev) })
		if err != nil {
			t.Fatalf("%T: %v", c.ev, err)
		}
		all := notifications(t, pool)
		got := all[seen:]
		seen = len(all)
		if len(got) != len(c.to) {
			t.Fatalf("%T: %d notifications, want %d: %+v", c.ev, len(got), len(c.to), got)
		}
		for i, n := range got {
			if n.Recipient != c.to[i] || n.Type != c.typ || n.Title != c.title[n.Recipient] || n.Message == "" {
				t.Fatalf("%T: notification %+v", c.ev, n)
			}
			for _, secret := range []string{"482913", "730145", "021346"} {
				if strings.Contains(n.Message, secret) || strings.Contains(fmt.Sprint(n.Meta), secret) {
					t.Fatalf("%T: a code in a notification: %+v", c.ev, n)
				}
			}
		}
	}
	byType := map[string]string{}
	for _, n := range notifications(t, pool) {
		byType[n.Type+"/"+strconv.FormatInt(n.Recipient, 10)] = n.Message
	}
	if m := byType[NotifNewUser+"/"+strconv.FormatInt(adminEN.ID, 10)]; m != "aline (aline@example.com) created an account." {
		t.Errorf("NEW_USER message %q", m)
	}
	if m := byType[NotifDeviceEvent+"/"+strconv.FormatInt(aline.ID, 10)]; !strings.Contains(m, `"Firefox"`) {
		t.Errorf("DEVICE_EVENT message %q", m)
	}

	// A deactivated admin is not told about their own deactivation (they
	// are no longer an active admin in the same transaction).
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET is_active = false WHERE id = $1`, adminRW.ID); err != nil {
			return err
		}
		adminRW.IsActive = false
		return hook(ctx, tx, auth.UserActiveChanged{User: adminRW, Active: false, At: at})
	})
	if err != nil {
		t.Fatal(err)
	}
	got := notifications(t, pool)[seen:]
	if len(got) != 1 || got[0].Recipient != adminEN.ID || got[0].Type != NotifUserBlocked {
		t.Fatalf("admin deactivated: %+v", got)
	}
}

package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/templates"
)

// inboxItem is a notification as the API returns it.
type inboxItem struct {
	ID        int64          `json:"id"`
	NotifType string         `json:"notif_type"`
	Title     string         `json:"title"`
	Message   string         `json:"message"`
	Body      string         `json:"body"`
	Meta      map[string]any `json:"meta"`
	Read      bool           `json:"read"`
	IsRead    bool           `json:"is_read"`
	CreatedAt string         `json:"created_at"`
}

var microsUTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

// inbox fetches a list path and checks the compat invariants of each item.
func (e *authEnv) inbox(t *testing.T, path, token string) []inboxItem {
	t.Helper()
	r := e.get(t, path, token)
	expect(t, r, http.StatusOK, "")
	if !strings.HasPrefix(strings.TrimSpace(string(r.raw)), "[") {
		t.Fatalf("%s is not a bare array: %s", path, r.raw)
	}
	var items []inboxItem
	mustJSON(t, r.raw, &items)
	for i, n := range items {
		if n.Body != n.Message || n.IsRead != n.Read || !microsUTC.MatchString(n.CreatedAt) || n.Meta == nil {
			t.Fatalf("%s: item %+v", path, n)
		}
		if i > 0 && items[i-1].ID < n.ID {
			t.Fatalf("%s: not newest first: %d before %d", path, items[i-1].ID, n.ID)
		}
	}
	return items
}

func (e *authEnv) unread(t *testing.T, token string) int {
	t.Helper()
	r := e.get(t, "/api/notifications/unread-count/", token)
	expect(t, r, http.StatusOK, "")
	n, ok := r.json["count"].(float64)
	if !ok {
		t.Fatalf("unread count: %s", r.raw)
	}
	return int(n)
}

// notify writes a notification to a user as another package would.
func (e *authEnv) notify(t *testing.T, userID int64, n jobs.Notice) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		_, err := jobs.NotifyUserTx(context.Background(), tx, userID, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ofType(items []inboxItem, typ string) []inboxItem {
	var out []inboxItem
	for _, n := range items {
		if n.NotifType == typ {
			out = append(out, n)
		}
	}
	return out
}

// TestInboxIsolationAndMarkRead: each user (and each admin, on the admin
// paths) sees and marks only their own notifications; another's id is 404
// and changes nothing; marking is idempotent; unread filters and counts.
func TestInboxIsolationAndMarkRead(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	admin := e.adminToken(t)
	alice, bob := e.createUser(t, "alice", auth.RoleCustomer), e.createUser(t, "bob", auth.RoleCustomer)
	as, bs := e.approvedLogin(t, alice, "alice-phone"), e.approvedLogin(t, bob, "bob-phone")

	// Each has the DEVICE_EVENT of their approval; add two more for alice.
	for i := range 2 {
		e.notify(t, alice.ID, jobs.Notice{Type: jobs.NotifDepositConfirmed, Data: map[string]any{
			"amount": fmt.Sprintf("%d.00", 100*(i+1)), "balance_after": "300.00", "currency": "RWF",
		}})
	}
	ai, bi := e.inbox(t, "/api/notifications/", as.access), e.inbox(t, "/api/notifications/", bs.access)
	if len(ai) != 3 || len(bi) != 1 || ai[0].NotifType != jobs.NotifDepositConfirmed || ai[2].NotifType != jobs.NotifDeviceEvent {
		t.Fatalf("inboxes: alice %+v, bob %+v", ai, bi)
	}
	if ai[0].Message != "200.00 RWF was added to your savings. Your balance is now 300.00 RWF." || ai[0].Read {
		t.Fatalf("newest: %+v", ai[0])
	}
	if n := e.unread(t, as.access); n != 3 {
		t.Fatalf("alice unread %d", n)
	}

	// Another user's id: 404 on every path, and it stays unread.
	expect(t, e.post(t, "/api/notifications/"+itoa(bi[0].ID)+"/mark-read/", as.access, nil), http.StatusNotFound, "not_found")
	expect(t, e.do(t, req{method: http.MethodPatch, path: "/api/admin/notifications/" + itoa(bi[0].ID) + "/mark_read/", token: admin}), http.StatusNotFound, "not_found")
	expect(t, e.post(t, "/api/notifications/999999/mark-read/", as.access, nil), http.StatusNotFound, "not_found")
	if n := e.unread(t, bs.access); n != 1 {
		t.Fatalf("bob unread %d after others tried", n)
	}

	// Mark one read, twice: the same answer, read once.
	path := "/api/notifications/" + itoa(ai[1].ID) + "/mark-read"
	r := e.post(t, path, as.access, nil)
	expect(t, r, http.StatusOK, "")
	first := r.raw
	if r.json["read"] != true || r.json["is_read"] != true || r.json["id"] != float64(ai[1].ID) {
		t.Fatalf("mark-read: %s", r.raw)
	}
	r = e.post(t, path+"/", as.access, nil)
	expect(t, r, http.StatusOK, "")
	if string(r.raw) != string(first) {
		t.Fatalf("second mark-read differs: %s vs %s", r.raw, first)
	}
	if n := e.unread(t, as.access); n != 2 {
		t.Fatalf("alice unread %d", n)
	}
	unread := e.inbox(t, "/api/notifications/?unread=true", as.access)
	if len(unread) != 2 || slices.ContainsFunc(unread, func(n inboxItem) bool { return n.ID == ai[1].ID || n.Read }) {
		t.Fatalf("unread: %+v", unread)
	}
	expect(t, e.get(t, "/api/notifications/?unread=maybe", as.access), http.StatusBadRequest, "invalid")

	// Mark all: alice's only.
	r = e.post(t, "/api/notifications/mark-all-read/", as.access, nil)
	expect(t, r, http.StatusOK, "")
	if r.json["marked"] != float64(2) {
		t.Fatalf("mark-all-read: %s", r.raw)
	}
	if a, b := e.unread(t, as.access), e.unread(t, bs.access); a != 0 || b != 1 {
		t.Fatalf("after mark-all-read: alice %d, bob %d", a, b)
	}
	if len(e.inbox(t, "/api/notifications/?unread=true", as.access)) != 0 {
		t.Fatal("alice still has unread notifications")
	}

	// The admin inbox: admins only, their own rows (the two devices that
	// waited for approval), compat paths.
	expect(t, e.get(t, "/api/admin/notifications/", as.access), http.StatusForbidden, "permission_denied")
	expect(t, e.get(t, "/api/admin/notifications/", ""), http.StatusUnauthorized, "not_authenticated")
	expect(t, e.get(t, "/api/notifications/", ""), http.StatusUnauthorized, "not_authenticated")
	own := e.inbox(t, "/api/admin/notifications/", admin)
	if len(own) != 2 || len(ofType(own, jobs.NotifUserApprovalRequired)) != 2 {
		t.Fatalf("admin inbox: %+v", own)
	}
	if own[0].Meta["username"] != "bob" || own[1].Meta["username"] != "alice" {
		t.Fatalf("admin inbox meta: %+v", own)
	}
	r = e.do(t, req{method: http.MethodPatch, path: "/api/admin/notifications/" + itoa(own[0].ID) + "/mark_read/", token: admin})
	expect(t, r, http.StatusOK, "")
	if r.json["is_read"] != true {
		t.Fatalf("admin mark_read: %s", r.raw)
	}
	if n := len(e.inbox(t, "/api/admin/notifications/?unread=true", admin)); n != 1 {
		t.Fatalf("admin unread %d", n)
	}
	r = e.post(t, "/api/admin/notifications/mark_all_read/", admin, nil)
	expect(t, r, http.StatusOK, "")
	if r.json["marked"] != float64(1) || e.unread(t, admin) != 0 || e.unread(t, bs.access) != 1 {
		t.Fatalf("admin mark_all_read: %s", r.raw)
	}

	// At most 100, the newest.
	if _, err := e.pool.Exec(context.Background(), `
		INSERT INTO notifications (recipient_id, notif_type, title, message)
		SELECT $1, 'ANNOUNCEMENT', 'n' || g, 'm' FROM generate_series(1, 120) g`, bob.ID); err != nil {
		t.Fatal(err)
	}
	bi = e.inbox(t, "/api/notifications/", bs.access)
	if len(bi) != 100 || bi[0].Title != "n120" || bi[99].Title != "n21" {
		t.Fatalf("bob's inbox: %d items, %q … %q", len(bi), bi[0].Title, bi[len(bi)-1].Title)
	}
	if n := e.unread(t, bs.access); n != 121 {
		t.Fatalf("bob unread %d", n)
	}
}

// TestEventNotificationsOverHTTP drives each event through the API (or the
// service, where no endpoint exists yet) and checks that it produced exactly
// one notification per recipient, in the recipient's language; a change that
// rolls back produces none.
func TestEventNotificationsOverHTTP(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ctx := context.Background()
	boss := e.adminToken(t)
	_, err := e.svc.CreateUser(ctx, auth.NewUser{Username: "umuyobozi", Email: "umuyobozi@example.com", Password: testPassword, Role: auth.RoleAdmin, Language: auth.Kinyarwanda})
	if err != nil {
		t.Fatal(err)
	}
	rw := e.login(t, "umuyobozi", "laptop").access
	admins := map[string]string{"boss": boss, "umuyobozi": rw}
	countFor := func(token, typ string) int {
		t.Helper()
		return len(ofType(e.inbox(t, "/api/notifications/", token), typ))
	}

	// Registration: NEW_USER to each admin, in each one's language.
	r := e.post(t, "/api/auth/register/", "", map[string]any{
		"username": "carol", "email": "carol@example.com", "password": testPassword, "confirm_password": testPassword, "language": "rw",
	})
	expect(t, r, http.StatusCreated, "")
	for name, tok := range admins {
		got := ofType(e.inbox(t, "/api/admin/notifications/", tok), jobs.NotifNewUser)
		want := map[string]string{"boss": "New user registered", "umuyobozi": "Umukoresha mushya yiyandikishije"}[name]
		if len(got) != 1 || got[0].Title != want || got[0].Meta["username"] != "carol" {
			t.Fatalf("%s: NEW_USER %+v", name, got)
		}
	}

	// A new device, tried twice: USER_APPROVAL_REQUIRED once to each admin.
	for range 2 {
		r = e.post(t, "/api/auth/login/", "", map[string]any{"username": "carol", "password": testPassword, "device_id": "carol-phone", "device_name": "Tecno Spark"})
		expect(t, r, http.StatusForbidden, "device_not_approved")
	}
	for name, tok := range admins {
		if n := countFor(tok, jobs.NotifUserApprovalRequired); n != 1 {
			t.Fatalf("%s: %d USER_APPROVAL_REQUIRED", name, n)
		}
	}

	// Approved: DEVICE_EVENT to carol, in Kinyarwanda.
	var carol auth.User
	if err := e.pool.QueryRow(ctx, `SELECT id FROM users WHERE username = 'carol'`).Scan(&carol.ID); err != nil {
		t.Fatal(err)
	}
	expect(t, e.post(t, "/api/admin/devices/"+itoa(e.deviceRow(t, carol.ID, "carol-phone"))+"/approve/", boss, nil), http.StatusOK, "")
	cs := e.login(t, "carol", "carol-phone").access
	got := ofType(e.inbox(t, "/api/notifications/", cs), jobs.NotifDeviceEvent)
	if len(got) != 1 || got[0].Title != "Igikoresho cyawe cyemejwe" || !strings.Contains(got[0].Message, `"Tecno Spark"`) || got[0].Meta["approved"] != true {
		t.Fatalf("DEVICE_EVENT %+v", got)
	}

	// A password-reset code: PASSWORD_RESET to carol, without the code.
	expect(t, e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": "carol@example.com"}), http.StatusOK, "")
	code := e.code(t, templates.PasswordResetCode, "carol@example.com")
	got = ofType(e.inbox(t, "/api/notifications/", cs), jobs.NotifPasswordReset)
	if len(got) != 1 || strings.Contains(got[0].Message+fmt.Sprint(got[0].Meta), code) {
		t.Fatalf("PASSWORD_RESET %+v (code %s)", got, code)
	}
	// A verify-email code is no password reset.
	expect(t, e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": "carol", "purpose": "verify_email"}), http.StatusOK, "")
	if n := countFor(cs, jobs.NotifPasswordReset); n != 1 {
		t.Fatalf("%d PASSWORD_RESET after a verify_email code", n)
	}

	// Deactivated: USER_BLOCKED to each admin.
	if err := e.svc.SetActive(ctx, carol.ID, false); err != nil {
		t.Fatal(err)
	}
	for name, tok := range admins {
		got := ofType(e.inbox(t, "/api/admin/notifications/", tok), jobs.NotifUserBlocked)
		if len(got) != 1 || got[0].Meta["username"] != "carol" {
			t.Fatalf("%s: USER_BLOCKED %+v", name, got)
		}
	}

	// A registration that fails after its notifications were written (the
	// email job cannot be inserted) rolls back whole: no user, no
	// notification.
	before := e.count(t, `SELECT count(*) FROM notifications`)
	if _, err := e.pool.Exec(ctx, `
		CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.args->>'to' = 'doomed@example.com' THEN RAISE EXCEPTION 'refused for the test'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_doomed BEFORE INSERT ON river_job FOR EACH ROW EXECUTE FUNCTION refuse_doomed();`); err != nil {
		t.Fatal(err)
	}
	// Sent without e.do: the spec does not list this 500 (a database fault).
	res, err := http.Post(e.srv.URL+"/api/auth/register/", "application/json", strings.NewReader(
		`{"username": "doomed", "email": "doomed@example.com", "password": "`+testPassword+`", "confirm_password": "`+testPassword+`", "device_id": "d-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("doomed registration: %d", res.StatusCode)
	}
	if n := e.count(t, `SELECT count(*) FROM users WHERE username = 'doomed'`); n != 0 {
		t.Fatal("the failed registration left a user")
	}
	if after := e.count(t, `SELECT count(*) FROM notifications`); after != before {
		t.Fatalf("the failed registration left %d notifications", after-before)
	}
}

// TestAnnouncementValidation: who may announce, and every refused body.
func TestAnnouncementValidation(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	admin := e.adminToken(t)
	alice := e.createUser(t, "alice", auth.RoleCustomer)
	gone := e.createUser(t, "gone", auth.RoleCustomer)
	if err := e.svc.SetActive(context.Background(), gone.ID, false); err != nil {
		t.Fatal(err)
	}
	as := e.approvedLogin(t, alice, "alice-phone")
	body := map[string]any{"title": "Hi", "message": "Hello", "audience": "all"}
	expect(t, e.post(t, "/api/admin/notifications/", "", body), http.StatusUnauthorized, "not_authenticated")
	expect(t, e.post(t, "/api/admin/notifications/", as.access, body), http.StatusForbidden, "permission_denied")

	long := strings.Repeat("é", 201)
	for _, c := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"message": "m", "audience": "all"}, "title"},
		{map[string]any{"title": "   ", "message": "m", "audience": "all"}, "title"},
		{map[string]any{"title": long, "message": "m", "audience": "all"}, "title"},
		{map[string]any{"title": "two\nlines", "message": "m", "audience": "all"}, "title"},
		{map[string]any{"title": "t", "message": strings.Repeat("m", 5001), "audience": "all"}, "message"},
		{map[string]any{"title": "t", "message": "nul \x00 byte", "audience": "all"}, "message"},
		{map[string]any{"title": "t", "message": "m"}, "audience"},
		{map[string]any{"title": "t", "message": "m", "audience": "everyone"}, "audience"},
		{map[string]any{"title": "t", "message": "m", "audience": "all", "user_id": alice.ID}, "audience"},
		{map[string]any{"title": "t", "message": "m", "user_id": 999999}, "user_id"},
		{map[string]any{"title": "t", "message": "m", "user_id": gone.ID}, "user_id"},
		{map[string]any{"title": "t", "message": "m", "user_id": "1"}, "user_id"},
		{map[string]any{"title": "t", "message": "m", "audience": "all", "send_email": "yes"}, "send_email"},
	} {
		r := e.post(t, "/api/admin/notifications/", admin, c.body)
		expect(t, r, http.StatusBadRequest, "")
		if errs, _ := r.json["errors"].(map[string]any); errs[c.field] == nil {
			t.Errorf("%v: no error on %s: %s", c.body, c.field, r.raw)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM announcements`); n != 0 {
		t.Fatalf("%d announcements stored by refused requests", n)
	}

	// To one user: 202, recipients 1.
	r := e.post(t, "/api/admin/notifications", admin, map[string]any{"title": " Your account ", "message": "Hello Alice.\n\nBye.", "user_id": alice.ID})
	expect(t, r, http.StatusAccepted, "")
	if r.json["recipients"] != float64(1) || r.json["id"] == nil {
		t.Fatalf("announce: %s", r.raw)
	}
	var title string
	var by int64
	if err := e.pool.QueryRow(context.Background(), `SELECT title, created_by FROM announcements`).Scan(&title, &by); err != nil {
		t.Fatal(err)
	}
	if title != "Your account" || by != e.admin(t).ID {
		t.Fatalf("stored %q by %d", title, by)
	}
}

// TestAnnouncementToAllFansOutOnce announces to 2,500 users (several
// batches) with emails, runs two fan-out jobs for it at once, then a third
// from the start, with real River workers: each active user gets exactly one
// notification and one email job, inactive users none.
func TestAnnouncementToAllFansOutOnce(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ctx := context.Background()
	admin := e.adminToken(t)
	alice := e.createUser(t, "alice", auth.RoleCustomer)
	as := e.approvedLogin(t, alice, "alice-phone")
	const many = 2500
	if _, err := e.pool.Exec(ctx, `
		INSERT INTO users (username, email, password_hash, language, is_active, date_joined)
		SELECT 'user' || g, 'user' || g || '@example.com', 'x',
		       CASE WHEN g % 2 = 0 THEN 'rw' ELSE 'en' END, g % 100 <> 0, now()
		FROM generate_series(1, $1) g`, many); err != nil {
		t.Fatal(err)
	}
	active := e.count(t, `SELECT count(*) FROM users WHERE is_active AND deleted_at IS NULL`)
	if active != many-many/100+2 {
		t.Fatalf("%d active users", active)
	}

	r := e.post(t, "/api/admin/notifications/", admin, map[string]any{
		"title": "Maintenance on Sunday", "message": "CreditJambo is down from 02:00 to 04:00.", "audience": "all", "send_email": true,
	})
	expect(t, r, http.StatusAccepted, "")
	if r.json["recipients"] != float64(active) {
		t.Fatalf("recipients: %s, want %d", r.raw, active)
	}
	id := int64(r.json["id"].(float64))

	// A second job for the same announcement, queued before the workers
	// start so that two workers take them at once.
	worker := newAnnounceWorkers(t, e)
	if _, err := worker.Insert(ctx, jobs.AnnounceArgs{AnnouncementID: id}, nil); err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFanout(t, e)
	check := func(round string) {
		t.Helper()
		if n := e.count(t, `SELECT count(*) FROM notifications WHERE notif_type = 'ANNOUNCEMENT'`); n != active {
			t.Fatalf("%s: %d notifications, want %d", round, n, active)
		}
		if n := e.count(t, `
			SELECT count(*) FROM users u
			WHERE u.is_active <> EXISTS (SELECT 1 FROM notifications n WHERE n.recipient_id = u.id AND n.dedup_key = $1)`,
			"announcement:"+itoa(id)); n != 0 {
			t.Fatalf("%s: %d users with the wrong number of notifications", round, n)
		}
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'email' AND args->>'template' = $1`, templates.Announcement); n != active {
			t.Fatalf("%s: %d email jobs, want %d", round, n, active)
		}
		if n := e.count(t, `SELECT count(DISTINCT args->>'to') FROM river_job WHERE kind = 'email' AND args->>'template' = $1`, templates.Announcement); n != active {
			t.Fatalf("%s: %d distinct email recipients, want %d", round, n, active)
		}
		if n := e.count(t, `SELECT count(*) FROM announcements WHERE id = $1 AND completed_at IS NOT NULL AND delivered = $2 AND emailed = $2`, id, active); n != 1 {
			t.Fatalf("%s: announcement progress not complete", round)
		}
	}
	check("two jobs at once")
	rwEmails := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'email' AND args->>'template' = $1 AND args->>'language' = 'rw'`, templates.Announcement)
	if rwEmails != e.count(t, `SELECT count(*) FROM users WHERE is_active AND language = 'rw'`) {
		t.Fatalf("%d Kinyarwanda emails", rwEmails)
	}

	// A retry from scratch (progress lost) delivers nothing more.
	if _, err := e.pool.Exec(ctx, `UPDATE announcements SET last_user_id = 0, completed_at = NULL WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.Insert(ctx, jobs.AnnounceArgs{AnnouncementID: id}, nil); err != nil {
		t.Fatal(err)
	}
	waitFanout(t, e)
	check("a third job from the start")

	// Alice reads it over HTTP.
	got := ofType(e.inbox(t, "/api/notifications/", as.access), jobs.NotifAnnouncement)
	if len(got) != 1 || got[0].Title != "Maintenance on Sunday" || got[0].Body != "CreditJambo is down from 02:00 to 04:00." || got[0].Meta["announcement_id"] != float64(id) {
		t.Fatalf("alice's announcement: %+v", got)
	}
}

// newAnnounceWorkers is a River client working the default queue (the
// fan-out; email jobs stay queued for counting), stopped when the test ends.
func newAnnounceWorkers(t *testing.T, e *authEnv) *river.Client[pgx.Tx] {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	renderer, err := templates.New(templates.Options{FrontendURL: "https://app.creditjambo.test"})
	if err != nil {
		t.Fatal(err)
	}
	// Every worker of the service is registered (River refuses to insert a
	// kind it does not know), but only the default queue is worked.
	workers := river.NewWorkers()
	err = jobs.AddWorkers(workers, jobs.Deps{Renderer: renderer, Sender: jobs.NewConsoleSender(logger, 1), Pool: e.pool, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(e.pool), &river.Config{
		Logger:            logger,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:           workers,
		FetchCooldown:     5 * time.Millisecond,
		FetchPollInterval: 20 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	})
	return client
}

// waitFanout waits until no fan-out job is left to run, and fails if one
// did not complete.
func waitFanout(t *testing.T, e *authEnv) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'announcement_fanout' AND state NOT IN ('completed', 'cancelled', 'discarded')`) > 0 {
		if time.Now().After(deadline) {
			rows, _ := e.pool.Query(context.Background(), `SELECT state || ' ' || attempt || ' ' || coalesce(errors::text, '') FROM river_job WHERE kind = 'announcement_fanout'`)
			states, _ := pgx.CollectRows(rows, pgx.RowTo[string])
			t.Fatalf("fan-out jobs still running after 60 s: %v", states)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE kind = 'announcement_fanout' AND state <> 'completed'`); n != 0 {
		t.Fatalf("%d fan-out jobs did not complete", n)
	}
}

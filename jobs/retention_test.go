package jobs

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// TestRetentionDeletesOnlyOldReadNotifications runs the retention with a
// small batch over old and new, read and unread notifications: only the old
// read ones go, however many batches it takes.
func TestRetentionDeletesOnlyOldReadNotifications(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()
	u := insertUser(t, pool, "aline", auth.English, auth.RoleCustomer)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	w, err := NewRetentionWorker(Deps{Pool: pool, Now: func() time.Time { return now }, NotificationRetention: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.batch = 3
	// 10 of each kind: old read (to go), old unread, new read, new unread.
	old, recent := now.Add(-31*24*time.Hour), now.Add(-29*24*time.Hour)
	for _, r := range []struct {
		created time.Time
		read    *time.Time
		tag     string
	}{
		{old, &recent, "old-read"}, {old, nil, "old-unread"}, {recent, &now, "new-read"}, {recent, nil, "new-unread"},
	} {
		_, err := pool.Exec(ctx, `
			INSERT INTO notifications (recipient_id, notif_type, title, message, created_at, read_at)
			SELECT $1, 'ANNOUNCEMENT', $2, 'm', $3, $4 FROM generate_series(1, 10)`, u.ID, r.tag, r.created, r.read)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Work(ctx, &river.Job[RetentionArgs]{}); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT title, count(*) FROM notifications GROUP BY title`)
	if err != nil {
		t.Fatal(err)
	}
	left := map[string]int{}
	for rows.Next() {
		var tag string
		var n int
		if err := rows.Scan(&tag, &n); err != nil {
			t.Fatal(err)
		}
		left[tag] = n
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if left["old-read"] != 0 || left["old-unread"] != 10 || left["new-read"] != 10 || left["new-unread"] != 10 {
		t.Fatalf("left %v", left)
	}
}

func TestCleanupPeriodicJobs(t *testing.T) {
	t.Parallel()
	if n := len(CleanupPeriodicJobs(Deps{})); n != 1 {
		t.Errorf("%d jobs without an auth purge", n)
	}
	d := Deps{PurgeAuthFunc: func(context.Context) (int64, error) { return 0, nil }}
	if n := len(CleanupPeriodicJobs(d)); n != 2 {
		t.Errorf("%d jobs with an auth purge", n)
	}
	if _, err := NewRetentionWorker(Deps{}); err == nil {
		t.Error("a retention worker without a pool")
	}
}

// TestDayTotalsPurgeKeepsRecentDays deletes the daily-limit totals of days
// long past, over several batches, and keeps the last three days.
func TestDayTotalsPurgeKeepsRecentDays(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()
	l, err := ledger.New(ctx, pool, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	// 2,500 wallets with a row on each of June 1 and June 6 (gone: more
	// than three days before now) and June 9 (kept).
	for _, day := range []string{"2026-06-01", "2026-06-06", "2026-06-09"} {
		if _, err := pool.Exec(ctx, `INSERT INTO wallet_day_totals (account_id, day) SELECT g, $1::date FROM generate_series(1, 2500) g`, day); err != nil {
			t.Fatal(err)
		}
	}
	w := &DayTotalsWorker{ledger: l, log: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	if err := w.Work(ctx, &river.Job[DayTotalsArgs]{}); err != nil {
		t.Fatal(err)
	}
	var old, kept int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE day < '2026-06-07'), count(*) FILTER (WHERE day >= '2026-06-07') FROM wallet_day_totals`).Scan(&old, &kept); err != nil {
		t.Fatal(err)
	}
	if old != 0 || kept != 2500 {
		t.Fatalf("left %d old rows and %d recent ones, want 0 and 2500", old, kept)
	}
}

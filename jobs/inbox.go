package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
)

// InboxLimit is the most notifications List returns.
const InboxLimit = 100

// ErrNotificationNotFound is returned for a notification that does not
// exist or is not the caller's: the two are not told apart.
var ErrNotificationNotFound = errors.New("jobs: notification not found")

// Inbox reads and marks each user's own notifications, and takes admins'
// announcements (Announce). Every method is scoped to one recipient: no
// method reads or changes another user's rows. It is safe for concurrent
// use.
type Inbox struct {
	pool  *pgxpool.Pool
	river *river.Client[pgx.Tx]
	now   func() time.Time
}

// NewInbox returns the inbox over pool. client inserts announcements'
// fan-out jobs (it may be insert-only); now is the clock of read_at and
// announcements (nil means time.Now).
func NewInbox(pool *pgxpool.Pool, client *river.Client[pgx.Tx], now func() time.Time) *Inbox {
	if now == nil {
		now = time.Now
	}
	return &Inbox{pool: pool, river: client, now: now}
}

// InboxEntry is a stored notification.
type InboxEntry struct {
	ID        int64
	Type      string
	Title     string
	Message   string
	Meta      json.RawMessage // a JSON object
	ReadAt    *time.Time
	CreatedAt time.Time
}

const entryColumns = `id, notif_type, title, message, meta, read_at, created_at`

func scanEntry(row pgx.Row) (InboxEntry, error) {
	var e InboxEntry
	var meta []byte
	err := row.Scan(&e.ID, &e.Type, &e.Title, &e.Message, &meta, &e.ReadAt, &e.CreatedAt)
	e.Meta = meta
	return e, err
}

// List returns userID's notifications, newest first, at most InboxLimit;
// with unreadOnly, only those not yet read.
func (in *Inbox) List(ctx context.Context, userID int64, unreadOnly bool) ([]InboxEntry, error) {
	q := `SELECT ` + entryColumns + ` FROM notifications WHERE recipient_id = $1`
	if unreadOnly {
		q += ` AND read_at IS NULL`
	}
	rows, err := in.pool.Query(ctx, q+` ORDER BY id DESC LIMIT $2`, userID, InboxLimit)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboxEntry, error) { return scanEntry(r) })
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return out, nil
}

// UnreadCount returns how many of userID's notifications are unread.
func (in *Inbox) UnreadCount(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := in.pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE recipient_id = $1 AND read_at IS NULL`, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("inbox: %w", err)
	}
	return n, nil
}

// MarkRead marks userID's notification id read and returns it. Marking a
// read notification again keeps its first read_at. It returns
// ErrNotificationNotFound when id is not userID's.
func (in *Inbox) MarkRead(ctx context.Context, userID, id int64) (InboxEntry, error) {
	e, err := scanEntry(in.pool.QueryRow(ctx, `
		UPDATE notifications SET read_at = $3
		WHERE id = $1 AND recipient_id = $2 AND read_at IS NULL
		RETURNING `+entryColumns, id, userID, in.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		e, err = scanEntry(in.pool.QueryRow(ctx, `
			SELECT `+entryColumns+` FROM notifications WHERE id = $1 AND recipient_id = $2`, id, userID))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return InboxEntry{}, ErrNotificationNotFound
	}
	if err != nil {
		return InboxEntry{}, fmt.Errorf("inbox: %w", err)
	}
	return e, nil
}

// MarkAllRead marks every unread notification of userID read and returns
// how many it marked.
func (in *Inbox) MarkAllRead(ctx context.Context, userID int64) (int64, error) {
	tag, err := in.pool.Exec(ctx, `UPDATE notifications SET read_at = $2 WHERE recipient_id = $1 AND read_at IS NULL`, userID, in.now())
	if err != nil {
		return 0, fmt.Errorf("inbox: %w", err)
	}
	return tag.RowsAffected(), nil
}

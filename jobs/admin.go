package jobs

import (
	"context"
	"time"
)

// RecentNotice is a notification with its recipient, for the admin
// dashboard.
type RecentNotice struct {
	ID        int64
	UserID    int64
	Username  string
	Message   string
	CreatedAt time.Time
}

// RecentLowBalance returns the n latest LOW_BALANCE notifications across
// every inbox, newest first, through the partial index
// notifications_low_balance_idx (sql/migrations/0007_admin.sql): the type
// is written into the statement so that even a generic plan uses it.
func (in *Inbox) RecentLowBalance(ctx context.Context, n int) ([]RecentNotice, error) {
	rows, err := in.pool.Query(ctx, `
		SELECT n.id, n.recipient_id, u.username, n.message, n.created_at
		  FROM notifications n JOIN users u ON u.id = n.recipient_id
		 WHERE n.notif_type = '`+NotifLowBalance+`'
		 ORDER BY n.id DESC
		 LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RecentNotice{}
	for rows.Next() {
		var r RecentNotice
		if err := rows.Scan(&r.ID, &r.UserID, &r.Username, &r.Message, &r.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

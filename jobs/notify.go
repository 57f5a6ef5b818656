package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The notification types of API.md.
const (
	NotifLowBalance           = "LOW_BALANCE"
	NotifDepositConfirmed     = "DEPOSIT_CONFIRMED"
	NotifWithdrawAlert        = "WITHDRAW_ALERT"
	NotifDeviceEvent          = "DEVICE_EVENT"
	NotifNewUser              = "NEW_USER"
	NotifUserApprovalRequired = "USER_APPROVAL_REQUIRED"
	NotifUserBlocked          = "USER_BLOCKED"
	NotifPasswordReset        = "PASSWORD_RESET"
	NotifAnnouncement         = "ANNOUNCEMENT"
)

// Notification is one message for one user's inbox. Title and Message are
// already in the recipient's language.
type Notification struct {
	RecipientID int64
	Type        string
	Title       string
	Message     string
	Meta        map[string]any
	// DedupKey, when set, makes the write idempotent: a second NotifyTx with
	// the same recipient and key writes nothing (a retried job).
	DedupKey string
}

// NotifyTx writes n in tx, the transaction of the event it reports, so the
// notification exists if and only if the event committed. It returns the new
// row's id, or 0 when DedupKey matched an existing row.
func NotifyTx(ctx context.Context, tx pgx.Tx, n Notification) (int64, error) {
	meta := []byte("{}")
	if len(n.Meta) > 0 {
		var err error
		if meta, err = json.Marshal(n.Meta); err != nil {
			return 0, fmt.Errorf("notify: meta: %w", err)
		}
	}
	var id int64
	var err error
	if n.DedupKey == "" {
		// A plain insert: no read of the dedup index in the caller's
		// (often SERIALIZABLE) transaction.
		err = tx.QueryRow(ctx, `
			INSERT INTO notifications (recipient_id, notif_type, title, message, meta)
			VALUES ($1, $2, $3, $4, $5)
			RETURNING id`, n.RecipientID, n.Type, n.Title, n.Message, meta).Scan(&id)
	} else {
		err = tx.QueryRow(ctx, `
			INSERT INTO notifications (recipient_id, notif_type, title, message, meta, dedup_key)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (recipient_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
			RETURNING id`, n.RecipientID, n.Type, n.Title, n.Message, meta, n.DedupKey).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("notify: %w", err)
	}
	return id, nil
}

// ErrNoRecipient is returned when a notification or an announcement is
// addressed to a user who does not exist (or, for an announcement, is not
// active).
var ErrNoRecipient = errors.New("jobs: no such recipient")

// Notice is a notification worded by the catalogue (NotificationText) in each
// recipient's own language, for NotifyUserTx and NotifyAdminsTx.
type Notice struct {
	Type string
	// Data fills the catalogue's text and is stored as the notification's
	// meta, so it must hold nothing secret; see NotificationText for the
	// names each type uses.
	Data map[string]any
	// DedupKey, when set, makes the write idempotent per recipient, as
	// Notification.DedupKey.
	DedupKey string
}

// NotifyUserTx writes n to user userID in tx, in the user's language, read
// from users in the same transaction (one row by primary key). It returns
// the new row's id, or 0 when DedupKey matched an existing row, and
// ErrNoRecipient when the user does not exist.
func NotifyUserTx(ctx context.Context, tx pgx.Tx, userID int64, n Notice) (int64, error) {
	q, args, err := localizedInsert(n, `u.id = $8`, userID)
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRow(ctx, q+` RETURNING id`, args...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)`, userID).Scan(&exists); err != nil {
			return 0, fmt.Errorf("notify: %w", err)
		}
		if !exists {
			return 0, fmt.Errorf("notify user %d: %w", userID, ErrNoRecipient)
		}
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("notify: %w", err)
	}
	return id, nil
}

// NotifyAdminsTx writes n in tx to every active admin, each in their own
// language, with one statement. It returns how many notifications it wrote
// (admins already holding DedupKey are skipped).
func NotifyAdminsTx(ctx context.Context, tx pgx.Tx, n Notice) (int64, error) {
	q, args, err := localizedInsert(n, `u.role = 'admin' AND u.is_active AND u.deleted_at IS NULL`)
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("notify admins: %w", err)
	}
	return tag.RowsAffected(), nil
}

// localizedInsert is the INSERT … SELECT that writes n to the users matching
// where, choosing the English or Kinyarwanda text by users.language. where
// may use $8 and on, given as extra.
func localizedInsert(n Notice, where string, extra ...any) (string, []any, error) {
	enTitle, enMessage := NotificationText(n.Type, "en", n.Data)
	rwTitle, rwMessage := NotificationText(n.Type, "rw", n.Data)
	if enTitle == "" || enMessage == "" {
		return "", nil, fmt.Errorf("notify: no text for type %q", n.Type)
	}
	meta := []byte("{}")
	if len(n.Data) > 0 {
		var err error
		if meta, err = json.Marshal(n.Data); err != nil {
			return "", nil, fmt.Errorf("notify: meta: %w", err)
		}
	}
	var dedup *string
	conflict := ""
	if n.DedupKey != "" {
		// Only then read the dedup index: see NotifyTx.
		dedup = &n.DedupKey
		conflict = ` ON CONFLICT (recipient_id, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING`
	}
	q := `
		INSERT INTO notifications (recipient_id, notif_type, title, message, meta, dedup_key)
		SELECT u.id, $1::text,
		       CASE u.language WHEN 'rw' THEN $4::text ELSE $2::text END,
		       CASE u.language WHEN 'rw' THEN $5::text ELSE $3::text END,
		       $6::jsonb, $7::text
		FROM users u
		WHERE ` + where + `
		ORDER BY u.id` + conflict
	args := append([]any{n.Type, enTitle, enMessage, rwTitle, rwMessage, meta, dedup}, extra...)
	return q, args, nil
}

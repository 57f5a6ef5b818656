package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// TestNotificationText checks the catalogue: every type has a title and a
// message in both languages, different from each other, filled from the
// data with nothing left unfilled, within the table's bounds.
func TestNotificationText(t *testing.T) {
	t.Parallel()
	data := map[string]any{
		"username": "aline", "email": "aline@example.com", "device_name": "Galaxy A14", "approved": true,
		"amount": decimal.RequireFromString("1500"), "balance_after": "26750.5", "balance": json.Number("42"),
		"threshold": "50.00", "currency": "RWF", "title": "Maintenance", "message": "Sunday 02:00-04:00.",
	}
	types := []string{NotifLowBalance, NotifDepositConfirmed, NotifWithdrawAlert, NotifDeviceEvent, NotifNewUser,
		NotifUserApprovalRequired, NotifUserBlocked, NotifPasswordReset, NotifAnnouncement}
	for _, typ := range types {
		enTitle, enMessage := NotificationText(typ, "en", data)
		rwTitle, rwMessage := NotificationText(typ, "rw", data)
		for _, s := range []string{enTitle, enMessage, rwTitle, rwMessage} {
			if s == "" || strings.ContainsAny(s, "{}") || len([]rune(s)) > 5000 {
				t.Errorf("%s: bad text %q", typ, s)
			}
		}
		if len([]rune(enTitle)) > 200 || len([]rune(rwTitle)) > 200 {
			t.Errorf("%s: title too long", typ)
		}
		if typ != NotifAnnouncement && (enTitle == rwTitle || enMessage == rwMessage) {
			t.Errorf("%s: not translated: %q / %q", typ, enMessage, rwMessage)
		}
		if title, _ := NotificationText(typ, "fr", data); title != enTitle {
			t.Errorf("%s: an unknown language is not English: %q", typ, title)
		}
	}
	if _, m := NotificationText(NotifDepositConfirmed, "en", data); m != "1,500.00 RWF was added to your savings. Your balance is now 26,750.50 RWF." {
		t.Errorf("deposit: %q", m)
	}
	if _, m := NotificationText(NotifLowBalance, "rw", data); !strings.Contains(m, "42.00 RWF") || !strings.Contains(m, "50.00 RWF") {
		t.Errorf("low balance: %q", m)
	}
	rejected, unnamed := map[string]any{"approved": false}, map[string]any{}
	if title, m := NotificationText(NotifDeviceEvent, "en", rejected); title != "Device not approved" || !strings.Contains(m, "(no name)") {
		t.Errorf("rejected: %q %q", title, m)
	}
	if _, m := NotificationText(NotifDeviceEvent, "rw", unnamed); !strings.Contains(m, "(kitagira izina)") {
		t.Errorf("unnamed: %q", m)
	}
	// Values are inserted as they are: braces in them are not placeholders.
	if _, m := NotificationText(NotifNewUser, "en", map[string]any{"username": "x{email}", "email": "a{b}@example.com"}); m != "x{email} (a{b}@example.com) created an account." {
		t.Errorf("braces: %q", m)
	}
	if title, m := NotificationText("NOPE", "en", data); title != "" || m != "" {
		t.Errorf("unknown type: %q %q", title, m)
	}
}

// TestNotifyUserTx writes in the user's language, deduplicates by key, and
// refuses an unknown user.
func TestNotifyUserTx(t *testing.T) {
	t.Parallel()
	pool := sqltest.New(t)
	ctx := context.Background()
	rw := insertUser(t, pool, "aline", auth.Kinyarwanda, auth.RoleCustomer)
	n := Notice{Type: NotifDepositConfirmed, Data: map[string]any{"amount": "1000", "balance_after": "1000.00", "currency": "RWF"}, DedupKey: "entry:1"}
	var ids []int64
	for range 2 {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			id, err := NotifyUserTx(ctx, tx, rw.ID, n)
			ids = append(ids, id)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if ids[0] == 0 || ids[1] != 0 {
		t.Fatalf("ids %v: want a new row, then 0 for the duplicate", ids)
	}
	ns := notifications(t, pool)
	if len(ns) != 1 || ns[0].Title != "Amafaranga wabikije yakiriwe" || ns[0].Meta["amount"] != "1000" {
		t.Fatalf("%+v", ns)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := NotifyUserTx(ctx, tx, rw.ID+1000, Notice{Type: NotifPasswordReset})
		return err
	})
	if !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("unknown user: %v", err)
	}
}

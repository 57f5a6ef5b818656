package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
)

// Administration: every route under /api/admin/ is behind s.admin (an
// active admin, re-read from the database; auditors and customers get 403).
// Every admin write runs in one transaction with its audit record
// (auth.Service.AuditTx), so that the record exists if and only if the
// change committed: READ COMMITTED for identity changes, the ledger's
// SERIALIZABLE transaction (with its retries) when money moves.
//
// api/admin_users.go serves the user administration, api/admin_money.go
// the transactions, adjustments and analytics, api/admin_activity.go the
// login activity and the audit log.

// actor is the calling admin as the audit log records them.
func (s *server) actor(r *http.Request) auth.Actor {
	return auth.Actor{UserID: currentUser(r.Context()).UserID, Client: client(r), RequestID: requestID(r.Context())}
}

// inTx runs fn in one READ COMMITTED transaction, committed when fn
// returns nil.
func (s *server) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// decideDeviceAudited is an admin's decision on a device with its audit
// record, in one transaction.
func (s *server) decideDeviceAudited(r *http.Request, id int64, approve bool) (auth.Device, error) {
	ctx, a := r.Context(), s.actor(r)
	var d auth.Device
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		before, after, err := s.auth.DecideDeviceTx(ctx, tx, a.UserID, id, approve)
		if err != nil {
			return err
		}
		d = after
		action := auth.ActionDeviceReject
		if approve {
			action = auth.ActionDeviceApprove
		}
		return s.auth.AuditTx(ctx, tx, a, auth.AuditRecord{
			Action: action, TargetType: auth.TargetDevice, TargetID: id, TargetUserID: after.UserID,
			Before: map[string]any{"status": before.Status, "device_id": before.DeviceID, "name": before.Name},
			After:  map[string]any{"status": after.Status},
		})
	})
	return d, err
}

// announceAudited accepts an admin's announcement with its audit record,
// in one transaction.
func (s *server) announceAudited(r *http.Request, na jobs.NewAnnouncement) (jobs.Announcement, error) {
	ctx, a := r.Context(), s.actor(r)
	var res jobs.Announcement
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if res, err = s.inbox.AnnounceTx(ctx, tx, na); err != nil {
			return err
		}
		audience := "all"
		if na.UserID != 0 {
			audience = "user"
		}
		return s.auth.AuditTx(ctx, tx, a, auth.AuditRecord{
			Action: auth.ActionAnnouncement, TargetType: auth.TargetAnnouncement, TargetID: res.ID, TargetUserID: na.UserID,
			After: map[string]any{
				"title": na.Title, "message": na.Message, "audience": audience, "send_email": na.SendEmail,
				"recipients": res.Recipients,
			},
		})
	})
	return res, err
}

// encodeTimeCursor makes a keyset position (a time and an id, newest
// first) opaque. It names only a position, so it needs no signature.
func encodeTimeCursor(at time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "t.%d.%d", at.UnixMicro(), id))
}

// decodeTimeCursor reads the cursor parameter of q; absent is ok false.
func decodeTimeCursor(q url.Values) (at time.Time, id int64, ok bool, err error) {
	v := q.Get("cursor")
	if v == "" {
		return time.Time{}, 0, false, nil
	}
	bad := fieldError("cursor", "Not a cursor from this list; start again without one.")
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return time.Time{}, 0, false, bad
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != "t" {
		return time.Time{}, 0, false, bad
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, 0, false, bad
	}
	return time.UnixMicro(us).UTC(), id, true, nil
}

// nextLink is the URL of the next page: this request's with the query
// parameter key set to value.
func (s *server) nextLink(r *http.Request, key, value string) string {
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		q[k] = vs
	}
	q.Set(key, value)
	return s.absoluteURL(r, q)
}

// setNextHeaders gives a bare-array answer its next page: the cursor in
// X-Next-Cursor and the URL in a Link header (RFC 8288).
func (s *server) setNextHeaders(w http.ResponseWriter, r *http.Request, key, value string) {
	w.Header().Set("X-Next-Cursor", value)
	w.Header().Set("Link", "<"+s.nextLink(r, key, value)+`>; rel="next"`)
}

// queryPositive reads an optional positive integer parameter, def when
// absent, clamped to max.
func queryPositive(q url.Values, field string, def, max int) (int, error) {
	n, err := positiveInt(q, field, def)
	if err != nil {
		return 0, err
	}
	return min(n, max), nil
}

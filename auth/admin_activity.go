package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LoginAttempt is a row of login activity: one log-in attempt.
type LoginAttempt struct {
	ID        int64
	UserID    *int64 // nil when no account matched
	Username  string // the account's, or the identifier as typed
	Email     string
	DeviceID  string
	IP        string // empty when unknown
	UserAgent string
	Success   bool
	Reason    string
	Message   string
	CreatedAt time.Time
}

// ActivityCursor is a position in the login activity, newest first: the
// attempts strictly older come next.
type ActivityCursor struct {
	At time.Time
	ID int64
}

// ActivityQuery selects login activity, newest first. Zero fields do not
// filter.
type ActivityQuery struct {
	// Search keeps attempts whose username, email, device id, IP address,
	// user agent or message contains it (any case), or whose reason it is.
	Search string
	// User is an account's id or username (any case): its attempts. A name
	// that matches no account keeps the attempts typed with that name.
	User string
	// Email keeps attempts whose email contains it (any case).
	Email    string
	From, To time.Time // inclusive
	After    *ActivityCursor
	Limit    int // 0 means 100; at most 500
}

// LoginActivity returns the attempts matching q, newest first, keyset-paged
// on (created_at, id) through login_activity's indexes (the per-account one
// when q names an account): the cost of a page does not grow with its
// depth.
func (s *Service) LoginActivity(ctx context.Context, q ActivityQuery) ([]LoginAttempt, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if ref := strings.TrimSpace(q.User); ref != "" {
		var id int64
		if n, err := strconv.ParseInt(ref, 10, 64); err == nil {
			id = n
		} else if err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE lower(username) = lower($1)`, ref).Scan(&id); err != nil {
			if !errors.Is(err, pgx.ErrNoRows) {
				return nil, err
			}
			id = 0
		}
		if id != 0 {
			conds = append(conds, "la.user_id = "+arg(id))
		} else {
			conds = append(conds, "la.user_id IS NULL AND lower(la.username) = lower("+arg(ref)+")")
		}
	}
	if e := strings.TrimSpace(q.Email); e != "" {
		conds = append(conds, "lower(la.email) LIKE "+arg("%"+likeEscape(strings.ToLower(e))+"%"))
	}
	if search := strings.TrimSpace(q.Search); search != "" {
		p := arg("%" + likeEscape(strings.ToLower(search)) + "%")
		conds = append(conds, `(lower(la.username) LIKE `+p+` OR lower(la.email) LIKE `+p+` OR lower(la.device_id) LIKE `+p+
			` OR coalesce(host(la.ip_address), '') LIKE `+p+` OR lower(la.user_agent) LIKE `+p+` OR lower(la.message) LIKE `+p+
			` OR la.reason = `+arg(strings.ToLower(search))+`)`)
	}
	if !q.From.IsZero() {
		conds = append(conds, "la.created_at >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		conds = append(conds, "la.created_at <= "+arg(q.To))
	}
	if q.After != nil {
		conds = append(conds, "(la.created_at, la.id) < ("+arg(q.After.At)+"::timestamptz, "+arg(q.After.ID)+"::bigint)")
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.pool.Query(ctx, `
		SELECT la.id, la.user_id, la.username, la.email, la.device_id, coalesce(host(la.ip_address), ''),
		       la.user_agent, la.success, la.reason, la.message, la.created_at
		  FROM login_activity la `+where+`
		 ORDER BY la.created_at DESC, la.id DESC
		 LIMIT `+arg(clamp(q.Limit, 100, 500)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []LoginAttempt{}
	for rows.Next() {
		var a LoginAttempt
		if err := rows.Scan(&a.ID, &a.UserID, &a.Username, &a.Email, &a.DeviceID, &a.IP, &a.UserAgent,
			&a.Success, &a.Reason, &a.Message, &a.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

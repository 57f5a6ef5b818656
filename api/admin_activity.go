package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/creditjambo/creditjambo/auth"
)

// loginActivityJSON is a log-in attempt (compat: id, username, email,
// device_id, ip_address, user_agent, success, message, created_at; user_id
// and reason are ours).
type loginActivityJSON struct {
	ID        int64   `json:"id"`
	UserID    *int64  `json:"user_id"`
	Username  string  `json:"username"`
	Email     string  `json:"email"`
	DeviceID  string  `json:"device_id"`
	IPAddress *string `json:"ip_address"`
	UserAgent string  `json:"user_agent"`
	Success   bool    `json:"success"`
	Reason    string  `json:"reason"`
	Message   string  `json:"message"`
	CreatedAt string  `json:"created_at"`
}

// adminLoginActivity lists log-in attempts, newest first:
// ?q=&user=<id or username>&email=&from=&to=&limit= (default 100, at most
// 500). A bare array (compat); when there is more, X-Next-Cursor holds the
// cursor of the next page (?cursor=) and a Link header its URL.
func (s *server) adminLoginActivity(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	aq := auth.ActivityQuery{Search: q.Get("q"), User: q.Get("user"), Email: q.Get("email")}
	var err error
	if aq.From, aq.To, err = s.queryRange(q); err != nil {
		return err
	}
	limit, err := queryPositive(q, "limit", 100, 500)
	if err != nil {
		return err
	}
	at, id, ok, err := decodeTimeCursor(q)
	if err != nil {
		return err
	}
	if ok {
		aq.After = &auth.ActivityCursor{At: at, ID: id}
	}
	aq.Limit = limit + 1
	rows, err := s.auth.LoginActivity(r.Context(), aq)
	if err != nil {
		return err
	}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		s.setNextHeaders(w, r, "cursor", encodeTimeCursor(last.CreatedAt, last.ID))
	}
	out := make([]loginActivityJSON, 0, len(rows))
	for _, a := range rows {
		j := loginActivityJSON{
			ID: a.ID, UserID: a.UserID, Username: a.Username, Email: a.Email, DeviceID: a.DeviceID,
			UserAgent: a.UserAgent, Success: a.Success, Reason: a.Reason, Message: a.Message, CreatedAt: formatTime(a.CreatedAt),
		}
		if a.IP != "" {
			ip := a.IP
			j.IPAddress = &ip
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// auditEntryJSON is an audit record.
type auditEntryJSON struct {
	ID            int64           `json:"id"`
	CreatedAt     string          `json:"created_at"`
	ActorID       int64           `json:"actor_id"`
	ActorUsername string          `json:"actor_username"`
	Action        string          `json:"action"`
	TargetType    string          `json:"target_type"`
	TargetID      *int64          `json:"target_id"`
	TargetUserID  *int64          `json:"target_user_id"`
	Before        json.RawMessage `json:"before"`
	After         json.RawMessage `json:"after"`
	IPAddress     *string         `json:"ip_address"`
	UserAgent     string          `json:"user_agent"`
	RequestID     string          `json:"request_id"`
}

// adminAuditLog lists the audit log, newest first: ?actor=<id or
// username>&action=<action, or a subject such as "user">&target_type=
// &target_id=&user=<id or username: the user concerned>&from=&to=
// &cursor=&limit= (default 50, at most 500) → {next, next_cursor, results}.
func (s *server) adminAuditLog(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	var aq auth.AuditQuery
	for field, dst := range map[string]*int64{"actor": &aq.ActorID, "user": &aq.TargetUserID} {
		if ref := q.Get(field); ref != "" {
			u, err := s.auth.FindUser(ctx, ref)
			if errors.Is(err, auth.ErrNotFound) {
				return fieldError(field, "No user has this id or username.")
			}
			if err != nil {
				return err
			}
			*dst = u.ID
		}
	}
	aq.Action, aq.TargetType = q.Get("action"), q.Get("target_type")
	if v := q.Get("target_id"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fieldError("target_id", "Expected a positive integer.")
		}
		aq.TargetID = n
	}
	var err error
	if aq.From, aq.To, err = s.queryRange(q); err != nil {
		return err
	}
	if aq.BeforeID, err = decodeCursor(r); err != nil {
		return err
	}
	limit, err := queryPositive(q, "limit", 50, 500)
	if err != nil {
		return err
	}
	aq.Limit = limit + 1
	rows, err := s.auth.AuditLog(ctx, aq)
	if err != nil {
		return err
	}
	out := struct {
		Next       *string          `json:"next"`
		NextCursor *string          `json:"next_cursor"`
		Results    []auditEntryJSON `json:"results"`
	}{Results: make([]auditEntryJSON, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		c := encodeCursor(rows[len(rows)-1].ID)
		next := s.nextLink(r, "cursor", c)
		out.NextCursor, out.Next = &c, &next
	}
	null := json.RawMessage("null")
	for _, e := range rows {
		j := auditEntryJSON{
			ID: e.ID, CreatedAt: formatTime(e.At), ActorID: e.ActorID, ActorUsername: e.ActorUsername,
			Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, TargetUserID: e.TargetUserID,
			Before: e.Before, After: e.After, UserAgent: e.UserAgent, RequestID: e.RequestID,
		}
		if j.Before == nil {
			j.Before = null
		}
		if j.After == nil {
			j.After = null
		}
		if e.IP != "" {
			ip := e.IP
			j.IPAddress = &ip
		}
		out.Results = append(out.Results, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

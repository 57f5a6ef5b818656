package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/creditjambo/creditjambo/jobs"
)

// notificationJSON is a notification (compat: the frontend shows body, and
// the admin pages read is_read; they repeat message and read).
type notificationJSON struct {
	ID        int64           `json:"id"`
	NotifType string          `json:"notif_type"`
	Title     string          `json:"title"`
	Message   string          `json:"message"`
	Body      string          `json:"body"`
	Meta      json.RawMessage `json:"meta"`
	Read      bool            `json:"read"`
	IsRead    bool            `json:"is_read"`
	CreatedAt string          `json:"created_at"`
}

func toNotificationJSON(e jobs.InboxEntry) notificationJSON {
	meta := e.Meta
	if len(meta) == 0 {
		meta = json.RawMessage("{}")
	}
	read := e.ReadAt != nil
	return notificationJSON{
		ID: e.ID, NotifType: e.Type, Title: e.Title, Message: e.Message, Body: e.Message,
		Meta: meta, Read: read, IsRead: read, CreatedAt: formatTime(e.CreatedAt),
	}
}

// listNotifications is the caller's inbox, newest first, at most 100;
// ?unread=true keeps the unread ones. Users and admins alike see only their
// own.
func (s *server) listNotifications(w http.ResponseWriter, r *http.Request) error {
	unread := false
	switch q := strings.ToLower(r.URL.Query().Get("unread")); q {
	case "true", "1":
		unread = true
	case "", "false", "0":
	default:
		return fieldError("unread", `Use "true" or "false".`)
	}
	es, err := s.inbox.List(r.Context(), currentUser(r.Context()).UserID, unread)
	if err != nil {
		return err
	}
	out := make([]notificationJSON, 0, len(es))
	for _, e := range es {
		out = append(out, toNotificationJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) unreadNotifications(w http.ResponseWriter, r *http.Request) error {
	n, err := s.inbox.UnreadCount(r.Context(), currentUser(r.Context()).UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int64{"count": n})
	return nil
}

// markNotificationRead answers with the notification, now read; another
// user's notification is 404.
func (s *server) markNotificationRead(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	e, err := s.inbox.MarkRead(r.Context(), currentUser(r.Context()).UserID, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toNotificationJSON(e))
	return nil
}

func (s *server) markAllNotificationsRead(w http.ResponseWriter, r *http.Request) error {
	n, err := s.inbox.MarkAllRead(r.Context(), currentUser(r.Context()).UserID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int64{"marked": n})
	return nil
}

// Bounds of an announcement.
const (
	maxAnnouncementTitle   = 200
	maxAnnouncementMessage = 5000
)

type announceRequest struct {
	Title     *string `json:"title"`
	Message   *string `json:"message"`
	UserID    *int64  `json:"user_id"`
	Audience  *string `json:"audience"`
	SendEmail *bool   `json:"send_email"`
}

// parse turns the request into an announcement by the caller, or a 400
// naming every bad field.
func (q announceRequest) parse(adminID int64) (jobs.NewAnnouncement, error) {
	errs := map[string][]string{}
	a := jobs.NewAnnouncement{CreatedBy: adminID, SendEmail: q.SendEmail != nil && *q.SendEmail}
	a.Title = announcementText(errs, "title", q.Title, maxAnnouncementTitle, false)
	a.Message = announcementText(errs, "message", q.Message, maxAnnouncementMessage, true)
	switch {
	case q.Audience != nil && *q.Audience != "all":
		errs["audience"] = append(errs["audience"], `The only audience is "all"; to write to one user, give user_id instead.`)
	case q.Audience != nil && q.UserID != nil:
		errs["audience"] = append(errs["audience"], `Give either user_id or audience "all", not both.`)
	case q.Audience == nil && q.UserID == nil:
		errs["audience"] = append(errs["audience"], `Give either user_id or audience "all".`)
	case q.UserID != nil && *q.UserID <= 0:
		errs["user_id"] = append(errs["user_id"], "No active user has this id.")
	case q.UserID != nil:
		a.UserID = *q.UserID
	}
	if len(errs) > 0 {
		return a, invalidFields(errs)
	}
	return a, nil
}

// announcementText checks one required text field: trimmed, 1 to maxLen
// characters, no control characters; a multiline text may hold line breaks
// and tabs.
func announcementText(errs map[string][]string, field string, v *string, maxLen int, multiline bool) string {
	bad := func(msg string) string {
		errs[field] = append(errs[field], msg)
		return ""
	}
	if v == nil || strings.TrimSpace(*v) == "" {
		return bad("This field is required.")
	}
	s := strings.TrimSpace(*v)
	switch {
	case !multiline && strings.ContainsAny(s, "\r\n"):
		return bad("Use a single line.")
	case utf8.RuneCountInString(s) > maxLen:
		return bad("Use at most " + strconv.Itoa(maxLen) + " characters.")
	case strings.IndexFunc(s, func(c rune) bool {
		return unicode.IsControl(c) && !(multiline && strings.ContainsRune("\n\r\t", c))
	}) >= 0:
		return bad("Remove the control characters.")
	}
	return s
}

// invalidFields is a 400 with every field's messages; detail names the
// first field in alphabetical order.
func invalidFields(errs map[string][]string) *Error {
	first := ""
	for f := range errs {
		if first == "" || f < first {
			first = f
		}
	}
	return &Error{Status: http.StatusBadRequest, Code: "invalid", Detail: first + ": " + errs[first][0], Fields: errs}
}

// announce accepts an admin's announcement to one active user or to every
// active user: 202 with its id and the recipients counted now; a job
// delivers it.
func (s *server) announce(w http.ResponseWriter, r *http.Request) error {
	var req announceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	a, err := req.parse(currentUser(r.Context()).UserID)
	if err != nil {
		return err
	}
	res, err := s.announceAudited(r, a) // with its audit record (api/admin.go)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]int64{"id": res.ID, "recipients": res.Recipients})
	return nil
}

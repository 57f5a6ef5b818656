package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit actions: what an admin did. Each is "<subject>.<verb>".
const (
	ActionUserCreate      = "user.create"
	ActionUserUpdate      = "user.update"
	ActionUserDelete      = "user.delete"
	ActionUserSetPassword = "user.set_password"
	ActionUserSetRole     = "user.set_role"
	ActionUserSetActive   = "user.set_active"
	ActionWalletAdjust    = "wallet.adjust"
	ActionDeviceApprove   = "device.approve"
	ActionDeviceReject    = "device.reject"
	ActionAnnouncement    = "announcement.create"
)

// Audit target types: what an action was done to.
const (
	TargetUser         = "user"
	TargetDevice       = "device"
	TargetEntry        = "ledger_entry"
	TargetAnnouncement = "announcement"
)

// Actor is the admin who makes a change, and from where.
type Actor struct {
	UserID    int64
	Client    Client
	RequestID string
}

// AuditRecord is one admin write as the audit log keeps it.
type AuditRecord struct {
	Action     string // one of the Action constants
	TargetType string // one of the Target constants
	TargetID   int64  // 0 for none
	// TargetUserID is the user the change concerns (0 for none): the
	// account, a device's owner, an adjusted wallet's owner.
	TargetUserID int64
	// Before and After are JSON-encodable snapshots of what changed; nil
	// for none. They must never hold a secret (a password, a hash, a code).
	Before, After any
}

// AuditEntry is a stored audit record.
type AuditEntry struct {
	ID            int64
	At            time.Time
	ActorID       int64
	ActorUsername string
	Action        string
	TargetType    string
	TargetID      *int64
	TargetUserID  *int64
	Before, After json.RawMessage // nil when none
	IP            string          // empty when unknown
	UserAgent     string
	RequestID     string
}

// AuditTx appends rec, done by a, to the audit log in tx: the transaction of
// the change it records, so that the record exists if and only if the
// change committed. The log is append-only (the database refuses UPDATE,
// DELETE and TRUNCATE).
func (s *Service) AuditTx(ctx context.Context, tx pgx.Tx, a Actor, rec AuditRecord) error {
	before, err := auditJSON(rec.Before)
	if err != nil {
		return err
	}
	after, err := auditJSON(rec.After)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO audit_log (created_at, actor_id, actor_username, action, target_type, target_id, target_user_id,
		                       before, after, ip_address, user_agent, request_id)
		VALUES ($1, $2, coalesce((SELECT username FROM users WHERE id = $2), ''), $3, $4, $5, $6,
		        $7::jsonb, $8::jsonb, $9::inet, $10, $11)`,
		s.now(), a.UserID, rec.Action, rec.TargetType, nullID(rec.TargetID), nullID(rec.TargetUserID),
		before, after, ipParam(a.Client.IP), truncate(a.Client.UserAgent, maxUserAgentLen), a.RequestID)
	if err != nil {
		return fmt.Errorf("auth: audit %s: %w", rec.Action, err)
	}
	return nil
}

func auditJSON(v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("auth: audit snapshot: %w", err)
	}
	s := string(b)
	return &s, nil
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

// AuditQuery selects audit records, newest first. Zero fields do not
// filter.
type AuditQuery struct {
	ActorID int64
	// Action is an exact action ("user.update") or, without a dot, every
	// action on a subject ("user").
	Action       string
	TargetType   string
	TargetID     int64
	TargetUserID int64
	From, To     time.Time // inclusive bounds on the time of the record
	BeforeID     int64     // keyset: records older than this id
	Limit        int       // 0 means 50; at most 500
}

// AuditLog returns the audit records matching q, newest first; each filter
// is served by an index of audit_log.
func (s *Service) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.ActorID != 0 {
		conds = append(conds, "actor_id = "+arg(q.ActorID))
	}
	switch {
	case q.Action == "":
	case strings.Contains(q.Action, "."):
		conds = append(conds, "action = "+arg(q.Action))
	default:
		conds = append(conds, "action LIKE "+arg(likeEscape(q.Action)+".%"))
	}
	if q.TargetType != "" {
		conds = append(conds, "target_type = "+arg(q.TargetType))
	}
	if q.TargetID != 0 {
		conds = append(conds, "target_id = "+arg(q.TargetID))
	}
	if q.TargetUserID != 0 {
		conds = append(conds, "target_user_id = "+arg(q.TargetUserID))
	}
	if !q.From.IsZero() {
		conds = append(conds, "created_at >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		conds = append(conds, "created_at <= "+arg(q.To))
	}
	if q.BeforeID > 0 {
		conds = append(conds, "id < "+arg(q.BeforeID))
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	rows, err := s.pool.Query(ctx, `
		SELECT id, created_at, actor_id, actor_username, action, target_type, target_id, target_user_id,
		       before::text, after::text, coalesce(host(ip_address), ''), user_agent, request_id
		  FROM audit_log `+where+`
		 ORDER BY id DESC
		 LIMIT `+arg(clamp(q.Limit, 50, 500)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		var before, after *string
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorUsername, &e.Action, &e.TargetType, &e.TargetID,
			&e.TargetUserID, &before, &after, &e.IP, &e.UserAgent, &e.RequestID); err != nil {
			return nil, err
		}
		if before != nil {
			e.Before = json.RawMessage(*before)
		}
		if after != nil {
			e.After = json.RawMessage(*after)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// likeEscape escapes the LIKE wildcards of s (the escape character is the
// default backslash).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// clamp is n within [1, max], def when n is not positive.
func clamp(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

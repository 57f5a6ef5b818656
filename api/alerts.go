package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
)

// ruleJSON is a low-balance rule (compat): user is null for the global
// rule.
type ruleJSON struct {
	ID        int64  `json:"id"`
	User      *int64 `json:"user"`
	Threshold string `json:"threshold"`
	Enabled   bool   `json:"enabled"`
	CreatedAt string `json:"created_at"`
}

func toRuleJSON(r ledger.LowBalanceRule) ruleJSON {
	out := ruleJSON{ID: r.ID, Threshold: ledger.FormatMoney(r.Threshold), Enabled: r.Enabled, CreatedAt: formatTime(r.CreatedAt)}
	if r.UserID != 0 {
		u := r.UserID
		out.User = &u
	}
	return out
}

// isAdmin reports whether the caller is an admin now: the token's role,
// confirmed on the account as s.admin does, so that a demoted admin loses
// the global rule at once.
func (s *server) isAdmin(ctx context.Context) (bool, error) {
	p := currentUser(ctx)
	if p.Role != auth.RoleAdmin {
		return false, nil
	}
	u, err := s.auth.User(ctx, p.UserID)
	if errors.Is(err, auth.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.Active() && u.Role == auth.RoleAdmin, nil
}

// listRules answers the caller's rule and, for an admin, the global rule
// first.
func (s *server) listRules(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.isAdmin(r.Context())
	if err != nil {
		return err
	}
	rules, err := s.ledger.LowBalanceRules(r.Context(), currentUser(r.Context()).UserID, admin)
	if err != nil {
		return err
	}
	out := make([]ruleJSON, 0, len(rules))
	for _, rl := range rules {
		out = append(out, toRuleJSON(rl))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type ruleRequest struct {
	// User is absent (or the caller's id) for the caller's own rule, null
	// for the global rule (admins only).
	User      json.RawMessage `json:"user"`
	Threshold json.RawMessage `json:"threshold"`
	Enabled   *bool           `json:"enabled"`
}

func (s *server) createRule(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := currentUser(ctx)
	var req ruleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	owner := p.UserID
	switch u := string(req.User); {
	case u == "null":
		admin, err := s.isAdmin(ctx)
		if err != nil {
			return err
		}
		if !admin {
			return &Error{Status: http.StatusForbidden, Code: "permission_denied", Detail: "Only administrators can set the global rule."}
		}
		owner = 0
	case u != "":
		var id int64
		if err := json.Unmarshal(req.User, &id); err != nil || id != p.UserID {
			return fieldError("user", "Leave it out for your own rule (or null, for administrators, for the global rule).")
		}
	}
	threshold, err := parseAmount("threshold", req.Threshold)
	if err != nil {
		return err
	}
	enabled := true
	if req.Enabled != nil {
		enabled = *req.Enabled
	}
	rule, err := s.ledger.CreateLowBalanceRule(ctx, owner, threshold, enabled)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toRuleJSON(rule))
	return nil
}

// ownRule is the rule of the route's id if the caller may manage it: their
// own, or the global rule for an admin. Anything else is 404, so that
// another user's rule cannot be told from none.
func (s *server) ownRule(r *http.Request) (ledger.LowBalanceRule, error) {
	id, err := pathID(r)
	if err != nil {
		return ledger.LowBalanceRule{}, err
	}
	rule, err := s.ledger.LowBalanceRule(r.Context(), id)
	if err != nil {
		return ledger.LowBalanceRule{}, err
	}
	if rule.UserID == currentUser(r.Context()).UserID {
		return rule, nil
	}
	if rule.UserID == 0 {
		admin, err := s.isAdmin(r.Context())
		if err != nil {
			return ledger.LowBalanceRule{}, err
		}
		if admin {
			return rule, nil
		}
	}
	return ledger.LowBalanceRule{}, errNotFound
}

func (s *server) getRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := s.ownRule(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRuleJSON(rule))
	return nil
}

type rulePatch struct {
	Threshold json.RawMessage `json:"threshold"`
	Enabled   *bool           `json:"enabled"`
}

func (s *server) updateRule(w http.ResponseWriter, r *http.Request) error {
	var req rulePatch
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	var threshold *ledger.Amount
	if len(req.Threshold) > 0 {
		t, err := parseAmount("threshold", req.Threshold)
		if err != nil {
			return err
		}
		threshold = &t
	}
	rule, err := s.ownRule(r)
	if err != nil {
		return err
	}
	rule, err = s.ledger.UpdateLowBalanceRule(r.Context(), rule.ID, threshold, req.Enabled)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toRuleJSON(rule))
	return nil
}

func (s *server) deleteRule(w http.ResponseWriter, r *http.Request) error {
	rule, err := s.ownRule(r)
	if err != nil {
		return err
	}
	if err := s.ledger.DeleteLowBalanceRule(r.Context(), rule.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
)

// Reasons recorded on the adjustments that user administration posts when
// the admin gives none.
const (
	reasonOpening     = "opening balance"
	reasonBalanceEdit = "balance edited by an admin"
)

// errSelfAdjustment refuses an admin moving money in their own wallet.
var errSelfAdjustment = &Error{
	Status: http.StatusBadRequest, Code: "cannot_change_self",
	Detail: "You cannot adjust your own balance; ask another admin.",
}

// adminUserJSON is an account as the admin pages read it (compat: id,
// username, email, balance, is_active, is_staff, role, email_verified,
// date_joined, last_login; the rest is ours).
type adminUserJSON struct {
	ID            int64   `json:"id"`
	Username      string  `json:"username"`
	Email         string  `json:"email"`
	Balance       string  `json:"balance"`
	IsActive      bool    `json:"is_active"`
	IsStaff       bool    `json:"is_staff"`
	Role          string  `json:"role"`
	EmailVerified bool    `json:"email_verified"`
	DateJoined    string  `json:"date_joined"`
	LastLogin     *string `json:"last_login"`
	FirstName     string  `json:"first_name"`
	LastName      string  `json:"last_name"`
	Language      string  `json:"language"`
	IsSuperuser   bool    `json:"is_superuser"`
	DeletedAt     *string `json:"deleted_at"`
}

func toAdminUserJSON(u auth.AdminUser) adminUserJSON {
	return adminUserJSON{
		ID: u.ID, Username: u.Username, Email: u.Email, Balance: ledger.FormatMoney(u.Balance),
		IsActive: u.Active(), IsStaff: u.IsStaff(), Role: string(u.Role), EmailVerified: u.EmailVerified,
		DateJoined: formatTime(u.DateJoined), LastLogin: formatTimePtr(u.LastLogin),
		FirstName: u.FirstName, LastName: u.LastName, Language: string(u.Language),
		IsSuperuser: u.IsSuperuser, DeletedAt: formatTimePtr(u.DeletedAt),
	}
}

// writeAdminUser answers with the account as it is now.
func (s *server) writeAdminUser(w http.ResponseWriter, r *http.Request, status int, id int64) error {
	u, err := s.auth.AdminUser(r.Context(), id, s.savings.Currency)
	if err != nil {
		return err
	}
	writeJSON(w, status, toAdminUserJSON(u))
	return nil
}

// adminListUsers is the user list: ?search= (username, email, names or
// id), ?ordering= (date_joined, last_login, username, email, balance, id,
// each with "-"; default -date_joined), ?limit= (default 100, at most 1000)
// and ?offset=. A bare array (compat); a Link header gives the next page.
func (s *server) adminListUsers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ordering := q.Get("ordering")
	if ordering != "" && !auth.ValidUserOrdering(ordering) {
		return fieldError("ordering", "Order by "+strings.Join(auth.UserOrderings, ", ")+", each with - for descending.")
	}
	limit, err := queryPositive(q, "limit", 100, auth.MaxAdminUsers)
	if err != nil {
		return err
	}
	offset := 0
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return fieldError("offset", "Expected a non-negative integer.")
		}
	}
	users, err := s.auth.AdminUsers(r.Context(), auth.UserQuery{
		Search: q.Get("search"), Ordering: ordering, Currency: s.savings.Currency, Limit: limit + 1, Offset: offset,
	})
	if err != nil {
		return authError(w, err)
	}
	if len(users) > limit {
		users = users[:limit]
		w.Header().Set("Link", "<"+s.nextLink(r, "offset", strconv.Itoa(offset+limit))+`>; rel="next"`)
	}
	out := make([]adminUserJSON, 0, len(users))
	for _, u := range users {
		out = append(out, toAdminUserJSON(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) adminGetUser(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	return s.writeAdminUser(w, r, http.StatusOK, id)
}

// adminUserFields are the fields an admin may set on an account.
type adminUserFields struct {
	Username      *string         `json:"username"`
	Email         *string         `json:"email"`
	FirstName     *string         `json:"first_name"`
	LastName      *string         `json:"last_name"`
	Language      *string         `json:"language"`
	Role          *string         `json:"role"`
	IsStaff       *bool           `json:"is_staff"`
	IsActive      *bool           `json:"is_active"`
	EmailVerified *bool           `json:"email_verified"`
	Balance       json.RawMessage `json:"balance"`
	Reason        *string         `json:"reason"`
}

// role resolves role and the compat is_staff into the role to set (nil for
// no change): is_staff true is admin; false demotes an admin to customer
// and leaves other roles as they are. current is the account's role now.
func (f adminUserFields) role(current auth.Role) (*auth.Role, error) {
	var role *auth.Role
	if f.Role != nil {
		r, ok := auth.ParseRole(*f.Role)
		if !ok {
			return nil, fieldError("role", "Choose customer, admin or auditor.")
		}
		role = &r
	}
	if f.IsStaff != nil {
		r := current
		switch {
		case *f.IsStaff:
			r = auth.RoleAdmin
		case current == auth.RoleAdmin:
			r = auth.RoleCustomer
		}
		if role != nil && (*role == auth.RoleAdmin) != *f.IsStaff {
			return nil, fieldError("is_staff", "Contradicts role.")
		}
		if role == nil {
			role = &r
		}
	}
	return role, nil
}

// parseBalance reads a balance to set: the money rules, but zero is a
// balance too. ok is false when the field is absent.
func parseBalance(raw json.RawMessage) (bal decimal.Decimal, ok bool, err error) {
	if len(raw) == 0 {
		return decimal.Decimal{}, false, nil
	}
	lit := strings.Trim(string(raw), `"`)
	if lit == "0" || lit == "0.0" || lit == "0.00" {
		return decimal.Zero, true, nil
	}
	a, err := parseAmount("balance", raw)
	if err != nil {
		return decimal.Decimal{}, false, err
	}
	return a.Decimal(), true, nil
}

// parseReason reads an adjustment's reason: trimmed, 3 to 500 characters,
// no control characters. def is used when it is absent (required when def
// is "").
func parseReason(p *string, def string) (string, error) {
	if p == nil {
		if def == "" {
			return "", fieldError("reason", "This field is required.")
		}
		return def, nil
	}
	reason := strings.TrimSpace(*p)
	switch n := utf8.RuneCountInString(reason); {
	case n < 3 || n > 500:
		return "", fieldError("reason", "Give a reason of 3 to 500 characters.")
	case strings.IndexFunc(reason, unicode.IsControl) >= 0:
		return "", fieldError("reason", "Control characters are not allowed.")
	}
	return reason, nil
}

// adjustmentMeta is the metadata of an adjustment an admin posts.
func adjustmentMeta(r *http.Request, via string) json.RawMessage {
	meta, _ := json.Marshal(map[string]any{
		"source": "admin", "via": via, "request_id": requestID(r.Context()), "admin_id": currentUser(r.Context()).UserID,
	})
	return meta
}

// walletAdjustAudit is the audit record of an adjustment.
func walletAdjustAudit(p ledger.Posting, userID int64, reason string) auth.AuditRecord {
	return auth.AuditRecord{
		Action: auth.ActionWalletAdjust, TargetType: auth.TargetEntry, TargetID: p.Entry.ID, TargetUserID: userID,
		Before: map[string]any{"balance": ledger.FormatMoney(p.BalanceBefore)},
		After: map[string]any{
			"balance": ledger.FormatMoney(p.BalanceAfter), "amount": ledger.FormatMoney(p.BalanceAfter.Sub(p.BalanceBefore)),
			"kind": string(p.Entry.Kind), "reason": reason, "entry_id": p.Entry.ID,
		},
	}
}

// adminCreateUserRequest is adminUserFields with the password. (Flat:
// decodeJSON matches the names of a struct's own fields only.)
type adminCreateUserRequest struct {
	Username        *string         `json:"username"`
	Email           *string         `json:"email"`
	FirstName       *string         `json:"first_name"`
	LastName        *string         `json:"last_name"`
	Language        *string         `json:"language"`
	Role            *string         `json:"role"`
	IsStaff         *bool           `json:"is_staff"`
	IsActive        *bool           `json:"is_active"`
	EmailVerified   *bool           `json:"email_verified"`
	Balance         json.RawMessage `json:"balance"`
	Reason          *string         `json:"reason"`
	Password        *string         `json:"password"`
	ConfirmPassword *string         `json:"confirm_password"`
}

// adminCreateUser creates an account (password rules apply). A non-zero
// balance becomes an opening entry against the adjustments account, posted
// in the same transaction as the account and the audit records.
func (s *server) adminCreateUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req adminCreateUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	opening, _, err := parseBalance(req.Balance)
	if err != nil {
		return err
	}
	if opening.IsNegative() {
		return fieldError("balance", "A balance cannot be negative.")
	}
	reason, err := parseReason(req.Reason, reasonOpening)
	if err != nil {
		return err
	}
	role, err := adminUserFields{Role: req.Role, IsStaff: req.IsStaff}.role(auth.RoleCustomer)
	if err != nil {
		return err
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	nu := auth.NewUser{
		Username: str(req.Username), Email: str(req.Email), Password: str(req.Password),
		FirstName: strings.TrimSpace(str(req.FirstName)), LastName: strings.TrimSpace(str(req.LastName)),
		Language: auth.Language(str(req.Language)), Inactive: req.IsActive != nil && !*req.IsActive,
		EmailVerified: req.EmailVerified != nil && *req.EmailVerified,
	}
	if role != nil {
		nu.Role = *role
	}
	if req.ConfirmPassword != nil && *req.ConfirmPassword != nu.Password {
		return fieldError("confirm_password", "The two passwords do not match.")
	}
	p, err := s.auth.PrepareUser(ctx, nu)
	if err != nil {
		return authError(w, err)
	}
	a := s.actor(r)
	create := func(tx pgx.Tx) error {
		u, err := s.auth.CreateUserTx(ctx, tx, p)
		if err != nil {
			return err
		}
		after := auth.UserSnapshot(u)
		if !opening.IsZero() {
			after["opening_balance"] = ledger.FormatMoney(opening)
		}
		return s.auth.AuditTx(ctx, tx, a, auth.AuditRecord{
			Action: auth.ActionUserCreate, TargetType: auth.TargetUser, TargetID: u.ID, TargetUserID: u.ID, After: after,
		})
	}
	if opening.IsZero() {
		err = s.inTx(ctx, create)
	} else {
		amount, perr := ledger.ParseSignedAmount(ledger.FormatMoney(opening))
		if perr != nil {
			return fieldError("balance", "The amount "+perr.Error()+".")
		}
		// The wallet of the reserved id exists before the SERIALIZABLE
		// transaction (creating it inside would insert into index pages
		// other postings read); if the account is then not created, it
		// stays an empty wallet of an id no account will ever have.
		wallet, werr := s.ledger.Wallet(ctx, p.ID, s.savings.Currency)
		if werr != nil {
			return werr
		}
		err = s.ledger.RunSerializable(ctx, []int64{wallet.ID}, func(tx *ledger.Tx) error {
			if err := create(tx); err != nil {
				return err
			}
			posting, err := s.ledger.AdjustTx(ctx, tx, ledger.AdjustRequest{
				UserID: p.ID, Amount: amount, Currency: s.savings.Currency, Reason: reason, ActorID: a.UserID,
				Opening: true, Metadata: adjustmentMeta(r, "user.create"),
			})
			if err != nil {
				return err
			}
			return s.auth.AuditTx(ctx, tx, a, walletAdjustAudit(posting, p.ID, reason))
		})
	}
	if err != nil {
		return s.savingsError(w, err)
	}
	return s.writeAdminUser(w, r, http.StatusCreated, p.ID)
}

// adminUpdateUser changes an account. A changed balance is never written:
// it posts one adjustment for the difference, with the admin as actor and
// the reason given (or "balance edited by an admin"), in the same
// SERIALIZABLE transaction as the rest of the change and the audit records.
func (s *server) adminUpdateUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req adminUserFields
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	target, setBalance, err := parseBalance(req.Balance)
	if err != nil {
		return err
	}
	if target.IsNegative() {
		return fieldError("balance", "A balance cannot be negative.")
	}
	reason, err := parseReason(req.Reason, reasonBalanceEdit)
	if err != nil {
		return err
	}
	cur, err := s.auth.User(ctx, id)
	if err != nil {
		return err
	}
	role, err := req.role(cur.Role)
	if err != nil {
		return err
	}
	c := auth.UserChange{
		Username: req.Username, Email: req.Email, FirstName: req.FirstName, LastName: req.LastName,
		Language: req.Language, Role: role, Active: req.IsActive, EmailVerified: req.EmailVerified,
	}
	if err := c.Check(); err != nil {
		return authError(w, err)
	}
	a := s.actor(r)
	update := func(tx pgx.Tx) error {
		before, after, err := s.auth.UpdateUserTx(ctx, tx, a, id, c)
		if err != nil || before == after {
			return err
		}
		b, af := auth.UserDiff(before, after)
		return s.auth.AuditTx(ctx, tx, a, auth.AuditRecord{
			Action: auth.ActionUserUpdate, TargetType: auth.TargetUser, TargetID: id, TargetUserID: id, Before: b, After: af,
		})
	}
	if !setBalance {
		if err := s.inTx(ctx, update); err != nil {
			return authError(w, err)
		}
		return s.writeAdminUser(w, r, http.StatusOK, id)
	}
	wallet, err := s.ledger.Wallet(ctx, id, s.savings.Currency)
	if err != nil {
		return err
	}
	err = s.ledger.RunSerializable(ctx, []int64{wallet.ID}, func(tx *ledger.Tx) error {
		if err := update(tx); err != nil {
			return err
		}
		now, err := s.ledger.WalletBalanceTx(ctx, tx, wallet)
		if err != nil {
			return err
		}
		diff := target.Sub(now)
		if diff.IsZero() {
			return nil
		}
		if id == a.UserID {
			return errSelfAdjustment
		}
		amount, err := ledger.ParseSignedAmount(ledger.FormatMoney(diff))
		if err != nil {
			return fieldError("balance", "The change of balance "+err.Error()+".")
		}
		posting, err := s.ledger.AdjustTx(ctx, tx, ledger.AdjustRequest{
			UserID: id, Amount: amount, Currency: s.savings.Currency, Reason: reason, ActorID: a.UserID,
			Metadata: adjustmentMeta(r, "user.update"),
		})
		if err != nil {
			return err
		}
		return s.auth.AuditTx(ctx, tx, a, walletAdjustAudit(posting, id, reason))
	})
	if err != nil {
		return s.savingsError(w, err)
	}
	return s.writeAdminUser(w, r, http.StatusOK, id)
}

// adminDeleteUser closes an account (soft delete): deactivated, marked
// deleted, every session ended; its ledger history stays. Deleting a
// deleted account again changes nothing.
func (s *server) adminDeleteUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	a := s.actor(r)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		before, after, err := s.auth.DeleteUserTx(ctx, tx, a, id)
		if err != nil || before.DeletedAt != nil {
			return err
		}
		b, af := auth.UserDiff(before, after)
		return s.auth.AuditTx(ctx, tx, a, auth.AuditRecord{
			Action: auth.ActionUserDelete, TargetType: auth.TargetUser, TargetID: id, TargetUserID: id, Before: b, After: af,
		})
	})
	if err != nil {
		return authError(w, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type setPasswordRequest struct {
	Password        *string `json:"password"`
	NewPassword     *string `json:"new_password"`
	ConfirmPassword *string `json:"confirm_password"`
}

// adminSetPassword sets an account's password ({password} or
// {new_password}, with an optional confirm_password): every session of the
// account ends and its owner is emailed.
func (s *server) adminSetPassword(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req setPasswordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	field, pw := "password", req.Password
	if pw == nil && req.NewPassword != nil {
		field, pw = "new_password", req.NewPassword
	}
	if pw == nil {
		return fieldError("password", "This field is required.")
	}
	if req.ConfirmPassword != nil && *req.ConfirmPassword != *pw {
		return fieldError("confirm_password", "The two passwords do not match.")
	}
	a := s.actor(r)
	if id == a.UserID { // before the slow hash; SetPasswordTx checks again
		return auth.ErrSelf
	}
	np, err := s.auth.PreparePassword(ctx, id, field, *pw)
	if err != nil {
		return authError(w, err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := s.auth.SetPasswordTx(ctx, tx, a, id, np); err != nil {
			return err
		}
		return s.auth.AuditTx(ctx, tx, a, auth.AuditRecord{
			Action: auth.ActionUserSetPassword, TargetType: auth.TargetUser, TargetID: id, TargetUserID: id,
			After: map[string]any{"password": "changed", "sessions": "revoked"},
		})
	})
	if err != nil {
		return authError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"detail": "Password set. Every session of the user was ended."})
	return nil
}

// adminToggleActive deactivates an active account (ending its sessions)
// or reactivates an inactive one, and answers with the account.
func (s *server) adminToggleActive(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	return s.changeUser(w, r, id, auth.ActionUserSetActive, func(tx pgx.Tx, a auth.Actor) (auth.User, auth.User, error) {
		return s.auth.ToggleActiveTx(r.Context(), tx, a, id)
	})
}

type setRoleRequest struct {
	Role    *string `json:"role"`
	IsStaff *bool   `json:"is_staff"`
}

// adminSetRole sets an account's role: {"role": "customer"|"admin"|
// "auditor"} or the compat {"is_staff": bool}. The account's sessions end
// (access tokens carry the role).
func (s *server) adminSetRole(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var req setRoleRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Role == nil && req.IsStaff == nil {
		return fieldError("role", `Give "role" or "is_staff".`)
	}
	cur, err := s.auth.User(ctx, id)
	if err != nil {
		return err
	}
	role, err := adminUserFields{Role: req.Role, IsStaff: req.IsStaff}.role(cur.Role)
	if err != nil {
		return err
	}
	return s.changeUser(w, r, id, auth.ActionUserSetRole, func(tx pgx.Tx, a auth.Actor) (auth.User, auth.User, error) {
		return s.auth.UpdateUserTx(ctx, tx, a, id, auth.UserChange{Role: role})
	})
}

// changeUser runs an identity change with its audit record (when it
// changed something) in one transaction and answers with the account.
func (s *server) changeUser(w http.ResponseWriter, r *http.Request, id int64, action string,
	change func(tx pgx.Tx, a auth.Actor) (before, after auth.User, err error)) error {
	ctx, a := r.Context(), s.actor(r)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		before, after, err := change(tx, a)
		if err != nil || before == after {
			return err
		}
		b, af := auth.UserDiff(before, after)
		return s.auth.AuditTx(ctx, tx, a, auth.AuditRecord{
			Action: action, TargetType: auth.TargetUser, TargetID: id, TargetUserID: id, Before: b, After: af,
		})
	})
	if err != nil {
		return authError(w, err)
	}
	return s.writeAdminUser(w, r, http.StatusOK, id)
}

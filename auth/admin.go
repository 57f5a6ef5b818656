package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Errors of user administration.
var (
	// ErrSelf refuses an admin deactivating, deleting or demoting their own
	// account, or setting its password without the old one.
	ErrSelf = errors.New("auth: admins cannot deactivate, delete, demote or reset their own account")
	// ErrSuperuser refuses an admin changing a superuser's account: only
	// its owner (within ErrSelf's limits) or the command line may.
	ErrSuperuser = errors.New("auth: a superuser's account is managed only by its owner or from the command line")
	// ErrDeleted refuses changing a deleted (closed) account.
	ErrDeleted = errors.New("auth: the account is deleted")
)

// AdminUser is an account as the admin list shows it, with the balance of
// its wallet (zero without one).
type AdminUser struct {
	User
	Balance decimal.Decimal
}

// UserQuery selects the admin user list.
type UserQuery struct {
	// Search keeps users whose username, email, first or last name
	// contains it (any case), or whose id it is.
	Search string
	// Ordering is one of UserOrderings, "-" first for descending; "" is
	// "-date_joined".
	Ordering string
	// Currency is the wallet currency of Balance (and of the balance
	// ordering).
	Currency      string
	Limit, Offset int // Limit 0 means 100; at most MaxAdminUsers
}

// MaxAdminUsers bounds one page of the admin user list.
const MaxAdminUsers = 1000

// userOrderings are the orderings of the admin list: an SQL ORDER BY with
// %[1]s for the direction, always ending with the id so that pages are
// stable.
var userOrderings = map[string]string{
	"date_joined": `u.date_joined %[1]s, u.id %[1]s`,
	"last_login":  `u.last_login %[1]s NULLS LAST, u.id %[1]s`,
	"username":    `lower(u.username) %[1]s, u.id %[1]s`,
	"email":       `u.email %[1]s, u.id %[1]s`,
	// The balance is the wallet head's, through the wallet_balances view
	// (sql/migrations/0007_admin.sql): one join, whatever the history.
	"balance": `coalesce(w.balance, 0) %[1]s, u.id %[1]s`,
	"id":      `u.id %[1]s`,
}

// UserOrderings are the names Ordering accepts, each also with "-".
var UserOrderings = []string{"date_joined", "last_login", "username", "email", "balance", "id"}

// ValidUserOrdering reports whether o is an ordering of the admin list.
func ValidUserOrdering(o string) bool {
	_, ok := userOrderings[strings.TrimPrefix(o, "-")]
	return ok
}

const adminUserFrom = `users u LEFT JOIN wallet_balances w ON w.user_id = u.id AND w.currency = $1`

func scanAdminUser(row pgx.Row) (AdminUser, error) {
	var bal decimal.NullDecimal
	u, err := scanUser(row, &bal)
	return AdminUser{User: u, Balance: bal.Decimal}, err
}

// AdminUsers returns a page of the admin user list: deleted accounts
// included (inactive, with DeletedAt), ordered by q.Ordering.
func (s *Service) AdminUsers(ctx context.Context, q UserQuery) ([]AdminUser, error) {
	ordering := q.Ordering
	if ordering == "" {
		ordering = "-date_joined"
	}
	name, dir := strings.TrimPrefix(ordering, "-"), "ASC"
	if strings.HasPrefix(ordering, "-") {
		dir = "DESC"
	}
	order, ok := userOrderings[name]
	if !ok {
		return nil, &InvalidError{Fields: map[string][]string{"ordering": {"Order by " + strings.Join(UserOrderings, ", ") + ", each with - for descending."}}}
	}
	args := []any{q.Currency}
	where := ""
	if search := strings.TrimSpace(q.Search); search != "" {
		args = append(args, "%"+likeEscape(strings.ToLower(search))+"%")
		where = `WHERE (lower(u.username) LIKE $2 OR u.email LIKE $2 OR lower(u.first_name) LIKE $2 OR lower(u.last_name) LIKE $2`
		if id, err := strconv.ParseInt(search, 10, 64); err == nil {
			args = append(args, id)
			where += ` OR u.id = $3`
		}
		where += `)`
	}
	args = append(args, clamp(q.Limit, 100, MaxAdminUsers), max(q.Offset, 0))
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`
		SELECT `+userColumns+`, w.balance FROM `+adminUserFrom+` `+where+`
		 ORDER BY `+order+`
		 LIMIT $%d OFFSET $%d`, dir, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AdminUser{}
	for rows.Next() {
		u, err := scanAdminUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// AdminUser returns the account with id as the admin list shows it, or
// ErrNotFound.
func (s *Service) AdminUser(ctx context.Context, id int64, currency string) (AdminUser, error) {
	return scanAdminUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+`, w.balance FROM `+adminUserFrom+` WHERE u.id = $2`, currency, id))
}

// FindUser returns the account named by ref: an id, or a username in any
// case. ErrNotFound when none.
func (s *Service) FindUser(ctx context.Context, ref string) (User, error) {
	ref = strings.TrimSpace(ref)
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		return s.User(ctx, id)
	}
	if ref == "" || len(ref) > 150 {
		return User{}, ErrNotFound
	}
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE lower(u.username) = lower($1)`, ref))
}

// Usernames returns the usernames of the accounts with ids, by id; ids
// that name no account are absent.
func (s *Service) Usernames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT id, username FROM users WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id] = name
	}
	return out, rows.Err()
}

// UserCounts are the figures of the admin dashboard about identity.
type UserCounts struct {
	Users          int64 // accounts not deleted
	ActiveDevices  int64 // APPROVED devices
	PendingDevices int64 // PENDING devices
}

// Counts returns the dashboard's counts, from one snapshot.
func (s *Service) Counts(ctx context.Context) (UserCounts, error) {
	var c UserCounts
	err := s.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM users WHERE deleted_at IS NULL),
		       (SELECT count(*) FROM devices WHERE status = 'APPROVED'),
		       (SELECT count(*) FROM devices WHERE status = 'PENDING')`).Scan(&c.Users, &c.ActiveDevices, &c.PendingDevices)
	return c, err
}

// PreparedUser is a NewUser validated, its password hashed and its id
// reserved, ready for CreateUserTx. Preparing does the slow part (the hash)
// outside any transaction; the reserved id lets the caller set up what
// belongs to the account (a wallet) before the transaction that creates it.
type PreparedUser struct {
	ID   int64
	nu   NewUser
	hash string
}

// NewUser is the account PreparedUser will create.
func (p PreparedUser) NewUser() NewUser {
	nu := p.nu
	nu.Password = ""
	nu.PasswordHash = ""
	return nu
}

// PrepareUser checks nu as CreateUser does (an *InvalidError for bad input,
// a weak password, a taken username or email), hashes its password and
// reserves its id. An id reserved for an account that is never created is
// simply skipped.
func (s *Service) PrepareUser(ctx context.Context, nu NewUser) (PreparedUser, error) {
	nu, hash, err := s.checkNewUser(ctx, nu)
	if err != nil {
		return PreparedUser{}, err
	}
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('users', 'id'))`).Scan(&id); err != nil {
		return PreparedUser{}, err
	}
	return PreparedUser{ID: id, nu: nu, hash: hash}, nil
}

// CreateUserTx creates the prepared account in tx, with its reserved id. A
// username or email taken since it was prepared is an *InvalidError.
func (s *Service) CreateUserTx(ctx context.Context, tx pgx.Tx, p PreparedUser) (User, error) {
	if p.ID == 0 {
		return User{}, errors.New("auth: CreateUserTx needs a PreparedUser from PrepareUser")
	}
	nu := p.nu
	u, err := scanUser(tx.QueryRow(ctx, `
		INSERT INTO users AS u (id, username, email, password_hash, first_name, last_name, language, role,
		                        is_active, is_superuser, email_verified, date_joined)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		RETURNING `+userColumns,
		p.ID, nu.Username, nu.Email, p.hash, nu.FirstName, nu.LastName, nu.Language, nu.Role,
		!nu.Inactive, nu.Superuser, nu.EmailVerified, s.now()))
	return u, interpretError(err)
}

// UserChange is an admin's change to an account: nil fields stay as they
// are.
type UserChange struct {
	Username      *string
	Email         *string
	FirstName     *string
	LastName      *string
	Language      *string
	Role          *Role
	Active        *bool
	EmailVerified *bool
}

// Check validates c's values (not whether a username or email is free:
// the transaction finds that out) and normalizes them: an *InvalidError
// naming every bad field.
func (c *UserChange) Check() error {
	v := invalid{}
	if c.Username != nil {
		if _, ok := ParseUsername(*c.Username); !ok {
			v.add("username", "Use 3 to 150 letters, digits and the characters . _ - only.")
		}
	}
	if c.Email != nil {
		if e, ok := ParseEmail(*c.Email); ok {
			*c.Email = string(e)
		} else {
			v.add("email", "Enter a valid email address.")
		}
	}
	for field, val := range map[string]*string{"first_name": c.FirstName, "last_name": c.LastName} {
		if val != nil {
			*val = strings.TrimSpace(*val)
			if utf8.RuneCountInString(*val) > maxNameLen {
				v.add(field, "Use at most 150 characters.")
			} else if !utf8.ValidString(*val) || strings.ContainsFunc(*val, isControl) {
				v.add(field, "Use printable characters only.")
			}
		}
	}
	if c.Language != nil {
		if _, ok := ParseLanguage(*c.Language); !ok {
			v.add("language", `Choose "en" or "rw".`)
		}
	}
	if c.Role != nil {
		if _, ok := ParseRole(string(*c.Role)); !ok {
			v.add("role", "Choose customer, admin or auditor.")
		}
	}
	return v.err()
}

// UpdateUserTx applies c (checked with Check) to the account with id in tx,
// on a's authority, and returns the account before and after; only what
// differs is written. A deactivation ends every log-in and emits
// UserActiveChanged, as does a reactivation; a change of role ends every
// log-in (access tokens carry the role); a new email is unverified unless
// c says otherwise, and the codes and reset tokens sent to the old one stop
// working.
//
// It returns ErrNotFound, ErrDeleted, ErrSelf (deactivating or demoting
// oneself), ErrSuperuser (changing another's superuser account), or an
// *InvalidError for a value that is bad or a username or email already
// taken.
func (s *Service) UpdateUserTx(ctx context.Context, tx pgx.Tx, a Actor, id int64, c UserChange) (before, after User, err error) {
	if err := c.Check(); err != nil {
		return User{}, User{}, err
	}
	return s.changeUserTx(ctx, tx, a, id, func(User) UserChange { return c })
}

// ToggleActiveTx deactivates the account with id if it is active and
// reactivates it if not, as UpdateUserTx.
func (s *Service) ToggleActiveTx(ctx context.Context, tx pgx.Tx, a Actor, id int64) (before, after User, err error) {
	return s.changeUserTx(ctx, tx, a, id, func(u User) UserChange {
		active := !u.IsActive
		return UserChange{Active: &active}
	})
}

func (s *Service) changeUserTx(ctx context.Context, tx pgx.Tx, a Actor, id int64, change func(User) UserChange) (User, User, error) {
	before, _, err := userForUpdate(ctx, tx, id)
	if err != nil {
		return User{}, User{}, err
	}
	if before.DeletedAt != nil {
		return User{}, User{}, ErrDeleted
	}
	c := change(before)
	after := before
	set := func(dst, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&after.Username, c.Username)
	set(&after.Email, c.Email)
	set(&after.FirstName, c.FirstName)
	set(&after.LastName, c.LastName)
	if c.Language != nil {
		after.Language = Language(*c.Language)
	}
	if c.Role != nil {
		after.Role = *c.Role
	}
	if c.Active != nil {
		after.IsActive = *c.Active
	}
	if after.Email != before.Email {
		after.EmailVerified = false
	}
	if c.EmailVerified != nil {
		after.EmailVerified = *c.EmailVerified
	}
	if after == before {
		return before, after, nil
	}
	self := a.UserID == id
	switch {
	case self && (!after.IsActive || after.Role != RoleAdmin):
		return User{}, User{}, ErrSelf
	case before.IsSuperuser && !self:
		return User{}, User{}, ErrSuperuser
	}
	after, err = scanUser(tx.QueryRow(ctx, `
		UPDATE users AS u SET username = $2, email = $3, first_name = $4, last_name = $5, language = $6,
		                      role = $7, is_active = $8, email_verified = $9
		 WHERE u.id = $1
		RETURNING `+userColumns,
		id, after.Username, after.Email, after.FirstName, after.LastName, after.Language, after.Role,
		after.IsActive, after.EmailVerified))
	if err != nil {
		return User{}, User{}, interpretError(err)
	}
	now := s.now()
	if after.Email != before.Email {
		// Codes and reset tokens went to the old address.
		if _, err := tx.Exec(ctx, `UPDATE otp_codes SET replaced_at = $2 WHERE user_id = $1 AND used_at IS NULL AND replaced_at IS NULL`, id, now); err != nil {
			return User{}, User{}, err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_reset_tokens SET expires_at = least(expires_at, $2) WHERE user_id = $1 AND used_at IS NULL`, id, now); err != nil {
			return User{}, User{}, err
		}
	}
	switch {
	case before.IsActive && !after.IsActive:
		if err := s.revokeUserFamilies(ctx, tx, id, 0, "deactivated"); err != nil {
			return User{}, User{}, err
		}
	case after.Role != before.Role:
		if err := s.revokeUserFamilies(ctx, tx, id, 0, "role_changed"); err != nil {
			return User{}, User{}, err
		}
	}
	if after.IsActive != before.IsActive {
		if err := s.emit(ctx, tx, UserActiveChanged{User: after, Active: after.IsActive, At: now}); err != nil {
			return User{}, User{}, err
		}
	}
	return before, after, nil
}

// DeleteUserTx closes the account with id in tx, on a's authority: it is
// deactivated and marked deleted, every log-in ends, and UserActiveChanged
// is emitted if it was active. Its ledger history stays. An account already
// deleted is returned unchanged (before equals after). It returns
// ErrNotFound, ErrSelf or ErrSuperuser.
func (s *Service) DeleteUserTx(ctx context.Context, tx pgx.Tx, a Actor, id int64) (before, after User, err error) {
	before, _, err = userForUpdate(ctx, tx, id)
	switch {
	case err != nil:
		return User{}, User{}, err
	case a.UserID == id:
		return User{}, User{}, ErrSelf
	case before.IsSuperuser:
		return User{}, User{}, ErrSuperuser
	case before.DeletedAt != nil:
		return before, before, nil
	}
	now := s.now()
	after, err = scanUser(tx.QueryRow(ctx, `
		UPDATE users AS u SET is_active = false, deleted_at = $2 WHERE u.id = $1
		RETURNING `+userColumns, id, now))
	if err != nil {
		return User{}, User{}, err
	}
	if err := s.revokeUserFamilies(ctx, tx, id, 0, "deleted"); err != nil {
		return User{}, User{}, err
	}
	if before.IsActive {
		if err := s.emit(ctx, tx, UserActiveChanged{User: after, Active: false, At: now}); err != nil {
			return User{}, User{}, err
		}
	}
	return before, after, nil
}

// NewPassword is a password checked against the rules and hashed, ready
// for SetPasswordTx.
type NewPassword struct{ hash string }

// PreparePassword checks password against the rules for the account with
// id (an *InvalidError under field when it breaks one) and hashes it,
// outside any transaction: hashing is deliberately slow. It returns
// ErrNotFound for no such account.
func (s *Service) PreparePassword(ctx context.Context, id int64, field, password string) (NewPassword, error) {
	u, err := s.User(ctx, id)
	if err != nil {
		return NewPassword{}, err
	}
	v := invalid{}
	if password == "" {
		v.add(field, msgRequired)
	} else {
		for _, m := range CheckPassword(password, u.Username) {
			v.add(field, m)
		}
	}
	if err := v.err(); err != nil {
		return NewPassword{}, err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return NewPassword{}, err
	}
	return NewPassword{hash: hash}, nil
}

// SetPasswordTx sets the password of the account with id in tx, on a's
// authority: every log-in of the account ends, failed log-ins are
// forgotten, and PasswordChanged is emitted (the owner is emailed). It
// returns ErrNotFound, ErrDeleted, ErrSelf (an admin changes their own
// password with the old one, at /api/auth/password/change/) or
// ErrSuperuser.
func (s *Service) SetPasswordTx(ctx context.Context, tx pgx.Tx, a Actor, id int64, p NewPassword) (User, error) {
	if p.hash == "" {
		return User{}, errors.New("auth: SetPasswordTx needs a NewPassword from PreparePassword")
	}
	u, _, err := userForUpdate(ctx, tx, id)
	switch {
	case err != nil:
		return User{}, err
	case a.UserID == id:
		return User{}, ErrSelf
	case u.IsSuperuser:
		return User{}, ErrSuperuser
	case u.DeletedAt != nil:
		return User{}, ErrDeleted
	}
	ip := ""
	if a.Client.IP.IsValid() {
		ip = a.Client.IP.String()
	}
	if err := s.setPasswordTx(ctx, tx, id, p.hash, 0, PasswordChanged{AdminID: a.UserID, IP: ip, At: s.now()}); err != nil {
		return User{}, err
	}
	return u, nil
}

// UserDiff returns what differs between two states of an account, field by
// field as the API names them, for an audit record. Nothing secret is in
// a User.
func UserDiff(before, after User) (b, a map[string]any) {
	bs, as := UserSnapshot(before), UserSnapshot(after)
	b, a = map[string]any{}, map[string]any{}
	for k, v := range bs {
		if fmt.Sprint(v) != fmt.Sprint(as[k]) {
			b[k], a[k] = v, as[k]
		}
	}
	return b, a
}

// UserSnapshot is an account for an audit record.
func UserSnapshot(u User) map[string]any {
	var deleted any
	if u.DeletedAt != nil {
		deleted = u.DeletedAt.UTC().Format(time.RFC3339Nano)
	}
	return map[string]any{
		"id": u.ID, "username": u.Username, "email": u.Email, "first_name": u.FirstName, "last_name": u.LastName,
		"language": string(u.Language), "role": string(u.Role), "is_active": u.IsActive,
		"is_superuser": u.IsSuperuser, "email_verified": u.EmailVerified, "deleted_at": deleted,
	}
}

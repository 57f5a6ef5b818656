package auth

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Messages of field errors shared by several operations.
const (
	msgRequired        = "This field is required."
	msgPasswordsDiffer = "The two passwords do not match."
	msgBadDeviceID     = "Send 1 to 255 printable ASCII characters."
)

// RegisterInput is a registration form as sent.
type RegisterInput struct {
	Username        string
	Email           string
	Password        string
	ConfirmPassword string
	DeviceID        string // optional: registered PENDING with the account
	DeviceName      string
	Language        string // "en" (default) or "rw"
}

// Register creates a customer account, unverified, with a
// PENDING device when DeviceID is given, and issues an email-verification
// code, all in one transaction with a UserRegistered event (and a DeviceSeen
// event for the device). Invalid input, a taken username or a taken email is
// an *InvalidError naming the fields.
func (s *Service) Register(ctx context.Context, in RegisterInput, c Client) (User, error) {
	v := invalid{}
	username, ok := ParseUsername(in.Username)
	switch {
	case in.Username == "":
		v.add("username", msgRequired)
	case !ok:
		v.add("username", "Use 3 to 150 letters, digits and the characters . _ - only.")
	}
	email, ok := ParseEmail(in.Email)
	switch {
	case strings.TrimSpace(in.Email) == "":
		v.add("email", msgRequired)
	case !ok:
		v.add("email", "Enter a valid email address.")
	}
	if in.Password == "" {
		v.add("password", msgRequired)
	} else {
		for _, m := range CheckPassword(in.Password, in.Username) {
			v.add("password", m)
		}
	}
	if in.ConfirmPassword != in.Password {
		v.add("confirm_password", msgPasswordsDiffer)
	}
	lang := English
	if in.Language != "" {
		if lang, ok = ParseLanguage(in.Language); !ok {
			v.add("language", `Choose "en" or "rw".`)
		}
	}
	if in.DeviceID != "" && !validDeviceID(in.DeviceID) {
		v.add("device_id", msgBadDeviceID)
	}
	if err := v.err(); err != nil {
		return User{}, err
	}
	if err := s.checkAvailable(ctx, string(username), string(email)); err != nil {
		return User{}, err
	}
	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = insertUser(ctx, tx, NewUser{Username: string(username), Email: string(email), Language: lang, Role: RoleCustomer}, hash, s.now())
		if err != nil {
			return err
		}
		var dev *Device
		if in.DeviceID != "" {
			d, _, err := s.seeDeviceTx(ctx, tx, u, in.DeviceID, in.DeviceName, c, ViaRegister)
			if err != nil {
				return err
			}
			dev = &d
		}
		code, err := s.issueOTPTx(ctx, tx, u.ID, PurposeVerifyEmail)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, UserRegistered{User: u, Device: dev, VerifyCode: code, CodeTTL: OTPTTL})
	})
	return u, err
}

// checkAvailable reports a taken username and a taken email together (the
// unique indexes still decide under a race).
func (s *Service) checkAvailable(ctx context.Context, username, email string) error {
	rows, err := s.pool.Query(ctx, `SELECT lower(username) = lower($1), email = $2 FROM users WHERE lower(username) = lower($1) OR email = $2`, username, email)
	if err != nil {
		return err
	}
	v := invalid{}
	for rows.Next() {
		var nameTaken, emailTaken bool
		if err := rows.Scan(&nameTaken, &emailTaken); err != nil {
			return err
		}
		if nameTaken && len(v["username"]) == 0 {
			v.add("username", "A user with that username already exists.")
		}
		if emailTaken && len(v["email"]) == 0 {
			v.add("email", "A user with that email already exists.")
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return v.err()
}

// NewUser is an account created by an operator (createsuperuser), an admin
// or an import, without a registration's email.
type NewUser struct {
	Username string
	Email    string
	// Password is checked against the rules and hashed; or PasswordHash is
	// an existing argon2id or Django pbkdf2_sha256/pbkdf2_sha512 hash of an
	// imported user, kept as is and upgraded at the first log-in. Imported
	// usernames may also use Django's '@' and '+'.
	Password     string
	PasswordHash string
	FirstName    string
	LastName     string
	Language     Language // default English
	Role         Role     // default RoleCustomer
	Superuser    bool
	// EmailVerified marks the address as already verified.
	EmailVerified bool
	// Inactive creates the account deactivated.
	Inactive bool
}

// djangoUsername is the username rule of the old system, for imports.
var djangoUsername = regexp.MustCompile(`^[\w.@+-]{1,150}$`)

// CreateUser creates an account. Invalid input, a weak password, a taken
// username or email is an *InvalidError.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	nu, hash, err := s.checkNewUser(ctx, nu)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		u, err = insertUser(ctx, tx, nu, hash, s.now())
		return err
	})
	return u, err
}

// checkNewUser validates nu, checks that its username and email are free,
// and hashes its password (or takes its imported hash): it returns nu
// normalized, with the hash to store.
func (s *Service) checkNewUser(ctx context.Context, nu NewUser) (NewUser, string, error) {
	v := invalid{}
	if nu.PasswordHash != "" {
		if !djangoUsername.MatchString(nu.Username) {
			v.add("username", "Use at most 150 letters, digits and the characters @ . + - _ only.")
		}
	} else if _, ok := ParseUsername(nu.Username); !ok {
		v.add("username", "Use 3 to 150 letters, digits and the characters . _ - only.")
	}
	email, ok := ParseEmail(nu.Email)
	if !ok {
		v.add("email", "Enter a valid email address.")
	}
	switch {
	case nu.PasswordHash != "":
		if !recognisedHash(nu.PasswordHash) {
			v.add("password", "The password hash is not argon2id, pbkdf2_sha256 or pbkdf2_sha512.")
		}
	case nu.Password == "":
		v.add("password", msgRequired)
	default:
		for _, m := range CheckPassword(nu.Password, nu.Username) {
			v.add("password", m)
		}
	}
	if nu.Language == "" {
		nu.Language = English
	}
	if _, ok := ParseLanguage(string(nu.Language)); !ok {
		v.add("language", `Choose "en" or "rw".`)
	}
	if nu.Role == "" {
		nu.Role = RoleCustomer
	}
	if _, ok := ParseRole(string(nu.Role)); !ok {
		v.add("role", "Choose customer, admin or auditor.")
	}
	if utf8.RuneCountInString(nu.FirstName) > maxNameLen || utf8.RuneCountInString(nu.LastName) > maxNameLen {
		v.add("first_name", "Names are at most 150 characters.")
	}
	if err := v.err(); err != nil {
		return NewUser{}, "", err
	}
	nu.Email = string(email)
	if err := s.checkAvailable(ctx, nu.Username, nu.Email); err != nil {
		return NewUser{}, "", err
	}
	hash := nu.PasswordHash
	if hash == "" {
		var err error
		if hash, err = s.hasher.hash(ctx, nu.Password); err != nil {
			return NewUser{}, "", err
		}
	}
	return nu, hash, nil
}

func insertUser(ctx context.Context, tx pgx.Tx, nu NewUser, hash string, now time.Time) (User, error) {
	u, err := scanUser(tx.QueryRow(ctx, `
		INSERT INTO users AS u (username, email, password_hash, first_name, last_name, language, role,
		                        is_active, is_superuser, email_verified, date_joined)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING `+userColumns,
		nu.Username, nu.Email, hash, nu.FirstName, nu.LastName, nu.Language, nu.Role,
		!nu.Inactive, nu.Superuser, nu.EmailVerified, now))
	return u, interpretError(err)
}

// ProfileUpdate is a change of profile: nil fields stay as they are.
type ProfileUpdate struct {
	Language  *string
	FirstName *string
	LastName  *string
}

// UpdateProfile changes what a user may change of their own profile. It
// returns ErrInactive for a deactivated or deleted account, an
// *InvalidError for bad values.
func (s *Service) UpdateProfile(ctx context.Context, userID int64, p ProfileUpdate) (User, error) {
	v := invalid{}
	if p.Language != nil {
		if _, ok := ParseLanguage(*p.Language); !ok {
			v.add("language", `Choose "en" or "rw".`)
		}
	}
	for field, val := range map[string]*string{"first_name": p.FirstName, "last_name": p.LastName} {
		if val != nil {
			*val = strings.TrimSpace(*val)
			if utf8.RuneCountInString(*val) > maxNameLen {
				v.add(field, "Use at most 150 characters.")
			} else if !utf8.ValidString(*val) || strings.ContainsFunc(*val, isControl) {
				v.add(field, "Use printable characters only.")
			}
		}
	}
	if err := v.err(); err != nil {
		return User{}, err
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `
		UPDATE users AS u SET
			language   = COALESCE($2, u.language),
			first_name = COALESCE($3, u.first_name),
			last_name  = COALESCE($4, u.last_name)
		WHERE u.id = $1 AND u.is_active AND u.deleted_at IS NULL
		RETURNING `+userColumns, userID, p.Language, p.FirstName, p.LastName))
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrInactive
	}
	return u, err
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// ChangePassword changes the caller's password after checking the old one,
// revokes every log-in of the caller except the calling one (p.SessionID),
// and emits PasswordChanged. A wrong old password or a new password against
// the rules is an *InvalidError.
func (s *Service) ChangePassword(ctx context.Context, p Principal, oldPassword, newPassword, confirm string, c Client) error {
	u, hash, err := userByID(ctx, s.pool, p.UserID)
	if err != nil {
		return err
	}
	if !u.Active() {
		return ErrInactive
	}
	v := invalid{}
	if oldPassword == "" {
		v.add("old_password", msgRequired)
	} else {
		ok, _, err := s.hasher.verify(ctx, hash, oldPassword)
		if err != nil {
			return err
		}
		if !ok {
			v.add("old_password", "Your old password was entered incorrectly.")
		}
	}
	s.checkNewPassword(v, newPassword, confirm, u.Username)
	if err := v.err(); err != nil {
		return err
	}
	newHash, err := s.hasher.hash(ctx, newPassword)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return s.setPasswordTx(ctx, tx, u.ID, newHash, p.SessionID, PasswordChanged{IP: ipString(c), At: s.now()})
	})
}

// SetPassword sets a user's password on an admin's authority (adminID),
// revokes all their log-ins and emits PasswordChanged.
func (s *Service) SetPassword(ctx context.Context, adminID, userID int64, password string) error {
	u, _, err := userByID(ctx, s.pool, userID)
	if err != nil {
		return err
	}
	v := invalid{}
	s.checkNewPassword(v, password, password, u.Username)
	if err := v.err(); err != nil {
		return err
	}
	newHash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return s.setPasswordTx(ctx, tx, u.ID, newHash, 0, PasswordChanged{AdminID: adminID, At: s.now()})
	})
}

// checkNewPassword adds new_password and confirm_password errors to v.
func (s *Service) checkNewPassword(v invalid, password, confirm, username string) {
	if password == "" {
		v.add("new_password", msgRequired)
	} else {
		for _, m := range CheckPassword(password, username) {
			v.add("new_password", m)
		}
	}
	if confirm != password {
		v.add("confirm_password", msgPasswordsDiffer)
	}
}

// setPasswordTx stores a new hash, revokes every log-in of the user but
// keepFamily (0: all), forgets failed log-ins, and emits ev with the user.
func (s *Service) setPasswordTx(ctx context.Context, tx pgx.Tx, userID int64, hash string, keepFamily int64, ev PasswordChanged) error {
	u, _, err := userForUpdate(ctx, tx, userID)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash); err != nil {
		return err
	}
	if err := s.revokeUserFamilies(ctx, tx, userID, keepFamily, "password_changed"); err != nil {
		return err
	}
	if err := clearThrottle(ctx, tx, userKey(userID)); err != nil {
		return err
	}
	ev.User = u
	return s.emit(ctx, tx, ev)
}

// SetActive deactivates (revoking every log-in) or reactivates an account,
// and emits UserActiveChanged. A deleted account stays inactive.
func (s *Service) SetActive(ctx context.Context, userID int64, active bool) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		u, _, err := userForUpdate(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.IsActive == active {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET is_active = $2 WHERE id = $1`, userID, active); err != nil {
			return err
		}
		if !active {
			if err := s.revokeUserFamilies(ctx, tx, userID, 0, "deactivated"); err != nil {
				return err
			}
		}
		u.IsActive = active
		return s.emit(ctx, tx, UserActiveChanged{User: u, Active: active, At: s.now()})
	})
}

// userByID reads a user with the password hash.
func userByID(ctx context.Context, q querier, id int64) (User, string, error) {
	var hash string
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+`, u.password_hash FROM users u WHERE u.id = $1`, id), &hash)
	return u, hash, err
}

func ipString(c Client) string {
	if !c.IP.IsValid() {
		return ""
	}
	return c.IP.String()
}

package auth

import (
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Role is what a user may do.
type Role string

// The roles.
const (
	RoleCustomer Role = "customer" // the default: their own wallet
	RoleAdmin    Role = "admin"    // everything; exempt from device approval
	RoleAuditor  Role = "auditor"  // read-only access to ledger, exports and reports
)

// ParseRole returns the role named s, or false.
func ParseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleCustomer, RoleAdmin, RoleAuditor:
		return r, true
	}
	return "", false
}

// Language is the language a user reads emails in.
type Language string

// The languages.
const (
	English     Language = "en"
	Kinyarwanda Language = "rw"
)

// ParseLanguage returns the language with code s, or false.
func ParseLanguage(s string) (Language, bool) {
	switch l := Language(s); l {
	case English, Kinyarwanda:
		return l, true
	}
	return "", false
}

// DeviceStatus is where a device stands with the admins.
type DeviceStatus string

// The statuses of a device.
const (
	DevicePending  DeviceStatus = "PENDING"  // seen, awaiting an admin
	DeviceApproved DeviceStatus = "APPROVED" // may be used
	DeviceRejected DeviceStatus = "REJECTED" // refused by an admin
	DeviceRevoked  DeviceStatus = "REVOKED"  // removed by its owner
)

// ParseDeviceStatus returns the status named s in any case, or false.
func ParseDeviceStatus(s string) (DeviceStatus, bool) {
	switch st := DeviceStatus(strings.ToUpper(s)); st {
	case DevicePending, DeviceApproved, DeviceRejected, DeviceRevoked:
		return st, true
	}
	return "", false
}

// Purpose is what a one-time code is for. A code works only for its purpose.
type Purpose string

// The purposes of one-time codes.
const (
	PurposeVerifyEmail   Purpose = "verify_email"
	PurposePasswordReset Purpose = "password_reset"
)

// ParsePurpose returns the purpose named s, or false.
func ParsePurpose(s string) (Purpose, bool) {
	switch p := Purpose(s); p {
	case PurposeVerifyEmail, PurposePasswordReset:
		return p, true
	}
	return "", false
}

// Email is a normalized email address: trimmed, lower-cased, a bare
// addr-spec of at most 254 bytes with a dotted domain.
type Email string

// ParseEmail normalizes s into an Email, or returns false.
func ParseEmail(s string) (Email, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) < 3 || len(s) > 254 || !utf8.ValidString(s) {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", false
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(local) > 64 || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.ContainsAny(s, " \t\r\n") {
		return "", false
	}
	return Email(s), true
}

// Username is a valid new username: 3-150 of letters, digits, '_', '.', '-'.
// Usernames are unique regardless of case; their case is kept for display.
type Username string

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,150}$`)

// ParseUsername returns s as a Username, or false.
func ParseUsername(s string) (Username, bool) {
	if !usernamePattern.MatchString(s) {
		return "", false
	}
	return Username(s), true
}

// User is an account.
type User struct {
	ID            int64
	Username      string
	Email         string
	FirstName     string
	LastName      string
	Language      Language
	Role          Role
	IsActive      bool
	IsSuperuser   bool
	EmailVerified bool
	DateJoined    time.Time
	LastLogin     *time.Time
	DeletedAt     *time.Time
}

// IsStaff reports whether the user is an admin (is_staff in compat shapes).
func (u User) IsStaff() bool { return u.Role == RoleAdmin }

// Active reports whether the user may sign in: active and not deleted.
func (u User) Active() bool { return u.IsActive && u.DeletedAt == nil }

// DisplayName is how emails greet the user: the first name, else the
// username.
func (u User) DisplayName() string {
	if u.FirstName != "" {
		return u.FirstName
	}
	return u.Username
}

// Device is a browser or phone of a user. Username, UserEmail and
// EmailVerified describe its owner (for the admin list).
type Device struct {
	ID            int64
	UserID        int64
	Username      string
	UserEmail     string
	EmailVerified bool
	DeviceID      string // the client's own identifier
	Name          string
	Status        DeviceStatus
	CreatedAt     time.Time
	VerifiedAt    *time.Time
	LastSeenAt    *time.Time
	LastIP        string // empty when unknown
	UserAgent     string
}

// Principal is who an access token speaks for.
type Principal struct {
	UserID    int64
	Role      Role
	DeviceID  int64 // the devices row id; 0 for an admin (exempt)
	SessionID int64 // the refresh family of the log-in
	TokenID   string
	ExpiresAt time.Time
}

// Client describes where a request comes from, for login activity, devices
// and emails.
type Client struct {
	IP        netip.Addr
	UserAgent string
}

// Tokens are what a log-in or a refresh gives.
type Tokens struct {
	Access          string
	Refresh         string
	AccessExpiresAt time.Time
}

// MaxDeviceIDLen and MaxDeviceNameLen bound what clients send.
const (
	MaxDeviceIDLen   = 255
	MaxDeviceNameLen = 100
	maxNameLen       = 150 // first and last names
	maxUserAgentLen  = 512
)

// validDeviceID reports whether a client's device id is acceptable: 1 to
// MaxDeviceIDLen printable ASCII characters, not all spaces.
func validDeviceID(s string) bool {
	if strings.TrimSpace(s) == "" || len(s) > MaxDeviceIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

// ipParam is an address as a query parameter for an inet column: NULL when
// unknown.
func ipParam(a netip.Addr) *string {
	if !a.IsValid() {
		return nil
	}
	s := a.String()
	return &s
}

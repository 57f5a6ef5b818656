package api

import (
	"context"
	"time"

	"github.com/creditjambo/creditjambo/auth"
)

// timeLayout is RFC 3339 in UTC with microseconds, the stored precision.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

// userJSON is the compat shape of login's user (the frontend keeps it as
// user_info; is_staff alone decides admin pages).
type userJSON struct {
	ID            int64   `json:"id"`
	Username      string  `json:"username"`
	Email         string  `json:"email"`
	Balance       string  `json:"balance"`
	IsStaff       bool    `json:"is_staff"`
	Role          string  `json:"role"`
	LastLogin     *string `json:"last_login"`
	EmailVerified bool    `json:"email_verified"`
	Language      string  `json:"language"`
}

// profileJSON is /api/auth/me/: the user shape plus the profile.
type profileJSON struct {
	userJSON
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	DateJoined string `json:"date_joined"`
}

// balance is the user's wallet balance as a money string. Until the savings
// issue plugs the ledger's wallet balance in through Deps.BalanceFunc, it is
// "0.00".
func (s *server) balance(ctx context.Context, userID int64) (string, error) {
	if s.balanceFunc == nil {
		return "0.00", nil
	}
	return s.balanceFunc(ctx, userID)
}

func (s *server) userJSON(ctx context.Context, u auth.User) (userJSON, error) {
	bal, err := s.balance(ctx, u.ID)
	if err != nil {
		return userJSON{}, err
	}
	return userJSON{
		ID: u.ID, Username: u.Username, Email: u.Email, Balance: bal,
		IsStaff: u.IsStaff(), Role: string(u.Role), LastLogin: formatTimePtr(u.LastLogin),
		EmailVerified: u.EmailVerified, Language: string(u.Language),
	}, nil
}

func (s *server) profileJSON(ctx context.Context, u auth.User) (profileJSON, error) {
	uj, err := s.userJSON(ctx, u)
	if err != nil {
		return profileJSON{}, err
	}
	return profileJSON{userJSON: uj, FirstName: u.FirstName, LastName: u.LastName, DateJoined: formatTime(u.DateJoined)}, nil
}

// deviceJSON is a device as its owner sees it (compat).
type deviceJSON struct {
	ID         int64   `json:"id"`
	User       int64   `json:"user"`
	Username   string  `json:"username"`
	DeviceID   string  `json:"device_id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	CreatedAt  string  `json:"created_at"`
	VerifiedAt *string `json:"verified_at"`
	LastSeenAt *string `json:"last_seen_at"`
}

// adminDeviceJSON is a device as admins see it (compat).
type adminDeviceJSON struct {
	ID            int64   `json:"id"`
	User          int64   `json:"user"`
	Username      string  `json:"username"`
	UserEmail     string  `json:"user_email"`
	EmailVerified bool    `json:"email_verified"`
	DeviceID      string  `json:"device_id"`
	Name          string  `json:"name"`
	Status        string  `json:"status"`
	CreatedAt     string  `json:"created_at"`
	VerifiedAt    *string `json:"verified_at"`
	LastSeenAt    *string `json:"last_seen_at"`
	LastIP        *string `json:"last_ip"`
	UserAgent     string  `json:"user_agent"`
}

func toDeviceJSON(d auth.Device) deviceJSON {
	return deviceJSON{
		ID: d.ID, User: d.UserID, Username: d.Username, DeviceID: d.DeviceID, Name: d.Name,
		Status: string(d.Status), CreatedAt: formatTime(d.CreatedAt),
		VerifiedAt: formatTimePtr(d.VerifiedAt), LastSeenAt: formatTimePtr(d.LastSeenAt),
	}
}

func toAdminDeviceJSON(d auth.Device) adminDeviceJSON {
	var ip *string
	if d.LastIP != "" {
		ip = &d.LastIP
	}
	return adminDeviceJSON{
		ID: d.ID, User: d.UserID, Username: d.Username, UserEmail: d.UserEmail, EmailVerified: d.EmailVerified,
		DeviceID: d.DeviceID, Name: d.Name, Status: string(d.Status), CreatedAt: formatTime(d.CreatedAt),
		VerifiedAt: formatTimePtr(d.VerifiedAt), LastSeenAt: formatTimePtr(d.LastSeenAt),
		LastIP: ip, UserAgent: d.UserAgent,
	}
}

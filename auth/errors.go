package auth

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The errors of the package. Callers test them with errors.Is; the HTTP edge
// maps each to its answer in one table.
var (
	// ErrInvalid is matched by every *InvalidError.
	ErrInvalid = errors.New("auth: invalid input")
	// ErrInvalidCredentials is a failed log-in: unknown user, wrong password
	// or inactive account, deliberately indistinguishable.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrLocked is matched by *LockedError: too many failed log-ins.
	ErrLocked = errors.New("auth: too many failed log-ins")
	// ErrDeviceIDRequired is a customer log-in without a device id.
	ErrDeviceIDRequired = errors.New("auth: device id required")
	// ErrDeviceNotApproved is matched by *DeviceError.
	ErrDeviceNotApproved = errors.New("auth: device not approved")
	// ErrTooManyDevices refuses another PENDING device beyond MaxPendingDevices.
	ErrTooManyDevices = errors.New("auth: too many pending devices")
	// ErrDeviceAlreadyApproved refuses approving, or asking to verify, an
	// approved device.
	ErrDeviceAlreadyApproved = errors.New("auth: device already approved")
	// ErrDeviceAlreadyRejected refuses rejecting a rejected device.
	ErrDeviceAlreadyRejected = errors.New("auth: device already rejected")
	// ErrInvalidToken is an access or refresh token that is malformed,
	// forged, expired, revoked or spent.
	ErrInvalidToken = errors.New("auth: invalid or expired token")
	// ErrNotYourToken is a logout with a refresh token that is not a live
	// token of the caller.
	ErrNotYourToken = errors.New("auth: refresh token is not a live token of the caller")
	// ErrInvalidOTP is a one-time code that is wrong, expired, used, burned
	// or for an unknown account, deliberately indistinguishable.
	ErrInvalidOTP = errors.New("auth: invalid one-time code")
	// ErrInvalidResetToken is a password-reset token that is unknown, used
	// or expired.
	ErrInvalidResetToken = errors.New("auth: invalid password-reset token")
	// ErrNotFound is a user or device that does not exist, or is not the
	// caller's.
	ErrNotFound = errors.New("auth: not found")
	// ErrInactive is an account that is deactivated or deleted.
	ErrInactive = errors.New("auth: account inactive")
)

// InvalidError reports invalid input, field by field. It matches ErrInvalid.
type InvalidError struct {
	Fields map[string][]string
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("auth: invalid input:")
	for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
		fmt.Fprintf(&b, " %s: %s;", f, strings.Join(e.Fields[f], " "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// First is the first field (in a stable order) and its first message.
func (e *InvalidError) First() (field, message string) {
	for _, f := range fieldOrder {
		if m := e.Fields[f]; len(m) > 0 {
			return f, m[0]
		}
	}
	for _, f := range slices.Sorted(maps.Keys(e.Fields)) {
		if m := e.Fields[f]; len(m) > 0 {
			return f, m[0]
		}
	}
	return "", ""
}

// fieldOrder is the order in which a form shows its fields: the first
// invalid one is the one reported in a sentence.
var fieldOrder = []string{"username", "email", "password", "old_password", "new_password", "confirm_password", "device_id", "name", "language", "first_name", "last_name"}

// invalid collects field errors; err returns nil when there are none.
type invalid map[string][]string

func (v invalid) add(field, message string) { v[field] = append(v[field], message) }

func (v invalid) err() error {
	if len(v) == 0 {
		return nil
	}
	return &InvalidError{Fields: v}
}

// LockedError is a log-in refused because of repeated failures. It matches
// ErrLocked.
type LockedError struct {
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("auth: too many failed log-ins; retry after %s", e.RetryAfter)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// DeviceError is a device that may not be used, with its status. It matches
// ErrDeviceNotApproved.
type DeviceError struct {
	Status DeviceStatus
}

func (e *DeviceError) Error() string { return "auth: device not approved (" + string(e.Status) + ")" }

// Is makes errors.Is(err, ErrDeviceNotApproved) true.
func (e *DeviceError) Is(target error) bool { return target == ErrDeviceNotApproved }

// Constraint names interpretError knows.
const (
	constraintUsername = "users_username_key"
	constraintEmail    = "users_email_key"
	constraintDevice   = "devices_user_device_key"
)

// interpretError turns a driver error into the package's errors, by SQLSTATE
// and constraint name, never by message text. Anything else is returned as
// is.
func interpretError(err error) error {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return err
	}
	if pg.Code == "23505" { // unique_violation
		switch pg.ConstraintName {
		case constraintUsername:
			return &InvalidError{Fields: map[string][]string{"username": {"A user with that username already exists."}}}
		case constraintEmail:
			return &InvalidError{Fields: map[string][]string{"email": {"A user with that email already exists."}}}
		}
	}
	return err
}

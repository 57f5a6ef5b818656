package auth

import "time"

// Event is something that happened to an account that someone may need to be
// told about. Config.EventFunc receives each inside the transaction of the
// change; the concrete types below are the whole list.
type Event interface{ authEvent() }

// UserRegistered: a user registered. VerifyCode is the email-verification
// code (a secret: it must travel only sealed); Device is the device
// registered with the account, if any.
type UserRegistered struct {
	User       User
	Device     *Device
	VerifyCode string
	CodeTTL    time.Duration
}

// OTPRequested: a one-time code was issued on request. Code is secret.
type OTPRequested struct {
	User    User
	Purpose Purpose
	Code    string
	CodeTTL time.Duration
}

// DeviceVia says how a device came to be PENDING.
type DeviceVia string

// The ways a device becomes PENDING.
const (
	ViaLogin    DeviceVia = "login"    // first seen at a log-in attempt
	ViaRegister DeviceVia = "register" // sent with the registration
	ViaAPI      DeviceVia = "api"      // registered by its signed-in owner
	ViaRequest  DeviceVia = "request"  // its owner asked again after a rejection or revocation
)

// DeviceSeen: a device became PENDING and awaits an admin. At log-in
// (Via ViaLogin) its owner gets a "new device sign-in attempt" email; in
// every case admins are to be told once.
type DeviceSeen struct {
	User      User
	Device    Device
	Via       DeviceVia
	IP        string
	UserAgent string
	At        time.Time
}

// DeviceDecided: an admin approved or rejected a device.
type DeviceDecided struct {
	User     User
	Device   Device
	Approved bool
	AdminID  int64
	At       time.Time
}

// DeviceRemoved: a user removed one of their devices (now REVOKED).
type DeviceRemoved struct {
	User   User
	Device Device
	At     time.Time
}

// PasswordChanged: a password was changed by its owner (Reset false) or
// reset with an emailed code (Reset true), or set by an admin (AdminID).
type PasswordChanged struct {
	User    User
	Reset   bool
	AdminID int64
	IP      string
	At      time.Time
}

// UserActiveChanged: an account was deactivated (Active false) or
// reactivated.
type UserActiveChanged struct {
	User   User
	Active bool
	At     time.Time
}

func (UserRegistered) authEvent()    {}
func (OTPRequested) authEvent()      {}
func (DeviceSeen) authEvent()        {}
func (DeviceDecided) authEvent()     {}
func (DeviceRemoved) authEvent()     {}
func (PasswordChanged) authEvent()   {}
func (UserActiveChanged) authEvent() {}

package templates

import "time"

// The emails, by name. Each comment lists the keys of the data map Render
// expects; a missing key is an error unless it is marked optional, in which
// case the default shown is used. Money values are decimal strings ("1500.00"),
// decimal.Decimal or json.Number, never floats; times are time.Time or RFC 3339
// strings (what survives a JSON round trip through a job's arguments).
//
// Every email also accepts Name (optional, the recipient's name: the greeting
// falls back to a plain hello) and FrontendURL (optional, the base of links:
// defaults to Options.FrontendURL). Lang, Year and Subject are set by Render
// and override the caller's values.
const (
	// WelcomeVerify welcomes a new user and carries the email-verification
	// code. Data: Code (secret: seal it), ExpiresMinutes (optional, 10).
	WelcomeVerify = "welcome_verify"

	// PasswordResetCode carries a one-time code for resetting the password.
	// Data: Code (secret: seal it), ExpiresMinutes (optional, 10).
	PasswordResetCode = "password_reset_code"

	// NewDevice warns that an unknown device tried to sign in and that an
	// administrator must approve it first. Data: DeviceName, Time, IP,
	// UserAgent (each string may be empty; empty rows are left out).
	NewDevice = "new_device"

	// DeviceApproved says an administrator approved a device. Data:
	// DeviceName, Time (optional, none).
	DeviceApproved = "device_approved"

	// DeviceRejected says an administrator did not approve a device. Data:
	// DeviceName, Time (optional, none).
	DeviceRejected = "device_rejected"

	// PasswordChanged confirms a password change or reset. Data: Time, IP
	// (optional, empty).
	PasswordChanged = "password_changed"

	// DepositReceipt is the receipt of a deposit. Data: Amount, Currency,
	// BalanceAfter, Time, Reference (the transaction id or reference),
	// Description (optional, empty).
	DepositReceipt = "deposit_receipt"

	// WithdrawalNotice reports a withdrawal. Data: as DepositReceipt.
	WithdrawalNotice = "withdrawal_notice"

	// LowBalance says the balance fell to or below the alert threshold.
	// Data: Balance, Threshold, Currency, Time (optional, none).
	LowBalance = "low_balance"

	// Announcement is an administrator's message: its Title is the subject.
	// Data: Title (one line), Message (plain text; blank lines separate
	// paragraphs).
	Announcement = "announcement"
)

// optional gives, for every email, the keys that may be left out of the data
// and their defaults. It is also the list of known emails: New refuses a
// template file without an entry here and an entry without its files.
func optional() map[string]map[string]any {
	return map[string]map[string]any{
		WelcomeVerify:     {"ExpiresMinutes": 10},
		PasswordResetCode: {"ExpiresMinutes": 10},
		NewDevice:         {},
		DeviceApproved:    {"Time": nil},
		DeviceRejected:    {"Time": nil},
		PasswordChanged:   {"IP": ""},
		DepositReceipt:    {"Description": ""},
		WithdrawalNotice:  {"Description": ""},
		LowBalance:        {"Time": nil},
		Announcement:      {},
	}
}

// Samples returns realistic data for every email, keyed by name, as a fresh
// map on each call. The preview pages and the tests render with it, and New
// renders every email with it once to fail at start-up on a broken template.
func Samples() map[string]map[string]any {
	at := time.Date(2026, time.December, 3, 17, 47, 0, 0, time.UTC) // 19:47 in Kigali
	return map[string]map[string]any{
		WelcomeVerify: {
			"Name": "Aline", "Code": "482913", "ExpiresMinutes": 10,
		},
		PasswordResetCode: {
			"Name": "Aline", "Code": "730145", "ExpiresMinutes": 10,
		},
		NewDevice: {
			"Name": "Aline", "DeviceName": "Galaxy A14", "Time": at, "IP": "197.243.12.40",
			"UserAgent": "Mozilla/5.0 (Linux; Android 14; SM-A145F) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
		},
		DeviceApproved: {
			"Name": "Aline", "DeviceName": "Galaxy A14", "Time": at,
		},
		DeviceRejected: {
			"Name": "Aline", "DeviceName": "Unknown Windows PC", "Time": at,
		},
		PasswordChanged: {
			"Name": "Aline", "Time": at, "IP": "197.243.12.40",
		},
		DepositReceipt: {
			"Name": "Aline", "Amount": "1500.00", "Currency": "RWF", "BalanceAfter": "26750.50",
			"Time": at, "Reference": "TX-000184", "Description": "Savings for school fees",
		},
		WithdrawalNotice: {
			"Name": "Aline", "Amount": "250.50", "Currency": "RWF", "BalanceAfter": "26500.00",
			"Time": at, "Reference": "TX-000185", "Description": "",
		},
		LowBalance: {
			"Name": "Aline", "Balance": "42.00", "Threshold": "50.00", "Currency": "RWF", "Time": at,
		},
		Announcement: {
			"Name":  "Aline",
			"Title": "Scheduled maintenance on Sunday 6 December",
			"Message": "CreditJambo will be unavailable on Sunday 6 December from 02:00 to 04:00 (Kigali time) while we upgrade our systems.\n\n" +
				"Your savings are safe and no action is needed.\nThank you for your patience.",
		},
	}
}

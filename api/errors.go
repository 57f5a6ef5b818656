package api

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
)

// Error is an error with its HTTP answer: the status, a machine code and a
// sentence for people. Fields carries per-field validation messages.
type Error struct {
	Status int
	Code   string
	Detail string
	Fields map[string][]string
	// Extra members merged into the response body (compat shapes such as
	// device_status); never used for internals.
	Extra map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Detail }

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Detail string              `json:"detail"`
	Code   string              `json:"code"`
	Errors map[string][]string `json:"errors,omitempty"`
}

// Common errors of the edge.
var (
	errNotFound         = &Error{Status: http.StatusNotFound, Code: "not_found", Detail: "Not found."}
	errMethodNotAllowed = &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Detail: "Method not allowed."}
	errInternal         = &Error{Status: http.StatusInternalServerError, Code: "internal", Detail: "Internal server error"}
	errThrottled        = &Error{Status: http.StatusTooManyRequests, Code: "throttled", Detail: "Too many requests. Try again later."}
)

// fieldError is a 400 about one field.
func fieldError(field, message string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid", Detail: field + ": " + message, Fields: map[string][]string{field: {message}}}
}

// errorTable maps the domain's sentinel errors to their HTTP answers. It is
// the only place where a domain error becomes a status code; later packages
// add their sentinels here.
var errorTable = []struct {
	err error
	res *Error
}{
	// Identity. Errors that carry data (fields, a device's status, a lock's
	// Retry-After) are answered by authError; these rows are the rest.
	{auth.ErrInvalidCredentials, &Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Detail: "Invalid username or password."}},
	{auth.ErrDeviceIDRequired, &Error{Status: http.StatusBadRequest, Code: "device_id_required", Detail: "A device_id is required to sign in."}},
	{auth.ErrTooManyDevices, &Error{Status: http.StatusBadRequest, Code: "too_many_devices", Detail: "Too many devices are waiting for approval. Remove one, or wait for an administrator."}},
	{auth.ErrDeviceAlreadyApproved, &Error{Status: http.StatusBadRequest, Code: "device_already_approved", Detail: "This device is already approved."}},
	{auth.ErrDeviceAlreadyRejected, &Error{Status: http.StatusBadRequest, Code: "device_already_rejected", Detail: "This device is already rejected."}},
	{auth.ErrDeviceNotApproved, &Error{Status: http.StatusForbidden, Code: "device_not_approved", Detail: "This device is not approved."}},
	{auth.ErrInvalidToken, &Error{Status: http.StatusUnauthorized, Code: "token_not_valid", Detail: "The token is invalid or has expired."}},
	{auth.ErrNotYourToken, &Error{Status: http.StatusBadRequest, Code: "invalid_token", Detail: "This refresh token is not a live token of yours."}},
	{auth.ErrInvalidOTP, &Error{Status: http.StatusBadRequest, Code: "invalid_otp", Detail: "The code is invalid or has expired."}},
	{auth.ErrInvalidResetToken, &Error{Status: http.StatusBadRequest, Code: "invalid_reset_token", Detail: "The reset token is invalid, used or expired. Ask for a new code."}},
	{auth.ErrInactive, &Error{Status: http.StatusForbidden, Code: "account_inactive", Detail: "This account is inactive."}},
	{auth.ErrNotFound, errNotFound},
	{auth.ErrLocked, &Error{Status: http.StatusTooManyRequests, Code: "too_many_attempts", Detail: "Too many failed sign-in attempts. Try again later."}},
	{auth.ErrInvalid, &Error{Status: http.StatusBadRequest, Code: "invalid", Detail: "The request is invalid."}},
	{auth.ErrSelf, &Error{Status: http.StatusBadRequest, Code: "cannot_change_self",
		Detail: "You cannot deactivate, delete or demote your own account, nor set its password here (use /api/auth/password/change/)."}},
	{auth.ErrSuperuser, &Error{Status: http.StatusBadRequest, Code: "superuser_protected",
		Detail: "A superuser's account can be changed only by its owner or from the command line."}},
	{auth.ErrDeleted, &Error{Status: http.StatusBadRequest, Code: "user_deleted", Detail: "This account is deleted."}},

	// Notifications.
	{jobs.ErrNotificationNotFound, errNotFound},
	{jobs.ErrNoRecipient, &Error{Status: http.StatusBadRequest, Code: "invalid", Detail: "user_id: No active user has this id.",
		Fields: map[string][]string{"user_id": {"No active user has this id."}}}},

	// Money (the ledger's sentinels; limits with their amounts are answered
	// by savingsError).
	{ledger.ErrInsufficientFunds, &Error{Status: http.StatusBadRequest, Code: "insufficient_funds", Detail: "Insufficient funds"}},
	{ledger.ErrIdempotencyConflict, &Error{Status: http.StatusConflict, Code: "idempotency_conflict", Detail: "This Idempotency-Key was already used for a different request."}},
	{ledger.ErrAmountOverLimit, &Error{Status: http.StatusBadRequest, Code: "amount_over_limit", Detail: "The amount is over the limit per transaction."}},
	{ledger.ErrDailyLimitExceeded, &Error{Status: http.StatusBadRequest, Code: "daily_limit_exceeded", Detail: "This would go over your daily limit."}},
	{ledger.ErrUnknownCurrency, &Error{Status: http.StatusBadRequest, Code: "unsupported_currency", Detail: "This currency is not supported."}},
	{ledger.ErrRuleExists, &Error{Status: http.StatusConflict, Code: "rule_exists", Detail: "You already have a low-balance rule; change it instead."}},
	{ledger.ErrNotFound, errNotFound},
	{ledger.ErrTooManyRetries, &Error{Status: http.StatusServiceUnavailable, Code: "busy", Detail: "The service is busy. Please try again."}},
}

// toAPIError finds the answer for err: an *Error as is, a known sentinel
// through errorTable, anything else a generic 500.
func toAPIError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.res
		}
	}
	return errInternal
}

// writeError answers with err's JSON body. A 500 is logged with the request
// id and the real error; the client sees only the generic sentence.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := toAPIError(err)
	if e.Status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "err", err)
	}
	if len(e.Extra) == 0 {
		writeJSON(w, e.Status, errorBody{Detail: e.Detail, Code: e.Code, Errors: e.Fields})
		return
	}
	body := map[string]any{"detail": e.Detail, "code": e.Code}
	if len(e.Fields) > 0 {
		body["errors"] = e.Fields
	}
	for k, v := range e.Extra {
		body[k] = v
	}
	writeJSON(w, e.Status, body)
}

package api

import (
	"errors"
	"log/slog"
	"net/http"
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
}{}

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

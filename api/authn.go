package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/creditjambo/creditjambo/auth"
)

// Answers of the authentication layer.
var (
	errNotAuthenticated = &Error{Status: http.StatusUnauthorized, Code: "not_authenticated", Detail: "Authentication credentials were not provided."}
	errTokenNotValid    = &Error{Status: http.StatusUnauthorized, Code: "token_not_valid", Detail: "The access token is invalid or has expired."}
	errForbidden        = &Error{Status: http.StatusForbidden, Code: "permission_denied", Detail: "You do not have permission to perform this action."}
)

// principalKey is the context key of the authenticated caller.
type principalKey struct{}

// currentUser is the caller authenticated by authn. It is the zero
// Principal outside authn.
func currentUser(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey{}).(auth.Principal)
	return p
}

// authn requires a valid access token (`Authorization: Bearer <JWT>`, the
// scheme in any case) and puts its principal in the request's context for
// currentUser. Missing → 401 not_authenticated; invalid, forged or expired →
// 401 token_not_valid. It reads no database: see auth.Service.Authenticate.
func (s *server) authn(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		token, ok := bearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			return errNotAuthenticated
		}
		p, err := s.auth.Authenticate(token)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			return errTokenNotValid
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// admin is authn plus the admin role: any other role gets 403. Unlike
// authn it also reads the account, so that an admin demoted or deactivated
// loses admin powers at once rather than when the access token expires.
func (s *server) admin(h handlerFunc) handlerFunc {
	return s.authn(func(w http.ResponseWriter, r *http.Request) error {
		p := currentUser(r.Context())
		if p.Role != auth.RoleAdmin {
			return errForbidden
		}
		u, err := s.auth.User(r.Context(), p.UserID)
		if errors.Is(err, auth.ErrNotFound) || (err == nil && (!u.Active() || u.Role != auth.RoleAdmin)) {
			return errForbidden
		}
		if err != nil {
			return err
		}
		return h(w, r)
	})
}

// bearerToken is the token of an Authorization header with the Bearer
// scheme.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// client is where a request comes from, for auth's records.
func client(r *http.Request) auth.Client {
	return auth.Client{IP: clientIP(r.Context()), UserAgent: r.UserAgent()}
}

// authError turns auth's errors that carry data into their answers: field
// errors, a refused device with its status (403 device_not_approved, never a
// 401: the frontend logs out on any 401), a lock-out with Retry-After. Any
// other error is returned unchanged for errorTable. Handlers that call auth
// (the savings handlers with CheckDeviceTx too) return authError(w, err).
func authError(w http.ResponseWriter, err error) error {
	var inv *auth.InvalidError
	var dev *auth.DeviceError
	var locked *auth.LockedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &inv):
		field, msg := inv.First()
		return &Error{Status: http.StatusBadRequest, Code: "invalid", Detail: field + ": " + msg, Fields: inv.Fields}
	case errors.As(err, &dev):
		return &Error{
			Status: http.StatusForbidden, Code: "device_not_approved", Detail: deviceDetail[dev.Status],
			Extra: map[string]any{"device_status": string(dev.Status), "approved": false},
		}
	case errors.As(err, &locked):
		secs := int(math.Ceil(locked.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		return &Error{
			Status: http.StatusTooManyRequests, Code: "too_many_attempts",
			Detail: fmt.Sprintf("Too many failed sign-in attempts. Try again in %s.", humanWait(secs)),
		}
	}
	return err
}

// deviceDetail is what people read when a device is refused.
var deviceDetail = map[auth.DeviceStatus]string{
	auth.DevicePending:  "This device is waiting for an administrator's approval. You will get an email once it is approved.",
	auth.DeviceRejected: "This device was not approved. Ask for verification again or contact support.",
	auth.DeviceRevoked:  "This device was removed from your account. Ask for verification again to use it.",
}

func humanWait(secs int) string {
	switch {
	case secs <= 60:
		return "a minute"
	case secs < 3600:
		return strconv.Itoa((secs+59)/60) + " minutes"
	}
	return "an hour"
}

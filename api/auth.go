package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/creditjambo/creditjambo/auth"
)

// Per-IP limits of the sensitive endpoints (API.md: login, register, OTP
// request and verify, token refresh), on top of the general /api/ limit.
// Login is also limited per account by auth (progressive lock-out).
const (
	limitWindow         = time.Minute
	loginPerIP          = 20
	registerPerIP       = 10
	refreshPerIP        = 30
	otpRequestPerIP     = 10
	otpVerifyPerIP      = 20
	newPasswordPerIP    = 10
	passwordChangePerIP = 10
)

// Answers of the auth endpoints that auth's sentinels do not carry.
var (
	errUnsupportedChannel = &Error{Status: http.StatusBadRequest, Code: "unsupported_channel", Detail: "Codes can only be sent by email."}
	errRefreshNotValid    = &Error{Status: http.StatusUnauthorized, Code: "token_not_valid", Detail: "The refresh token is invalid or has expired."}
)

// otpSentDetail is the one answer to every OTP request.
const otpSentDetail = "If an account exists, an OTP was sent."

type registerRequest struct {
	Username        string `json:"username"`
	Email           string `json:"email"`
	Password        string `json:"password"`
	ConfirmPassword string `json:"confirm_password"`
	DeviceID        string `json:"device_id"`
	DeviceName      string `json:"device_name"`
	Language        string `json:"language"`
}

func (s *server) register(w http.ResponseWriter, r *http.Request) error {
	var req registerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.auth.Register(r.Context(), auth.RegisterInput{
		Username: req.Username, Email: req.Email, Password: req.Password, ConfirmPassword: req.ConfirmPassword,
		DeviceID: req.DeviceID, DeviceName: req.DeviceName, Language: req.Language,
	}, client(r))
	if err != nil {
		return authError(w, err)
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id": u.ID, "username": u.Username, "email": u.Email,
		"message": "Account created. We sent a verification code to your email address.",
	})
	return nil
}

type loginRequest struct {
	Username   string `json:"username"`
	Password   string `json:"password"`
	DeviceID   string `json:"device_id"`
	DeviceName string `json:"device_name"`
}

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	sess, err := s.auth.Login(r.Context(), auth.LoginInput{
		Identifier: req.Username, Password: req.Password, DeviceID: req.DeviceID, DeviceName: req.DeviceName,
	}, client(r))
	if err != nil {
		return authError(w, err)
	}
	u, err := s.userJSON(r.Context(), sess.User)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"access": sess.Tokens.Access, "refresh": sess.Tokens.Refresh, "user": u})
	return nil
}

type refreshRequest struct {
	Refresh string `json:"refresh"`
}

func (s *server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Refresh == "" {
		return fieldError("refresh", "This field is required.")
	}
	t, err := s.auth.Refresh(r.Context(), req.Refresh)
	if err != nil {
		if errors.Is(err, auth.ErrInvalidToken) {
			return errRefreshNotValid
		}
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"access": t.Access, "refresh": t.Refresh})
	return nil
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.auth.Logout(r.Context(), currentUser(r.Context()), req.Refresh); err != nil {
		return authError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"detail": "Logged out."})
	return nil
}

func (s *server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	if err := s.auth.LogoutAll(r.Context(), currentUser(r.Context())); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"detail": "Logged out of every session."})
	return nil
}

func (s *server) me(w http.ResponseWriter, r *http.Request) error {
	u, err := s.auth.User(r.Context(), currentUser(r.Context()).UserID)
	if err != nil || !u.Active() {
		if err == nil || errors.Is(err, auth.ErrNotFound) {
			return errTokenNotValid
		}
		return err
	}
	p, err := s.profileJSON(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

type profileRequest struct {
	Language  *string `json:"language"`
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
}

func (s *server) updateMe(w http.ResponseWriter, r *http.Request) error {
	var req profileRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := s.auth.UpdateProfile(r.Context(), currentUser(r.Context()).UserID, auth.ProfileUpdate{
		Language: req.Language, FirstName: req.FirstName, LastName: req.LastName,
	})
	if err != nil {
		return authError(w, err)
	}
	p, err := s.profileJSON(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

type passwordChangeRequest struct {
	OldPassword     string `json:"old_password"`
	NewPassword     string `json:"new_password"`
	ConfirmPassword string `json:"confirm_password"`
}

func (s *server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordChangeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	err := s.auth.ChangePassword(r.Context(), currentUser(r.Context()), req.OldPassword, req.NewPassword, req.ConfirmPassword, client(r))
	if err != nil {
		return authError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"detail": "Password changed. Your other sessions were signed out."})
	return nil
}

type otpRequest struct {
	Identifier string `json:"identifier"`
	Channel    string `json:"channel"`
	Purpose    string `json:"purpose"`
}

// purpose parses an optional purpose field; the default is password_reset.
func purpose(s string) (auth.Purpose, error) {
	if s == "" {
		return auth.PurposePasswordReset, nil
	}
	p, ok := auth.ParsePurpose(s)
	if !ok {
		return "", fieldError("purpose", `Choose "password_reset" or "verify_email".`)
	}
	return p, nil
}

// requestOTP answers 200 with the same body whether or not the account
// exists, is in its cool-down or over its hourly limit; only the per-IP
// limit answers 429, which says nothing about any account.
func (s *server) requestOTP(w http.ResponseWriter, r *http.Request) error {
	var req otpRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Channel != "" && req.Channel != "email" {
		return errUnsupportedChannel
	}
	p, err := purpose(req.Purpose)
	if err != nil {
		return err
	}
	if req.Identifier == "" {
		return fieldError("identifier", "This field is required.")
	}
	if err := s.auth.RequestOTP(r.Context(), req.Identifier, p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"detail": otpSentDetail})
	return nil
}

type otpVerifyRequest struct {
	Identifier string          `json:"identifier"`
	OTP        json.RawMessage `json:"otp"`
	Purpose    string          `json:"purpose"`
}

// otpText is the code as sent: a JSON string, or a number's literal digits.
func otpText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func (s *server) verifyOTP(w http.ResponseWriter, r *http.Request) error {
	var req otpVerifyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	p, err := purpose(req.Purpose)
	if err != nil {
		return err
	}
	res, err := s.auth.VerifyOTP(r.Context(), req.Identifier, otpText(req.OTP), p)
	if err != nil {
		return authError(w, err)
	}
	w.Header().Set("Cache-Control", "no-store")
	if p == auth.PurposeVerifyEmail {
		writeJSON(w, http.StatusOK, map[string]any{"detail": "Email verified.", "email_verified": true})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"detail": "Code verified. Choose a new password within 15 minutes.", "reset_token": res.ResetToken})
	return nil
}

type newPasswordRequest struct {
	ResetToken      string `json:"reset_token"`
	NewPassword     string `json:"new_password"`
	ConfirmPassword string `json:"confirm_password"`
}

func (s *server) newPassword(w http.ResponseWriter, r *http.Request) error {
	var req newPasswordRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.auth.ResetPassword(r.Context(), req.ResetToken, req.NewPassword, req.ConfirmPassword, client(r)); err != nil {
		return authError(w, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"detail": "Your password was reset. Sign in with the new one."})
	return nil
}

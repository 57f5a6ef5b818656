package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// RequestOTP issues a one-time code for purpose to the account that
// identifier (a username or an email) names, and emits OTPRequested: the
// event is the only place the code exists in clear. A new code replaces the
// live one.
//
// It returns nil, having done nothing, for an unknown or inactive account,
// an email already verified, within OTPCooldown of the last code for the
// purpose, or beyond OTPMaxPerHour codes for the account: callers answer
// the same in every case, so that the answer tells nothing about accounts.
func (s *Service) RequestOTP(ctx context.Context, identifier string, purpose Purpose) error {
	u, _, err := userByIdentifier(ctx, s.pool, identifier)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !u.Active() || (purpose == PurposeVerifyEmail && u.EmailVerified) {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		u, _, err := userForUpdate(ctx, tx, u.ID) // serializes the limits per user
		if err != nil {
			return err
		}
		now := s.now()
		var lastHour int
		var latest *time.Time
		err = tx.QueryRow(ctx, `
			SELECT count(*), max(created_at) FILTER (WHERE purpose = $3)
			FROM otp_codes WHERE user_id = $1 AND created_at > $2`,
			u.ID, now.Add(-time.Hour), string(purpose)).Scan(&lastHour, &latest)
		if err != nil {
			return err
		}
		if lastHour >= OTPMaxPerHour || (latest != nil && now.Sub(*latest) < OTPCooldown) {
			return nil
		}
		code, err := s.issueOTPTx(ctx, tx, u.ID, purpose)
		if err != nil {
			return err
		}
		return s.emit(ctx, tx, OTPRequested{User: u, Purpose: purpose, Code: code, CodeTTL: OTPTTL})
	})
}

// issueOTPTx replaces the user's live code for purpose with a new one and
// returns it. Only its keyed hash is stored.
func (s *Service) issueOTPTx(ctx context.Context, tx pgx.Tx, userID int64, purpose Purpose) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	code := fmt.Sprintf("%06d", n.Int64())
	now := s.now()
	if _, err := tx.Exec(ctx, `
		UPDATE otp_codes SET replaced_at = $3
		WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND replaced_at IS NULL`, userID, string(purpose), now); err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO otp_codes (user_id, purpose, code_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, userID, string(purpose), s.otpHash(userID, purpose, code), now, now.Add(OTPTTL))
	return code, err
}

// otpHash binds a code to its user and purpose: a code is worth nothing for
// another purpose even if the rows were mixed up.
func (s *Service) otpHash(userID int64, purpose Purpose, code string) []byte {
	return keyedHash(s.codeKey, "otp", strconv.FormatInt(userID, 10), string(purpose), code)
}

// OTPResult is a verified code: for PurposePasswordReset, the reset token to
// set a new password with.
type OTPResult struct {
	Purpose    Purpose
	ResetToken string
}

// VerifyOTP checks a one-time code for purpose of the account that
// identifier names. A good code is used up; it also proves the email, so
// the account's email becomes verified; for PurposePasswordReset it yields a
// single-use reset token valid ResetTokenTTL (older reset tokens of the user
// die). A wrong code counts against the live code, which is burned after
// OTPMaxAttempts wrong tries. Wrong, expired, used, burned, replaced,
// other-purpose codes and unknown accounts are all ErrInvalidOTP.
func (s *Service) VerifyOTP(ctx context.Context, identifier, code string, purpose Purpose) (OTPResult, error) {
	if !sixDigits(code) {
		return OTPResult{}, ErrInvalidOTP
	}
	u, _, err := userByIdentifier(ctx, s.pool, identifier)
	if errors.Is(err, ErrNotFound) {
		return OTPResult{}, ErrInvalidOTP
	}
	if err != nil {
		return OTPResult{}, err
	}
	if !u.Active() {
		return OTPResult{}, ErrInvalidOTP
	}
	res := OTPResult{Purpose: purpose}
	var outcome error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var id int64
		var hash []byte
		var exp time.Time
		var attempts int
		err := tx.QueryRow(ctx, `
			SELECT id, code_hash, expires_at, attempts FROM otp_codes
			WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND replaced_at IS NULL
			FOR UPDATE`, u.ID, string(purpose)).Scan(&id, &hash, &exp, &attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = ErrInvalidOTP
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		if !now.Before(exp) || attempts >= OTPMaxAttempts {
			outcome = ErrInvalidOTP
			return nil
		}
		if subtle.ConstantTimeCompare(hash, s.otpHash(u.ID, purpose, code)) != 1 {
			outcome = ErrInvalidOTP
			_, err := tx.Exec(ctx, `UPDATE otp_codes SET attempts = attempts + 1 WHERE id = $1`, id)
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE otp_codes SET used_at = $2 WHERE id = $1`, id, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET email_verified = true WHERE id = $1`, u.ID); err != nil {
			return err
		}
		if purpose != PurposePasswordReset {
			return nil
		}
		token, th, err := newOpaque(s.codeKey, "reset")
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE password_reset_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL`, u.ID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO password_reset_tokens (user_id, token_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4)`, u.ID, th, now, now.Add(ResetTokenTTL)); err != nil {
			return err
		}
		res.ResetToken = token
		return nil
	})
	if err != nil {
		return OTPResult{}, err
	}
	if outcome != nil {
		return OTPResult{}, outcome
	}
	return res, nil
}

func sixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := range 6 {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ResetPassword sets a new password with a reset token from VerifyOTP: the
// token is used up, every log-in of the user is revoked, failed log-ins are
// forgotten, and PasswordChanged is emitted. An unknown, used or expired
// token is ErrInvalidResetToken; a password against the rules is an
// *InvalidError, and the token stays usable.
func (s *Service) ResetPassword(ctx context.Context, resetToken, newPassword, confirm string, c Client) error {
	th, ok := opaqueHash(s.codeKey, "reset", resetToken)
	if !ok {
		return ErrInvalidResetToken
	}
	var userID int64
	var exp time.Time
	var used *time.Time
	err := s.pool.QueryRow(ctx, `SELECT user_id, expires_at, used_at FROM password_reset_tokens WHERE token_hash = $1`, th).Scan(&userID, &exp, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrInvalidResetToken
	}
	if err != nil {
		return err
	}
	if used != nil || !s.now().Before(exp) {
		return ErrInvalidResetToken
	}
	u, _, err := userByID(ctx, s.pool, userID)
	if err != nil {
		return err
	}
	if !u.Active() {
		return ErrInvalidResetToken
	}
	v := invalid{}
	s.checkNewPassword(v, newPassword, confirm, u.Username)
	if err := v.err(); err != nil {
		return err
	}
	hash, err := s.hasher.hash(ctx, newPassword)
	if err != nil {
		return err
	}
	var outcome error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE password_reset_tokens SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`, th, s.now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 { // spent by a parallel request
			outcome = ErrInvalidResetToken
			return nil
		}
		return s.setPasswordTx(ctx, tx, u.ID, hash, 0, PasswordChanged{Reset: true, IP: ipString(c), At: s.now()})
	})
	if err != nil {
		return err
	}
	return outcome
}

// PurgeExpired deletes what can no longer be used: log-in failures
// forgotten after FailureMemory, codes and reset tokens a day after they
// expired, refresh families (and their tokens) a day after they ended. Login
// activity is kept. It returns how many rows went; a periodic job calls it.
func (s *Service) PurgeExpired(ctx context.Context) (int64, error) {
	now := s.now()
	dayAgo := now.Add(-24 * time.Hour)
	var total int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, q := range []struct {
			sql string
			arg time.Time
		}{
			{`DELETE FROM login_throttle WHERE last_failed_at < $1 AND (locked_until IS NULL OR locked_until < $1)`, now.Add(-FailureMemory)},
			{`DELETE FROM otp_codes WHERE expires_at < $1`, dayAgo},
			{`DELETE FROM password_reset_tokens WHERE expires_at < $1`, dayAgo},
			{`DELETE FROM refresh_tokens WHERE family_id IN (SELECT id FROM refresh_families WHERE expires_at < $1 OR revoked_at < $1)`, dayAgo},
			{`DELETE FROM refresh_families WHERE expires_at < $1 OR revoked_at < $1`, dayAgo},
		} {
			tag, err := tx.Exec(ctx, q.sql, q.arg)
			if err != nil {
				return err
			}
			total += tag.RowsAffected()
		}
		return nil
	})
	return total, err
}

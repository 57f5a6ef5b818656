package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LoginInput is a log-in form as sent.
type LoginInput struct {
	Identifier string // username (any case) or email
	Password   string
	DeviceID   string // required for everyone but admins
	DeviceName string
}

// Session is a successful log-in: the user as they are now and their tokens.
type Session struct {
	User   User
	Tokens Tokens
}

// Login checks a user's credentials and device and starts a log-in (a new
// refresh family). Every attempt is recorded in login_activity.
//
// Unknown user, wrong password and inactive account all return
// ErrInvalidCredentials after the same work (unknown users are checked
// against a dummy hash). After LockAfter consecutive failures the account (or
// the unknown identifier, alike) is locked: *LockedError with the time left.
// A customer without a device id gets ErrDeviceIDRequired; a device not
// approved gets *DeviceError with its status, a device seen for the first
// time being recorded PENDING (DeviceSeen event, ErrTooManyDevices beyond
// MaxPendingDevices). Admins are exempt from device approval.
func (s *Service) Login(ctx context.Context, in LoginInput, c Client) (Session, error) {
	v := invalid{}
	if strings.TrimSpace(in.Identifier) == "" {
		v.add("username", msgRequired)
	}
	if in.Password == "" {
		v.add("password", msgRequired)
	}
	if in.DeviceID != "" && !validDeviceID(in.DeviceID) {
		v.add("device_id", msgBadDeviceID)
	}
	if err := v.err(); err != nil {
		return Session{}, err
	}
	act := activity{Username: truncate(strings.TrimSpace(in.Identifier), 150), DeviceID: in.DeviceID, Client: c}

	found, hash, err := userByIdentifier(ctx, s.pool, in.Identifier)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Session{}, err
	}
	key := s.identifierKey(in.Identifier)
	if exists {
		key = userKey(found.ID)
		act.UserID, act.Username, act.Email = &found.ID, found.Username, found.Email
	} else {
		hash = s.dummyHash
	}

	retry, err := s.reserveAttempt(ctx, key)
	if err != nil {
		return Session{}, err
	}
	if retry > 0 {
		if err := s.record(ctx, s.pool, act.result(false, "locked", "Too many failed attempts: locked")); err != nil {
			return Session{}, err
		}
		return Session{}, &LockedError{RetryAfter: retry}
	}

	ok, rehash, err := s.hasher.verify(ctx, hash, in.Password)
	if err != nil {
		return Session{}, err
	}
	reason, message := "", ""
	switch {
	case !exists:
		reason, message = "unknown_user", "Unknown username or email"
	case !ok:
		reason, message = "wrong_password", "Wrong password"
	case !found.Active():
		reason, message = "inactive", "Account inactive"
	}
	if reason != "" {
		if err := s.record(ctx, s.pool, act.result(false, reason, message)); err != nil {
			return Session{}, err
		}
		return Session{}, ErrInvalidCredentials
	}
	newHash := ""
	if rehash {
		if newHash, err = s.hasher.hash(ctx, in.Password); err != nil {
			return Session{}, err
		}
	}

	var sess Session
	var outcome error
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		u, current, err := userForUpdate(ctx, tx, found.ID)
		if err != nil {
			return err
		}
		if !u.Active() { // deactivated while the password was checked
			outcome = ErrInvalidCredentials
			return s.record(ctx, tx, act.result(false, "inactive", "Account inactive"))
		}
		if err := clearThrottle(ctx, tx, key); err != nil {
			return err
		}
		if newHash != "" && current == hash {
			if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, u.ID, newHash); err != nil {
				return err
			}
		}
		var dev *Device
		if u.Role != RoleAdmin {
			if in.DeviceID == "" {
				outcome = ErrDeviceIDRequired
				return s.record(ctx, tx, act.result(false, "device_id_required", "No device id sent"))
			}
			d, _, err := s.seeDeviceTx(ctx, tx, u, in.DeviceID, in.DeviceName, c, ViaLogin)
			if errors.Is(err, ErrTooManyDevices) {
				outcome = err
				return s.record(ctx, tx, act.result(false, "too_many_devices", "Too many devices awaiting approval"))
			}
			if err != nil {
				return err
			}
			if d.Status != DeviceApproved {
				outcome = &DeviceError{Status: d.Status}
				return s.record(ctx, tx, act.result(false, "device_"+strings.ToLower(string(d.Status)), "Device "+strings.ToLower(string(d.Status))))
			}
			dev = &d
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE users SET last_login = $2 WHERE id = $1`, u.ID, now); err != nil {
			return err
		}
		u.LastLogin = &now
		tokens, err := s.startSessionTx(ctx, tx, u, dev)
		if err != nil {
			return err
		}
		sess = Session{User: u, Tokens: tokens}
		return s.record(ctx, tx, act.result(true, "ok", "Signed in"))
	})
	if err != nil {
		return Session{}, err
	}
	return sess, outcome
}

// startSessionTx opens a refresh family for u on dev (nil for an admin) and
// returns its first tokens.
func (s *Service) startSessionTx(ctx context.Context, tx pgx.Tx, u User, dev *Device) (Tokens, error) {
	now := s.now()
	var devID *int64
	if dev != nil {
		devID = &dev.ID
	}
	familyExp := now.Add(s.familyTTL)
	var familyID int64
	err := tx.QueryRow(ctx, `
		INSERT INTO refresh_families (user_id, device_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4) RETURNING id`, u.ID, devID, now, familyExp).Scan(&familyID)
	if err != nil {
		return Tokens{}, err
	}
	refresh, err := s.newRefreshTx(ctx, tx, familyID, nil, u.ID, devID, familyExp)
	if err != nil {
		return Tokens{}, err
	}
	p := Principal{UserID: u.ID, Role: u.Role, SessionID: familyID}
	if devID != nil {
		p.DeviceID = *devID
	}
	access, exp, err := s.signer.issue(p)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{Access: access, Refresh: refresh, AccessExpiresAt: exp}, nil
}

// newRefreshTx stores a new refresh token of a family and returns it.
func (s *Service) newRefreshTx(ctx context.Context, tx pgx.Tx, familyID int64, parentID *int64, userID int64, devID *int64, familyExp time.Time) (string, error) {
	token, hash, err := newOpaque(s.refreshKey, "refresh")
	if err != nil {
		return "", err
	}
	now := s.now()
	exp := now.Add(s.refreshTTL)
	if familyExp.Before(exp) {
		exp = familyExp
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO refresh_tokens (family_id, parent_id, user_id, device_id, token_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, familyID, parentID, userID, devID, hash, now, exp)
	return token, err
}

// Refresh spends a refresh token and returns a new access token and the
// next refresh token of its family. It returns ErrInvalidToken (wrapped with
// the reason) for a token that is unknown, expired or revoked, whose user is
// inactive or whose device is no longer approved (the family is then
// revoked), and for a token already spent: that is reuse, and revokes the
// whole family. The token's row is locked for the transaction, so parallel
// refreshes with one token never yield two live chains.
func (s *Service) Refresh(ctx context.Context, refresh string) (Tokens, error) {
	hash, ok := opaqueHash(s.refreshKey, "refresh", refresh)
	if !ok {
		return Tokens{}, ErrInvalidToken
	}
	var out Tokens
	var outcome error
	fail := func(why string) error {
		outcome = errors.Join(ErrInvalidToken, errors.New(why))
		return nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var (
			id, familyID, userID int64
			devID                *int64
			exp, familyExp       time.Time
			used, revoked, fRev  *time.Time
		)
		err := tx.QueryRow(ctx, `
			SELECT t.id, t.family_id, t.user_id, t.device_id, t.expires_at, t.used_at, t.revoked_at, f.expires_at, f.revoked_at
			FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
			WHERE t.token_hash = $1
			FOR UPDATE OF t`, hash).Scan(&id, &familyID, &userID, &devID, &exp, &used, &revoked, &familyExp, &fRev)
		if errors.Is(err, pgx.ErrNoRows) {
			return fail("unknown refresh token")
		}
		if err != nil {
			return err
		}
		now := s.now()
		switch {
		case fRev != nil || revoked != nil:
			return fail("revoked")
		case used != nil:
			if err := s.revokeFamily(ctx, tx, familyID, "reuse"); err != nil {
				return err
			}
			return fail("reuse of a spent refresh token: family revoked")
		case !now.Before(exp) || !now.Before(familyExp):
			return fail("expired")
		}
		u, _, err := userByID(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !u.Active() {
			return errors.Join(s.revokeFamily(ctx, tx, familyID, "inactive"), fail("inactive user"))
		}
		p := Principal{UserID: u.ID, Role: u.Role, SessionID: familyID}
		switch {
		case devID != nil:
			var st DeviceStatus
			if err := tx.QueryRow(ctx, `SELECT status FROM devices WHERE id = $1`, *devID).Scan(&st); err != nil {
				return err
			}
			if st != DeviceApproved {
				return errors.Join(s.revokeFamily(ctx, tx, familyID, "device_"+strings.ToLower(string(st))), fail("device not approved"))
			}
			p.DeviceID = *devID
		case u.Role != RoleAdmin:
			// A log-in without a device belongs to an admin since demoted.
			return errors.Join(s.revokeFamily(ctx, tx, familyID, "no_device"), fail("no approved device"))
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE id = $1`, id, now); err != nil {
			return err
		}
		next, err := s.newRefreshTx(ctx, tx, familyID, &id, u.ID, devID, familyExp)
		if err != nil {
			return err
		}
		access, accessExp, err := s.signer.issue(p)
		if err != nil {
			return err
		}
		out = Tokens{Access: access, Refresh: next, AccessExpiresAt: accessExp}
		return nil
	})
	if err != nil {
		return Tokens{}, err
	}
	return out, outcome
}

// Logout ends the log-in of a refresh token of the caller. A token that is
// unknown, not the caller's, spent, revoked or expired is ErrNotYourToken,
// and nothing is revoked.
func (s *Service) Logout(ctx context.Context, p Principal, refresh string) error {
	hash, ok := opaqueHash(s.refreshKey, "refresh", refresh)
	if !ok {
		return ErrNotYourToken
	}
	var outcome error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var (
			familyID, userID    int64
			exp, familyExp      time.Time
			used, revoked, fRev *time.Time
		)
		err := tx.QueryRow(ctx, `
			SELECT t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, f.expires_at, f.revoked_at
			FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
			WHERE t.token_hash = $1
			FOR UPDATE OF t`, hash).Scan(&familyID, &userID, &exp, &used, &revoked, &familyExp, &fRev)
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = ErrNotYourToken
			return nil
		}
		if err != nil {
			return err
		}
		now := s.now()
		if userID != p.UserID || used != nil || revoked != nil || fRev != nil || !now.Before(exp) || !now.Before(familyExp) {
			outcome = ErrNotYourToken
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE token_hash = $1`, hash, now); err != nil {
			return err
		}
		return s.revokeFamily(ctx, tx, familyID, "logout")
	})
	if err != nil {
		return err
	}
	return outcome
}

// LogoutAll ends every log-in of the caller.
func (s *Service) LogoutAll(ctx context.Context, p Principal) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		return s.revokeUserFamilies(ctx, tx, p.UserID, 0, "logout_all")
	})
}

// revokeFamiliesSQL revokes the live families chosen by the WHERE clause
// that completes it ($1 is the time, $2 the reason). A family's revoked_at
// is what kills its tokens: their rows are not touched, so that revoking
// never waits on a token row a refresh holds (while that refresh may be
// about to revoke the family itself).
const revokeFamiliesSQL = `
	UPDATE refresh_families SET revoked_at = $1, revoke_reason = $2
	WHERE revoked_at IS NULL AND %s`

func (s *Service) revokeFamily(ctx context.Context, tx pgx.Tx, familyID int64, reason string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(revokeFamiliesSQL, "id = $3"), s.now(), reason, familyID)
	return err
}

// revokeUserFamilies revokes every log-in of a user but keep (0: none kept).
func (s *Service) revokeUserFamilies(ctx context.Context, tx pgx.Tx, userID, keep int64, reason string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(revokeFamiliesSQL, "user_id = $3 AND id <> $4"), s.now(), reason, userID, keep)
	return err
}

func (s *Service) revokeDeviceFamilies(ctx context.Context, tx pgx.Tx, deviceID int64, reason string) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(revokeFamiliesSQL, "device_id = $3"), s.now(), reason, deviceID)
	return err
}

// activity is a login_activity row in the making.
type activity struct {
	UserID   *int64
	Username string
	Email    string
	DeviceID string
	Client   Client
	Success  bool
	Reason   string
	Message  string
}

func (a activity) result(success bool, reason, message string) activity {
	a.Success, a.Reason, a.Message = success, reason, message
	return a
}

// record writes a login_activity row.
func (s *Service) record(ctx context.Context, q execer, a activity) error {
	_, err := q.Exec(ctx, `
		INSERT INTO login_activity (user_id, username, email, device_id, ip_address, user_agent, success, reason, message, created_at)
		VALUES ($1, $2, $3, $4, $5::inet, $6, $7, $8, $9, $10)`,
		a.UserID, a.Username, a.Email, truncate(a.DeviceID, MaxDeviceIDLen), ipParam(a.Client.IP),
		truncate(a.Client.UserAgent, maxUserAgentLen), a.Success, a.Reason, a.Message, s.now())
	return err
}

// userKey and identifierKey are login_throttle keys: an account, or an
// identifier that matches none (kept only as a keyed hash: people type
// passwords into the username field).
func userKey(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

func (s *Service) identifierKey(identifier string) string {
	return "name:" + hex.EncodeToString(keyedHash(s.codeKey, "login-identifier", normalizeIdentifier(identifier)))
}

// reserveAttempt counts an attempt against key as a failure before its
// password is checked, so that parallel guesses cannot slip past the lock:
// the attempt that reaches LockAfter failures sets the lock itself, and a
// success clears it. The price: LockAfter or more log-ins of one account in
// flight at once may see the lock even if their passwords are right, which
// no person signing in does. It returns how long key stays locked, or 0
// when the attempt may proceed.
func (s *Service) reserveAttempt(ctx context.Context, key string) (time.Duration, error) {
	var retry time.Duration
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		now := s.now()
		// The upsert returns the row locked, whether it inserted it or found
		// it (even if a success deletes it meanwhile).
		var failures int
		var locked *time.Time
		var last time.Time
		err := tx.QueryRow(ctx, `
			INSERT INTO login_throttle AS t (key, failures, last_failed_at) VALUES ($1, 0, $2)
			ON CONFLICT (key) DO UPDATE SET key = t.key
			RETURNING t.failures, t.locked_until, t.last_failed_at`, key, now).Scan(&failures, &locked, &last)
		if err != nil {
			return err
		}
		if locked != nil && locked.After(now) {
			retry = locked.Sub(now)
			return nil
		}
		if now.Sub(last) > FailureMemory {
			failures = 0
		}
		failures++
		var until *time.Time
		if failures >= LockAfter {
			t := now.Add(lockFor(failures))
			until = &t
		}
		_, err = tx.Exec(ctx, `UPDATE login_throttle SET failures = $2, locked_until = $3, last_failed_at = $4 WHERE key = $1`, key, failures, until, now)
		return err
	})
	return retry, err
}

// lockFor is the lock after n consecutive failures: LockBase at LockAfter,
// doubling with each further failure, at most LockMax.
func lockFor(n int) time.Duration {
	shift := n - LockAfter
	if shift >= 16 {
		return LockMax
	}
	return min(LockBase<<shift, LockMax)
}

// clearThrottle forgets the failures of keys.
func clearThrottle(ctx context.Context, tx pgx.Tx, keys ...string) error {
	_, err := tx.Exec(ctx, `DELETE FROM login_throttle WHERE key = ANY($1)`, keys)
	return err
}

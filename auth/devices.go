package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// deviceColumns are the columns scanDevice reads, from devices d joined with
// its owner u.
const deviceColumns = `d.id, d.user_id, u.username, u.email, u.email_verified, d.device_id, d.name, d.status,
	d.created_at, d.verified_at, d.last_seen_at, COALESCE(host(d.last_ip), ''), d.user_agent`

func scanDevice(row pgx.Row) (Device, error) {
	var d Device
	err := row.Scan(&d.ID, &d.UserID, &d.Username, &d.UserEmail, &d.EmailVerified, &d.DeviceID, &d.Name, &d.Status,
		&d.CreatedAt, &d.VerifiedAt, &d.LastSeenAt, &d.LastIP, &d.UserAgent)
	if errors.Is(err, pgx.ErrNoRows) {
		return Device{}, ErrNotFound
	}
	return d, err
}

func collectDevices(rows pgx.Rows, err error) ([]Device, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Devices lists a user's own devices, newest first.
func (s *Service) Devices(ctx context.Context, userID int64) ([]Device, error) {
	return collectDevices(s.pool.Query(ctx, `
		SELECT `+deviceColumns+` FROM devices d JOIN users u ON u.id = d.user_id
		WHERE d.user_id = $1 ORDER BY d.created_at DESC, d.id DESC`, userID))
}

// MaxAdminDevices bounds the admin device list.
const MaxAdminDevices = 1000

// AdminDevices lists every user's devices with status (all when empty),
// newest first, at most MaxAdminDevices.
func (s *Service) AdminDevices(ctx context.Context, status DeviceStatus) ([]Device, error) {
	if status == "" {
		return collectDevices(s.pool.Query(ctx, `
			SELECT `+deviceColumns+` FROM devices d JOIN users u ON u.id = d.user_id
			ORDER BY d.created_at DESC, d.id DESC LIMIT $1`, MaxAdminDevices))
	}
	return collectDevices(s.pool.Query(ctx, `
		SELECT `+deviceColumns+` FROM devices d JOIN users u ON u.id = d.user_id
		WHERE d.status = $1
		ORDER BY d.created_at DESC, d.id DESC LIMIT $2`, string(status), MaxAdminDevices))
}

// AddDevice registers a device of a signed-in user as PENDING (a DeviceSeen
// event), or returns the existing one with created false. It returns
// ErrTooManyDevices beyond MaxPendingDevices, ErrInactive for an inactive
// account, an *InvalidError for a bad device id.
func (s *Service) AddDevice(ctx context.Context, userID int64, deviceID, name string, c Client) (Device, bool, error) {
	if !validDeviceID(deviceID) {
		field := msgBadDeviceID
		if deviceID == "" {
			field = msgRequired
		}
		return Device{}, false, &InvalidError{Fields: map[string][]string{"device_id": {field}}}
	}
	var d Device
	var created bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, _, err := userForUpdate(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !u.Active() {
			return ErrInactive
		}
		d, created, err = s.seeDeviceTx(ctx, tx, u, deviceID, name, c, ViaAPI)
		return err
	})
	return d, created, err
}

// seeDeviceTx finds u's device with the client's deviceID, or creates it
// PENDING (at most MaxPendingDevices, then ErrTooManyDevices) and emits
// DeviceSeen; either way it records when, from where and with what it was
// seen. The caller holds u's row lock, which serializes device creation per
// user.
func (s *Service) seeDeviceTx(ctx context.Context, tx pgx.Tx, u User, deviceID, name string, c Client, via DeviceVia) (Device, bool, error) {
	now := s.now()
	name = truncate(strings.TrimSpace(name), MaxDeviceNameLen)
	ua := truncate(c.UserAgent, maxUserAgentLen)
	d, err := scanDevice(tx.QueryRow(ctx, `
		WITH d AS (
			UPDATE devices SET last_seen_at = $3, last_ip = $4::inet, user_agent = $5,
			                   name = CASE WHEN name = '' THEN $6 ELSE name END
			WHERE user_id = $1 AND device_id = $2
			RETURNING *
		)
		SELECT `+deviceColumns+` FROM d JOIN users u ON u.id = d.user_id`,
		u.ID, deviceID, now, ipParam(c.IP), ua, name))
	if err == nil || !errors.Is(err, ErrNotFound) {
		return d, false, err
	}
	if err := checkPendingCap(ctx, tx, u.ID); err != nil {
		return Device{}, false, err
	}
	d, err = scanDevice(tx.QueryRow(ctx, `
		WITH d AS (
			INSERT INTO devices (user_id, device_id, name, status, created_at, last_seen_at, last_ip, user_agent)
			VALUES ($1, $2, $3, 'PENDING', $4, $4, $5::inet, $6)
			RETURNING *
		)
		SELECT `+deviceColumns+` FROM d JOIN users u ON u.id = d.user_id`,
		u.ID, deviceID, name, now, ipParam(c.IP), ua))
	if err != nil {
		return Device{}, false, err
	}
	ev := DeviceSeen{User: u, Device: d, Via: via, IP: ipString(c), UserAgent: ua, At: now}
	return d, true, s.emit(ctx, tx, ev)
}

func checkPendingCap(ctx context.Context, tx pgx.Tx, userID int64) error {
	var pending int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM devices WHERE user_id = $1 AND status = 'PENDING'`, userID).Scan(&pending); err != nil {
		return err
	}
	if pending >= MaxPendingDevices {
		return ErrTooManyDevices
	}
	return nil
}

// ownDeviceForUpdate locks the owner's row, then the device, which must be
// theirs (else ErrNotFound).
func ownDeviceForUpdate(ctx context.Context, tx pgx.Tx, userID, id int64) (User, Device, error) {
	u, _, err := userForUpdate(ctx, tx, userID)
	if err != nil {
		return User{}, Device{}, err
	}
	d, err := scanDevice(tx.QueryRow(ctx, `
		SELECT `+deviceColumns+` FROM devices d JOIN users u ON u.id = d.user_id
		WHERE d.id = $1 AND d.user_id = $2 FOR UPDATE OF d`, id, userID))
	return u, d, err
}

// RequestVerification puts a user's REJECTED or REVOKED device back to
// PENDING for the admins (a DeviceSeen event); a PENDING device is returned
// as is. It returns ErrNotFound for a device that is not the user's,
// ErrDeviceAlreadyApproved for an approved one, ErrTooManyDevices beyond
// MaxPendingDevices.
func (s *Service) RequestVerification(ctx context.Context, userID, id int64, c Client) (Device, error) {
	var d Device
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, cur, err := ownDeviceForUpdate(ctx, tx, userID, id)
		if err != nil {
			return err
		}
		switch cur.Status {
		case DeviceApproved:
			return ErrDeviceAlreadyApproved
		case DevicePending:
			d = cur
			return nil
		}
		if err := checkPendingCap(ctx, tx, userID); err != nil {
			return err
		}
		if d, err = updateDevice(ctx, tx, id, DevicePending, nil, s.now()); err != nil {
			return err
		}
		return s.emit(ctx, tx, DeviceSeen{User: u, Device: d, Via: ViaRequest, IP: ipString(c), UserAgent: c.UserAgent, At: s.now()})
	})
	return d, err
}

// RevokeDevice marks a user's own device REVOKED and revokes its log-ins
// (DeviceRemoved event). Revoking a revoked device does nothing. It returns
// ErrNotFound for a device that is not the user's.
func (s *Service) RevokeDevice(ctx context.Context, userID, id int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		u, cur, err := ownDeviceForUpdate(ctx, tx, userID, id)
		if err != nil || cur.Status == DeviceRevoked {
			return err
		}
		d, err := updateDevice(ctx, tx, id, DeviceRevoked, nil, s.now())
		if err != nil {
			return err
		}
		if err := s.revokeDeviceFamilies(ctx, tx, id, "device_revoked"); err != nil {
			return err
		}
		return s.emit(ctx, tx, DeviceRemoved{User: u, Device: d, At: s.now()})
	})
}

// DecideDevice approves or rejects any user's device on an admin's
// authority (adminID), emitting DeviceDecided; a rejection also revokes the
// device's log-ins. It returns ErrNotFound, ErrDeviceAlreadyApproved or
// ErrDeviceAlreadyRejected.
func (s *Service) DecideDevice(ctx context.Context, adminID, id int64, approve bool) (Device, error) {
	var d Device
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		_, d, err = s.DecideDeviceTx(ctx, tx, adminID, id, approve)
		return err
	})
	return d, err
}

// DecideDeviceTx is DecideDevice in the caller's transaction (with the
// audit record of the decision, say). It returns the device as it was
// before and as it is now.
func (s *Service) DecideDeviceTx(ctx context.Context, tx pgx.Tx, adminID, id int64, approve bool) (before, after Device, err error) {
	var owner int64
	if err := tx.QueryRow(ctx, `SELECT user_id FROM devices WHERE id = $1`, id).Scan(&owner); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return Device{}, Device{}, ErrNotFound
		}
		return Device{}, Device{}, err
	}
	u, cur, err := ownDeviceForUpdate(ctx, tx, owner, id)
	if err != nil {
		return Device{}, Device{}, err
	}
	status := DeviceRejected
	if approve {
		status = DeviceApproved
	}
	switch {
	case approve && cur.Status == DeviceApproved:
		return Device{}, Device{}, ErrDeviceAlreadyApproved
	case !approve && cur.Status == DeviceRejected:
		return Device{}, Device{}, ErrDeviceAlreadyRejected
	}
	d, err := updateDevice(ctx, tx, id, status, &adminID, s.now())
	if err != nil {
		return Device{}, Device{}, err
	}
	if !approve {
		if err := s.revokeDeviceFamilies(ctx, tx, id, "device_rejected"); err != nil {
			return Device{}, Device{}, err
		}
	}
	if err := s.emit(ctx, tx, DeviceDecided{User: u, Device: d, Approved: approve, AdminID: adminID, At: s.now()}); err != nil {
		return Device{}, Device{}, err
	}
	return cur, d, nil
}

// updateDevice sets a device's status; a decision (admin not nil) records
// who and when, a return to PENDING clears them.
func updateDevice(ctx context.Context, tx pgx.Tx, id int64, status DeviceStatus, admin *int64, now time.Time) (Device, error) {
	return scanDevice(tx.QueryRow(ctx, `
		WITH d AS (
			UPDATE devices SET status = $2,
				verified_at = CASE WHEN $3::bigint IS NOT NULL THEN $4 WHEN $2 = 'PENDING' THEN NULL ELSE verified_at END,
				verified_by = CASE WHEN $3::bigint IS NOT NULL THEN $3::bigint WHEN $2 = 'PENDING' THEN NULL ELSE verified_by END
			WHERE id = $1
			RETURNING *
		)
		SELECT `+deviceColumns+` FROM d JOIN users u ON u.id = d.user_id`, id, string(status), admin, now))
}

// CheckDeviceTx reports, inside the caller's transaction, whether a user may
// move money from the device of their access token (p.DeviceID, 0 for an
// admin): nil for an active admin, or an active user on an APPROVED device of
// theirs; ErrInactive for a deactivated or deleted account; *DeviceError
// (matching ErrDeviceNotApproved) with the device's status otherwise. A
// device rejected or revoked after the token was issued is refused at once.
//
// It is one statement reading two rows by primary key, the user's and the
// device's, both private to the user: it adds no read of a shared hot page
// to a SERIALIZABLE posting transaction.
func (s *Service) CheckDeviceTx(ctx context.Context, tx pgx.Tx, userID, deviceID int64) error {
	return deviceVerdict(tx.QueryRow(ctx, deviceCheckSQL, userID, deviceID))
}

// DeviceCheck is CheckDeviceTx queued in a pgx.Batch (QueueDeviceCheck).
type DeviceCheck struct {
	err  error
	read bool
}

// QueueDeviceCheck queues CheckDeviceTx's statement in b, for a caller that
// sends it in one round trip with other statements of the transaction (pgx
// pipelining). Once the batch's results have been read, Err gives
// CheckDeviceTx's answer.
func (s *Service) QueueDeviceCheck(b *pgx.Batch, userID, deviceID int64) *DeviceCheck {
	dc := &DeviceCheck{}
	b.Queue(deviceCheckSQL, userID, deviceID).QueryRow(func(row pgx.Row) error {
		dc.err, dc.read = deviceVerdict(row), true
		return nil
	})
	return dc
}

// Err is CheckDeviceTx's answer; an error if the batch was not read.
func (dc *DeviceCheck) Err() error {
	if !dc.read {
		return errors.New("auth: device check was not sent")
	}
	return dc.err
}

const deviceCheckSQL = `
	SELECT u.is_active AND u.deleted_at IS NULL, u.role, d.status
	FROM users u LEFT JOIN devices d ON d.id = $2 AND d.user_id = u.id
	WHERE u.id = $1`

// deviceVerdict reads deviceCheckSQL's row into CheckDeviceTx's answer.
func deviceVerdict(row pgx.Row) error {
	var active bool
	var role Role
	var status *DeviceStatus
	err := row.Scan(&active, &role, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrInactive
	}
	switch {
	case err != nil:
		return err
	case !active:
		return ErrInactive
	case role == RoleAdmin:
		return nil
	case status == nil:
		return &DeviceError{Status: DeviceRevoked}
	case *status != DeviceApproved:
		return &DeviceError{Status: *status}
	}
	return nil
}

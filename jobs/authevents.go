package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/templates"
)

// AuthEventFunc returns the auth.Service's event hook. For each event that
// someone must be told about, it writes the inbox notification (NotifyUserTx,
// NotifyAdminsTx: exactly one per recipient, in the recipient's language) and
// inserts the email job with client.InsertTx, both in the event's own
// transaction, so they exist if and only if the change committed. One-time
// codes go only into EmailArgs.Sealed, sealed with sealer, never into Data
// (river_job.args is stored in clear) nor into a notification.
//
// The notifications: a registration is NEW_USER to every admin; a device
// waiting for approval is USER_APPROVAL_REQUIRED to every admin, once per
// device however often it comes back to PENDING; an admin's decision is
// DEVICE_EVENT to the owner; a password-reset code is PASSWORD_RESET to its
// owner; a deactivation is USER_BLOCKED to every admin still active. A
// device removed by its owner, a password change (emailed) and a
// reactivation notify no one.
func AuthEventFunc(client *river.Client[pgx.Tx], sealer *Sealer) auth.EventFunc {
	return func(ctx context.Context, tx pgx.Tx, ev auth.Event) error {
		if client == nil {
			return errors.New("jobs: auth events need a River client")
		}
		if err := notifyAuthEvent(ctx, tx, ev); err != nil {
			return err
		}
		var args EmailArgs
		var secret map[string]any
		switch e := ev.(type) {
		case auth.UserRegistered:
			args = email(e.User, templates.WelcomeVerify, map[string]any{"ExpiresMinutes": minutes(e.CodeTTL)})
			secret = map[string]any{"Code": e.VerifyCode}
		case auth.OTPRequested:
			tpl := templates.PasswordResetCode
			if e.Purpose == auth.PurposeVerifyEmail {
				tpl = templates.WelcomeVerify
			}
			args = email(e.User, tpl, map[string]any{"ExpiresMinutes": minutes(e.CodeTTL)})
			secret = map[string]any{"Code": e.Code}
		case auth.DeviceSeen:
			if e.Via != auth.ViaLogin {
				return nil
			}
			args = email(e.User, templates.NewDevice, map[string]any{
				"DeviceName": e.Device.Name, "Time": e.At, "IP": e.IP, "UserAgent": e.UserAgent,
			})
		case auth.DeviceDecided:
			tpl := templates.DeviceRejected
			if e.Approved {
				tpl = templates.DeviceApproved
			}
			args = email(e.User, tpl, map[string]any{"DeviceName": e.Device.Name, "Time": e.At})
		case auth.PasswordChanged:
			args = email(e.User, templates.PasswordChanged, map[string]any{"Time": e.At, "IP": e.IP})
		default:
			return nil
		}
		if secret != nil {
			if sealer == nil {
				return errors.New("jobs: an email with a code needs a Sealer")
			}
			sealed, err := sealer.Seal(secret)
			if err != nil {
				return err
			}
			args.Sealed = sealed
		}
		if _, err := client.InsertTx(ctx, tx, args, nil); err != nil {
			return fmt.Errorf("jobs: insert %s email: %w", args.Template, err)
		}
		return nil
	}
}

// notifyAuthEvent writes ev's notifications in tx (see AuthEventFunc). The
// data become the notifications' meta: never a code.
func notifyAuthEvent(ctx context.Context, tx pgx.Tx, ev auth.Event) error {
	var err error
	switch e := ev.(type) {
	case auth.UserRegistered:
		_, err = NotifyAdminsTx(ctx, tx, Notice{Type: NotifNewUser, Data: map[string]any{
			"user_id": e.User.ID, "username": e.User.Username, "email": e.User.Email,
		}})
	case auth.DeviceSeen:
		_, err = NotifyAdminsTx(ctx, tx, Notice{Type: NotifUserApprovalRequired, Data: map[string]any{
			"user_id": e.User.ID, "username": e.User.Username, "device": e.Device.ID, "device_name": e.Device.Name,
		}, DedupKey: "device:" + strconv.FormatInt(e.Device.ID, 10)})
	case auth.DeviceDecided:
		_, err = NotifyUserTx(ctx, tx, e.User.ID, Notice{Type: NotifDeviceEvent, Data: map[string]any{
			"device": e.Device.ID, "device_name": e.Device.Name, "status": string(e.Device.Status), "approved": e.Approved,
		}})
	case auth.OTPRequested:
		if e.Purpose == auth.PurposePasswordReset {
			_, err = NotifyUserTx(ctx, tx, e.User.ID, Notice{Type: NotifPasswordReset})
		}
	case auth.UserActiveChanged:
		if !e.Active {
			_, err = NotifyAdminsTx(ctx, tx, Notice{Type: NotifUserBlocked, Data: map[string]any{
				"user_id": e.User.ID, "username": e.User.Username, "email": e.User.Email,
			}})
		}
	}
	return err
}

// email addresses an email to u in their language.
func email(u auth.User, template string, data map[string]any) EmailArgs {
	return EmailArgs{
		Template: template,
		Language: string(u.Language),
		To:       u.Email,
		ToName:   u.DisplayName(),
		Data:     data,
	}
}

func minutes(d time.Duration) int {
	if d <= 0 {
		return 10
	}
	return int(d / time.Minute)
}

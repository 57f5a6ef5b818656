package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/templates"
)

// AuthEventFunc returns the auth.Service's event hook: for each event that
// someone must be told about, it inserts the email job with client.InsertTx
// in the event's own transaction, so the email exists if and only if the
// change committed. One-time codes go only into EmailArgs.Sealed, sealed
// with sealer, never into Data (river_job.args is stored in clear).
//
// Events without an email (a device registered by its signed-in owner, a
// device removed, an account deactivated) insert nothing for now; admin
// notifications will be added here, in the same switch.
func AuthEventFunc(client *river.Client[pgx.Tx], sealer *Sealer) auth.EventFunc {
	return func(ctx context.Context, tx pgx.Tx, ev auth.Event) error {
		if client == nil {
			return errors.New("jobs: auth events need a River client")
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

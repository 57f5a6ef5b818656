package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/templates"
)

// SavingsNotice is what the owner of a wallet is told about a deposit or a
// withdrawal: a receipt, and a low-balance alert when the posting crossed
// the alert threshold.
type SavingsNotice struct {
	User     auth.User
	Posting  ledger.Posting
	Currency string
	// LowBalance is the alert threshold the posting took the balance to or
	// below (ledger.LowBalanceCrossed); nil for no alert.
	LowBalance *decimal.Decimal
}

// Reference is how a customer refers to a transaction, in emails: "TX-000184".
func Reference(entryID int64) string { return fmt.Sprintf("TX-%06d", entryID) }

// SavingsNoticeTx writes n in tx, the posting's own transaction, so that
// they exist if and only if the money moved: one DEPOSIT_CONFIRMED or
// WITHDRAW_ALERT notification and one deposit receipt or withdrawal notice
// email job; with LowBalance, also one LOW_BALANCE notification and one
// low-balance email job. Both email jobs go in one InsertManyTx (one round
// trip); the notifications are queued in tx (ledger.Tx) to go with its next
// statement, COMMIT for the caller that writes nothing more, so that an
// error of theirs may come from the commit. They are queued after the jobs'
// insert, not before it: that order measured no serialization conflicts
// between deposits of distinct wallets, the other one some (its reads of
// the recipient's row, for the foreign key, stay open longer).
func SavingsNoticeTx(ctx context.Context, tx *ledger.Tx, client *river.Client[pgx.Tx], n SavingsNotice) error {
	if client == nil {
		return errors.New("jobs: savings notices need a River client")
	}
	p, u := n.Posting, n.User
	lang := string(u.Language)
	amount := ledger.FormatMoney(p.BalanceAfter.Sub(p.BalanceBefore).Abs())
	after := ledger.FormatMoney(p.BalanceAfter)
	notif, tpl := NotifDepositConfirmed, templates.DepositReceipt
	if p.Entry.Kind == ledger.KindWithdrawal {
		notif, tpl = NotifWithdrawAlert, templates.WithdrawalNotice
	}
	meta := map[string]any{
		"transaction_id": p.Entry.ID, "reference": Reference(p.Entry.ID), "amount": amount,
		"currency": n.Currency, "balance_after": after,
	}
	title, msg := NotificationText(notif, lang, meta)
	notes := []Notification{{RecipientID: u.ID, Type: notif, Title: title, Message: msg, Meta: meta}}
	emails := []river.InsertManyParams{{Args: savingsEmail(u, tpl, map[string]any{
		"Amount": amount, "Currency": n.Currency, "BalanceAfter": after, "Time": p.Entry.CreatedAt,
		"Reference": Reference(p.Entry.ID), "Description": p.Entry.Description,
	})}}
	if n.LowBalance != nil {
		threshold := ledger.FormatMoney(*n.LowBalance)
		meta := map[string]any{"transaction_id": p.Entry.ID, "balance": after, "threshold": threshold, "currency": n.Currency}
		title, msg := NotificationText(NotifLowBalance, lang, meta)
		notes = append(notes, Notification{RecipientID: u.ID, Type: NotifLowBalance, Title: title, Message: msg, Meta: meta})
		emails = append(emails, river.InsertManyParams{Args: savingsEmail(u, templates.LowBalance, map[string]any{
			"Balance": after, "Threshold": threshold, "Currency": n.Currency, "Time": p.Entry.CreatedAt,
		})})
	}
	if _, err := client.InsertManyTx(ctx, tx, emails); err != nil {
		return fmt.Errorf("jobs: insert %s email: %w", tpl, err)
	}
	for _, n := range notes {
		if err := queueNotification(tx.Batch(), n); err != nil {
			return err
		}
	}
	return nil
}

// notificationInsertSQL is NotifyTx's plain insert (no DedupKey: no read of
// the dedup index in the posting's SERIALIZABLE transaction).
const notificationInsertSQL = `
	INSERT INTO notifications (recipient_id, notif_type, title, message, meta)
	VALUES ($1, $2, $3, $4, $5)`

// queueNotification queues NotifyTx's insert of n (which has no DedupKey)
// in b.
func queueNotification(b *pgx.Batch, n Notification) error {
	meta := []byte("{}")
	if len(n.Meta) > 0 {
		var err error
		if meta, err = json.Marshal(n.Meta); err != nil {
			return fmt.Errorf("notify: meta: %w", err)
		}
	}
	b.Queue(notificationInsertSQL, n.RecipientID, n.Type, n.Title, n.Message, meta)
	return nil
}

// savingsEmail addresses a savings email to u in their language.
func savingsEmail(u auth.User, template string, data map[string]any) EmailArgs {
	return EmailArgs{Template: template, Language: string(u.Language), To: u.Email, ToName: u.DisplayName(), Data: data}
}

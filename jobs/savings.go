package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// low-balance email job. Both email jobs go in one InsertManyTx, and the
// notifications are pipelined with it (PipelineTx): one round trip in all.
func SavingsNoticeTx(ctx context.Context, tx pgx.Tx, client *river.Client[pgx.Tx], n SavingsNotice) error {
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
	pt := NewPipelineTx(tx)
	meta := map[string]any{
		"transaction_id": p.Entry.ID, "reference": Reference(p.Entry.ID), "amount": amount,
		"currency": n.Currency, "balance_after": after,
	}
	title, msg := NotificationText(notif, lang, meta)
	if err := queueNotification(pt.Batch(), Notification{RecipientID: u.ID, Type: notif, Title: title, Message: msg, Meta: meta}); err != nil {
		return err
	}
	emails := []river.InsertManyParams{{Args: savingsEmail(u, tpl, map[string]any{
		"Amount": amount, "Currency": n.Currency, "BalanceAfter": after, "Time": p.Entry.CreatedAt,
		"Reference": Reference(p.Entry.ID), "Description": p.Entry.Description,
	})}}
	if n.LowBalance != nil {
		threshold := ledger.FormatMoney(*n.LowBalance)
		meta := map[string]any{"transaction_id": p.Entry.ID, "balance": after, "threshold": threshold, "currency": n.Currency}
		title, msg := NotificationText(NotifLowBalance, lang, meta)
		if err := queueNotification(pt.Batch(), Notification{RecipientID: u.ID, Type: NotifLowBalance, Title: title, Message: msg, Meta: meta}); err != nil {
			return err
		}
		emails = append(emails, river.InsertManyParams{Args: savingsEmail(u, templates.LowBalance, map[string]any{
			"Balance": after, "Threshold": threshold, "Currency": n.Currency, "Time": p.Entry.CreatedAt,
		})})
	}
	_, err := client.InsertManyTx(ctx, pt, emails)
	ferr := pt.Flush(ctx)
	if err != nil {
		return fmt.Errorf("jobs: insert %s email: %w", tpl, err)
	}
	if ferr != nil {
		return fmt.Errorf("notify: %w", ferr)
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

// PipelineTx is a pgx.Tx that saves round trips: the statements queued in
// Batch are sent in one pgx batch (pipeline, one round trip) together with
// the next statement the caller, or a library it hands the PipelineTx to,
// runs through Query, QueryRow or Exec. That statement goes first and its
// result is returned as usual; the queued statements' callbacks run when it
// has been read (for Query, when the rows are closed). Every other method
// is the wrapped transaction's.
//
// Nothing depends on the library actually running a statement through it:
// Flush sends whatever is still queued, and reports the first error of the
// queued statements, so call it (once) after the library returned and
// before relying on the callbacks. It is not safe for concurrent use.
type PipelineTx struct {
	pgx.Tx
	queued pgx.Batch
	open   pgx.BatchResults // the batch in flight, until closed
	err    error            // the first error of the queued statements
}

// NewPipelineTx wraps tx.
func NewPipelineTx(tx pgx.Tx) *PipelineTx { return &PipelineTx{Tx: tx} }

// Batch is where statements to send with the next one are queued.
func (p *PipelineTx) Batch() *pgx.Batch { return &p.queued }

// Flush sends the statements still queued, closes the batch in flight, and
// returns the first error of the queued statements (or of their callbacks).
func (p *PipelineTx) Flush(ctx context.Context) error {
	if p.open == nil && p.queued.Len() > 0 {
		p.send(ctx, nil)
	}
	p.closeBatch()
	return p.err
}

// send sends the statements queued, after first when it is not nil.
func (p *PipelineTx) send(ctx context.Context, first *pgx.QueuedQuery) pgx.BatchResults {
	b := &pgx.Batch{}
	if first != nil {
		b.QueuedQueries = append(b.QueuedQueries, first)
	}
	b.QueuedQueries = append(b.QueuedQueries, p.queued.QueuedQueries...)
	p.queued = pgx.Batch{}
	p.open = p.Tx.SendBatch(ctx, b)
	return p.open
}

func (p *PipelineTx) closeBatch() {
	if p.open == nil {
		return
	}
	if err := p.open.Close(); err != nil && p.err == nil {
		p.err = err
	}
	p.open = nil
}

// piggyback reports whether a statement with these arguments can carry the
// queued ones: something is queued, no batch is in flight, and no argument
// is a pgx query option (which a batch handles differently).
func (p *PipelineTx) piggyback(args []any) bool {
	if p.queued.Len() == 0 || p.open != nil {
		return false
	}
	if len(args) > 0 {
		switch args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryRewriter, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
			return false
		}
	}
	return true
}

// Exec runs sql, with the queued statements after it.
func (p *PipelineTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if !p.piggyback(args) {
		return p.Tx.Exec(ctx, sql, args...)
	}
	tag, err := p.send(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args}).Exec()
	p.closeBatch()
	return tag, err
}

// QueryRow runs sql, with the queued statements after it.
func (p *PipelineTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if !p.piggyback(args) {
		return p.Tx.QueryRow(ctx, sql, args...)
	}
	return pipelineRow{p: p, row: p.send(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args}).QueryRow()}
}

type pipelineRow struct {
	p   *PipelineTx
	row pgx.Row
}

func (r pipelineRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	r.p.closeBatch()
	return err
}

// Query runs sql, with the queued statements after it; they are read when
// the rows are closed.
func (p *PipelineTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if !p.piggyback(args) {
		return p.Tx.Query(ctx, sql, args...)
	}
	rows, err := p.send(ctx, &pgx.QueuedQuery{SQL: sql, Arguments: args}).Query()
	if err != nil {
		p.closeBatch()
		return rows, err
	}
	return &pipelineRows{Rows: rows, p: p}, nil
}

type pipelineRows struct {
	pgx.Rows
	p *PipelineTx
}

func (r *pipelineRows) Close() {
	r.Rows.Close()
	r.p.closeBatch()
}

func (r *pipelineRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.p.closeBatch() // as pgx.Rows, closed at the end
	return false
}

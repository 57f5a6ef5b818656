package ledger

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// Errors returned by the ledger. Callers match them with errors.Is; the API
// maps them to statuses in one table.
var (
	// ErrInsufficientFunds: the posting would take an account that may not
	// go negative (a wallet) below zero. Nothing was written.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrIdempotencyConflict: the idempotency key was already used for a
	// different request (another request hash).
	ErrIdempotencyConflict = errors.New("idempotency key already used for a different request")
	// ErrDuplicate is returned by the ...Tx functions when the entry's
	// idempotency key is already taken by a committed entry. The caller's
	// transaction is aborted: roll it back and call Replay (Post, Deposit,
	// Withdraw and Adjust do this themselves).
	ErrDuplicate = errors.New("idempotency key already used")
	// ErrUnbalanced: an entry's lines do not sum to zero in each currency.
	ErrUnbalanced = errors.New("entry does not balance")
	// ErrAccountNotFound: an account (or a wallet's head) does not exist.
	ErrAccountNotFound = errors.New("account not found")
	// ErrCurrencyMismatch: a line's currency differs from its account's.
	ErrCurrencyMismatch = errors.New("currency does not match the account")
	// ErrUnknownCurrency: no system accounts exist for the currency (see
	// Options.Currencies).
	ErrUnknownCurrency = errors.New("unsupported currency")
	// ErrInvalidEntry: the entry breaks a rule other than the ones above
	// (fewer than two lines, an invalid kind, a zero Amount, a missing
	// reason, an idempotency key without scope, ...).
	ErrInvalidEntry = errors.New("invalid entry")
	// ErrImmutable: something tried to change or remove ledger history.
	ErrImmutable = errors.New("ledger history is append-only")
	// ErrNotFound: the entry asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTooManyRetries wraps the last serialization failure when a
	// serializable transaction still failed after Options.MaxAttempts tries.
	ErrTooManyRetries = errors.New("transaction kept failing with serialization conflicts")
	// ErrSealWait: Seal gave up waiting for older transactions to end; it
	// sealed nothing this round and should simply be called again.
	ErrSealWait = errors.New("ledger seal: older transactions are still running")
)

// SQLSTATEs raised by the ledger's own triggers (sql/migrations/0003_ledger.sql).
const (
	codeUnbalanced   = "LG001"
	codeImmutable    = "LG002"
	codeBadEntryRef  = "LG003"
	codeBadAccount   = "LG004"
	codeBadSequence  = "LG005"
	codeBadCurrency  = "LG006"
	codeSerializable = "40001"
	codeDeadlock     = "40P01"
)

// MapError turns driver errors into the ledger's errors, by SQLSTATE and
// constraint name only. Serialization failures and deadlocks are returned
// unchanged so that retryable can see them; anything unknown is returned
// as is.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	wrap := func(sentinel error) error { return fmt.Errorf("%w: %s", sentinel, pgErr.Message) }
	switch pgErr.Code {
	case "23505":
		if pgErr.ConstraintName == "ledger_entries_idem_key" {
			return ErrDuplicate
		}
	case "23514":
		switch pgErr.ConstraintName {
		case "ledger_account_heads_balance_check":
			return ErrInsufficientFunds
		case "ledger_entries_kind_check", "ledger_entries_idem_check", "ledger_lines_amount_check",
			"ledger_accounts_currency_check", "ledger_accounts_type_check":
			return wrap(ErrInvalidEntry)
		}
	case "22P02": // invalid_text_representation, e.g. metadata that is not JSON
		return wrap(ErrInvalidEntry)
	case codeUnbalanced:
		return wrap(ErrUnbalanced)
	case codeImmutable:
		return wrap(ErrImmutable)
	case codeBadEntryRef, codeBadSequence:
		return wrap(ErrInvalidEntry)
	case codeBadAccount:
		return wrap(ErrAccountNotFound)
	case codeBadCurrency:
		return wrap(ErrCurrencyMismatch)
	}
	return err
}

// retryable reports whether err is a serialization failure or a deadlock,
// after which the whole transaction may simply be run again.
func retryable(err error) (code string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == codeSerializable || pgErr.Code == codeDeadlock) {
		return pgErr.Code, true
	}
	return "", false
}

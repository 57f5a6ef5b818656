package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// DepositRequest moves Amount from the settlement (cash) account into the
// wallet of UserID. WithdrawRequest is the same shape, the other way.
type DepositRequest struct {
	UserID      int64
	Amount      Amount
	Currency    string
	Description string
	ActorID     int64 // who asked; 0 for none
	// IdemScope and IdemKey make the request idempotent (both or neither);
	// RequestHash identifies the request (nil: a hash of kind, user,
	// amount, currency and description).
	IdemScope, IdemKey string
	RequestHash        []byte
	Metadata           json.RawMessage
}

// WithdrawRequest moves Amount from the wallet of UserID to the settlement
// account; refused with ErrInsufficientFunds when the wallet holds less.
type WithdrawRequest DepositRequest

// AdjustRequest corrects the wallet of UserID by a signed Amount against the
// adjustments equity account: positive credits the wallet, negative debits
// it (refused with ErrInsufficientFunds below zero).
type AdjustRequest struct {
	UserID   int64
	Amount   SignedAmount
	Currency string
	// Reason is required: 3 to 500 characters. It becomes the description.
	Reason  string
	ActorID int64
	// Opening books the adjustment as an opening balance (kind "opening").
	Opening            bool
	IdemScope, IdemKey string
	RequestHash        []byte
	Metadata           json.RawMessage
}

// Posting is the result of a wallet operation.
type Posting struct {
	Entry Entry
	// Wallet is the wallet account moved.
	Wallet Account
	// BalanceBefore and BalanceAfter are the wallet's balance around this
	// entry (for a replay: around the original entry).
	BalanceBefore decimal.Decimal
	BalanceAfter  decimal.Decimal
	// Replayed is true when the idempotency key had been used with the same
	// request: the original posting is returned and nothing moved now.
	Replayed bool
}

// Deposit credits the user's wallet (created on first use) from the cash
// account, in its own serializable transaction with retries. Errors:
// ErrUnknownCurrency, ErrInvalidEntry, ErrIdempotencyConflict,
// ErrTooManyRetries.
func (l *Ledger) Deposit(ctx context.Context, r DepositRequest) (Posting, error) {
	return l.walletOp(ctx, KindDeposit, r)
}

// Withdraw debits the user's wallet to the cash account, refusing with
// ErrInsufficientFunds (nothing written, no idempotency key consumed) when
// the wallet holds less than the amount. Other errors as Deposit.
func (l *Ledger) Withdraw(ctx context.Context, r WithdrawRequest) (Posting, error) {
	return l.walletOp(ctx, KindWithdrawal, DepositRequest(r))
}

// DepositTx is Deposit in the caller's (serializable) transaction: no retry,
// no replay, no in-process lock — RunSerializable provides the first and the
// last, and on ErrDuplicate the caller rolls back and calls ReplayPosting.
// Resolve the wallet with Wallet before the transaction, so that it is
// cached and not created inside it.
func (l *Ledger) DepositTx(ctx context.Context, tx pgx.Tx, r DepositRequest) (Posting, error) {
	return l.walletOpTx(ctx, tx, KindDeposit, r)
}

// WithdrawTx is Withdraw in the caller's transaction; see DepositTx.
func (l *Ledger) WithdrawTx(ctx context.Context, tx pgx.Tx, r WithdrawRequest) (Posting, error) {
	return l.walletOpTx(ctx, tx, KindWithdrawal, DepositRequest(r))
}

// Adjust posts an admin adjustment of the user's wallet in its own
// serializable transaction. Errors as Deposit and Withdraw.
func (l *Ledger) Adjust(ctx context.Context, r AdjustRequest) (Posting, error) {
	w, ne, err := l.adjustEntry(ctx, l.pool, r)
	if err != nil {
		return Posting{}, err
	}
	return l.postWallet(ctx, w, ne)
}

// AdjustTx is Adjust in the caller's transaction; see DepositTx.
func (l *Ledger) AdjustTx(ctx context.Context, tx pgx.Tx, r AdjustRequest) (Posting, error) {
	w, ne, err := l.adjustEntry(ctx, tx, r)
	if err != nil {
		return Posting{}, err
	}
	return l.postWalletTx(ctx, tx, w, ne)
}

func (l *Ledger) walletOp(ctx context.Context, kind Kind, r DepositRequest) (Posting, error) {
	w, ne, err := l.walletEntry(ctx, l.pool, kind, r)
	if err != nil {
		return Posting{}, err
	}
	return l.postWallet(ctx, w, ne)
}

func (l *Ledger) walletOpTx(ctx context.Context, tx pgx.Tx, kind Kind, r DepositRequest) (Posting, error) {
	w, ne, err := l.walletEntry(ctx, tx, kind, r)
	if err != nil {
		return Posting{}, err
	}
	return l.postWalletTx(ctx, tx, w, ne)
}

// postWalletTx posts ne, which moves wallet w, in the caller's transaction.
func (l *Ledger) postWalletTx(ctx context.Context, tx pgx.Tx, w Account, ne NewEntry) (Posting, error) {
	e, err := l.PostTx(ctx, tx, ne)
	if err != nil {
		return Posting{}, err
	}
	return postingOf(e, w)
}

func (l *Ledger) postWallet(ctx context.Context, w Account, ne NewEntry) (Posting, error) {
	e, err := l.Post(ctx, ne)
	if err != nil {
		return Posting{}, err
	}
	return postingOf(e, w)
}

// ReplayPosting is Replay for a wallet operation: the original posting of
// (scope, key) on the user's wallet.
func (l *Ledger) ReplayPosting(ctx context.Context, userID int64, currency, scope, key string, requestHash []byte) (Posting, error) {
	w, err := l.Wallet(ctx, userID, currency)
	if err != nil {
		return Posting{}, err
	}
	e, err := l.Replay(ctx, scope, key, requestHash)
	if err != nil {
		return Posting{}, err
	}
	return postingOf(e, w)
}

// WalletRequestHash is the request hash Deposit and Withdraw use when the
// request has none: kind, user, amount, currency and description.
func WalletRequestHash(kind Kind, userID int64, amount, currency, description string) []byte {
	var e encoder
	e.str("creditjambo.ledger.wallet-request.v1")
	e.str(string(kind))
	e.int(userID)
	e.str(amount)
	e.str(currency)
	e.str(description)
	return sha256Sum(e.buf)
}

func (l *Ledger) walletEntry(ctx context.Context, q querier, kind Kind, r DepositRequest) (Account, NewEntry, error) {
	if r.Amount.IsZero() {
		return Account{}, NewEntry{}, fmt.Errorf("%w: no amount", ErrInvalidEntry)
	}
	cash, err := l.CashAccount(r.Currency)
	if err != nil {
		return Account{}, NewEntry{}, err
	}
	w, err := l.wallet(ctx, q, r.UserID, r.Currency)
	if err != nil {
		return Account{}, NewEntry{}, err
	}
	hash := r.RequestHash
	if r.IdemKey != "" && len(hash) == 0 {
		hash = WalletRequestHash(kind, r.UserID, r.Amount.String(), r.Currency, r.Description)
	}
	walletSide, cashSide := Credit, Debit
	if kind == KindWithdrawal {
		walletSide, cashSide = Debit, Credit
	}
	return w, NewEntry{
		Kind: kind, Description: r.Description, ActorUserID: r.ActorID,
		IdemScope: r.IdemScope, IdemKey: r.IdemKey, RequestHash: hash, Metadata: r.Metadata,
		Lines: []NewLine{
			{AccountID: cash.ID, Side: cashSide, Amount: r.Amount, Currency: r.Currency},
			{AccountID: w.ID, Side: walletSide, Amount: r.Amount, Currency: r.Currency},
		},
	}, nil
}

func (l *Ledger) adjustEntry(ctx context.Context, q querier, r AdjustRequest) (Account, NewEntry, error) {
	if n := utf8.RuneCountInString(r.Reason); n < 3 || n > 500 {
		return Account{}, NewEntry{}, fmt.Errorf("%w: a reason of 3 to 500 characters is required", ErrInvalidEntry)
	}
	if r.Amount.IsZero() {
		return Account{}, NewEntry{}, fmt.Errorf("%w: no amount", ErrInvalidEntry)
	}
	eq, err := l.AdjustmentsAccount(r.Currency)
	if err != nil {
		return Account{}, NewEntry{}, err
	}
	w, err := l.wallet(ctx, q, r.UserID, r.Currency)
	if err != nil {
		return Account{}, NewEntry{}, err
	}
	kind := KindAdjustment
	if r.Opening {
		kind = KindOpening
	}
	hash := r.RequestHash
	if r.IdemKey != "" && len(hash) == 0 {
		hash = WalletRequestHash(kind, r.UserID, r.Amount.String(), r.Currency, r.Reason)
	}
	walletSide, eqSide := Credit, Debit
	if r.Amount.Negative() {
		walletSide, eqSide = Debit, Credit
	}
	return w, NewEntry{
		Kind: kind, Description: r.Reason, ActorUserID: r.ActorID,
		IdemScope: r.IdemScope, IdemKey: r.IdemKey, RequestHash: hash, Metadata: r.Metadata,
		Lines: []NewLine{
			{AccountID: eq.ID, Side: eqSide, Amount: r.Amount.Abs(), Currency: r.Currency},
			{AccountID: w.ID, Side: walletSide, Amount: r.Amount.Abs(), Currency: r.Currency},
		},
	}, nil
}

// postingOf derives the wallet's balances around e from its wallet line.
func postingOf(e Entry, w Account) (Posting, error) {
	for _, ln := range e.Lines {
		if ln.AccountID == w.ID && ln.BalanceAfter.Valid {
			after := ln.BalanceAfter.Decimal
			return Posting{
				Entry: e, Wallet: w, Replayed: e.Replayed,
				BalanceAfter:  after,
				BalanceBefore: after.Sub(ln.Amount.Mul(w.Type.normalDec())),
			}, nil
		}
	}
	if e.Replayed {
		// The key was used for an entry on another wallet: not this request.
		return Posting{}, fmt.Errorf("%w: entry %d does not move wallet %s", ErrIdempotencyConflict, e.ID, w.Code)
	}
	return Posting{}, errors.New("ledger: posted entry has no line on the wallet")
}

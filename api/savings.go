package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
)

// SavingsConfig are the wallet rules of the savings routes.
type SavingsConfig struct {
	// Currency is the one wallet currency; "" means RWF.
	Currency string
	// LowBalanceThreshold is the alert threshold where neither the user nor
	// an admin set a rule.
	LowBalanceThreshold decimal.Decimal
	// Limits bound deposits and withdrawals (zero: none). Calendar days are
	// Africa/Kigali's whatever Limits.Location says.
	Limits ledger.Limits
}

// maxDescription bounds a transaction's description, in characters.
const maxDescription = 255

// Answers of the savings routes that are not a domain sentinel.
var (
	errUnsupportedCurrency = &Error{Status: http.StatusBadRequest, Code: "unsupported_currency"}
	errBadIdempotencyKey   = &Error{
		Status: http.StatusBadRequest, Code: "invalid_idempotency_key",
		Detail: "Idempotency-Key must be 1 to 255 printable ASCII characters.",
	}
)

// moneyRequest is the body of deposit and withdraw. The amount is kept raw
// and parsed by ledger.ParseAmount's rules from its literal text, so that
// every refusal is a field error naming the rule.
type moneyRequest struct {
	Amount      json.RawMessage `json:"amount"`
	Currency    *string         `json:"currency"`
	Description *string         `json:"description"`
}

// parseAmount applies the money rules to a raw JSON value; field names the
// field in the error.
func parseAmount(field string, raw json.RawMessage) (ledger.Amount, error) {
	return parseMoney[ledger.Amount](field, raw)
}

// parseMoney parses a raw JSON value (a string or a number, judged by its
// literal text) into a ledger money type, ledger.Amount or
// ledger.SignedAmount, whose UnmarshalJSON applies the money rules. Every
// refusal is a field error naming the rule broken.
func parseMoney[T any, PT interface {
	*T
	UnmarshalJSON([]byte) error
}](field string, raw json.RawMessage) (T, error) {
	var v T
	if len(raw) == 0 {
		return v, fieldError(field, "This field is required.")
	}
	if err := PT(&v).UnmarshalJSON(raw); err != nil {
		var ae *ledger.AmountError
		if errors.As(err, &ae) {
			return v, fieldError(field, "The amount "+ae.Reason+".")
		}
		return v, fieldError(field, "A decimal amount is required.")
	}
	return v, nil
}

// parseDescription trims a description and refuses one that is too long or
// holds control characters.
func parseDescription(p *string) (string, error) {
	if p == nil {
		return "", nil
	}
	d := strings.TrimSpace(*p)
	if utf8.RuneCountInString(d) > maxDescription {
		return "", fieldError("description", fmt.Sprintf("At most %d characters.", maxDescription))
	}
	if strings.IndexFunc(d, unicode.IsControl) >= 0 {
		return "", fieldError("description", "Control characters are not allowed.")
	}
	return d, nil
}

// idempotencyKey is the request's Idempotency-Key ("" when absent): 1 to
// 255 printable ASCII characters, else errBadIdempotencyKey.
func idempotencyKey(r *http.Request) (string, error) {
	vals, ok := r.Header["Idempotency-Key"]
	if !ok {
		return "", nil
	}
	if len(vals) != 1 || len(vals[0]) < 1 || len(vals[0]) > 255 {
		return "", errBadIdempotencyKey
	}
	for i := 0; i < len(vals[0]); i++ {
		if c := vals[0][i]; c < 0x20 || c > 0x7e {
			return "", errBadIdempotencyKey
		}
	}
	return vals[0], nil
}

// moneyOp is one parsed deposit or withdrawal.
type moneyOp struct {
	kind        ledger.Kind
	userID      int64
	amount      ledger.Amount
	description string
	key, scope  string
	hash        []byte
}

func (s *server) deposit(w http.ResponseWriter, r *http.Request) error {
	return s.moveMoney(w, r, ledger.KindDeposit)
}

func (s *server) withdraw(w http.ResponseWriter, r *http.Request) error {
	return s.moveMoney(w, r, ledger.KindWithdrawal)
}

// moveMoney deposits or withdraws in one SERIALIZABLE transaction
// (ledger.RunSerializable, retried on conflicts): the device check, the
// daily limit, the posting, the notification and receipt email and, for a
// withdrawal that crosses the alert threshold, the low-balance notification
// and email. All of them commit or none.
//
// With an Idempotency-Key, the key's first posting is answered again
// (Idempotency-Replayed: true) and nothing moves; another request under the
// same key is 409; a refused request consumes no key.
func (s *server) moveMoney(w http.ResponseWriter, r *http.Request, kind ledger.Kind) error {
	ctx := r.Context()
	p := currentUser(ctx)
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req moneyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	amount, err := parseAmount("amount", req.Amount)
	if err != nil {
		return err
	}
	cur := s.savings.Currency
	if req.Currency != nil && *req.Currency != cur {
		e := *errUnsupportedCurrency
		e.Detail = "Only " + cur + " is supported."
		e.Fields = map[string][]string{"currency": {e.Detail}}
		return &e
	}
	desc, err := parseDescription(req.Description)
	if err != nil {
		return err
	}
	op := moneyOp{
		kind: kind, userID: p.UserID, amount: amount, description: desc, key: key,
		// Keys are scoped to the user; deposits and withdrawals share the
		// scope, so a key used for one is a conflict for the other. The
		// hash covers the parsed request: "10.5", 10.50 and "10.50" are equal.
		scope: "savings:" + strconv.FormatInt(p.UserID, 10),
		hash:  ledger.WalletRequestHash(kind, p.UserID, amount.String(), cur, desc),
	}
	if err := s.limiter.Check(kind, amount); err != nil {
		return s.refused(ctx, w, op, err)
	}
	u, err := s.recipients.get(ctx, p.UserID)
	if errors.Is(err, auth.ErrNotFound) {
		return errTokenNotValid
	}
	if err != nil {
		return err
	}
	// The wallet and its day row exist before the transaction: creating
	// them inside would insert into index pages other postings read.
	wallet, err := s.ledger.Wallet(ctx, p.UserID, cur)
	if err != nil {
		return err
	}
	day := s.limiter.Day(s.now())
	if err := s.limiter.Prepare(ctx, wallet.ID, day); err != nil {
		return err
	}
	meta, _ := json.Marshal(map[string]any{"source": "api", "request_id": requestID(ctx), "device": p.DeviceID})
	dr := ledger.DepositRequest{
		UserID: p.UserID, Amount: amount, Currency: cur, Description: desc, ActorID: p.UserID,
		RequestHash: op.hash, Metadata: meta,
	}
	if key != "" {
		dr.IdemScope, dr.IdemKey = op.scope, key
	}
	var posting ledger.Posting
	err = s.ledger.RunSerializable(ctx, []int64{wallet.ID}, func(tx *ledger.Tx) error {
		// One round trip: BEGIN, the device check, the daily-limit charge,
		// the alert threshold (money out only: only it can cross
		// downwards), queued to go with the posting. Refusals are answered
		// in that order whatever the posting did: any refusal rolls all of
		// it back.
		device := s.auth.QueueDeviceCheck(tx.Batch(), p.UserID, p.DeviceID)
		charge := s.limiter.QueueCharge(tx.Batch(), wallet.ID, day, kind, amount)
		var alert *ledger.PendingThreshold
		if kind == ledger.KindWithdrawal {
			alert = ledger.QueueLowBalanceThreshold(tx.Batch(), p.UserID, s.savings.LowBalanceThreshold)
		}
		var perr error
		if kind == ledger.KindWithdrawal {
			posting, perr = s.ledger.WithdrawTx(ctx, tx, ledger.WithdrawRequest(dr))
		} else {
			posting, perr = s.ledger.DepositTx(ctx, tx, dr)
		}
		if err := device.Err(); err != nil {
			return err
		}
		if err := tx.Flush(ctx); err != nil {
			return err
		}
		// Insufficient funds leaves the transaction usable (the posting
		// statement wrote nothing); any other failure has ended it, and
		// the limit's answer could not be read.
		if perr != nil && !errors.Is(perr, ledger.ErrInsufficientFunds) {
			return perr
		}
		if err := charge.Settle(ctx, tx); err != nil {
			return err
		}
		if perr != nil {
			return perr
		}
		notice := jobs.SavingsNotice{User: u, Posting: posting, Currency: cur}
		if alert != nil {
			threshold, on, err := alert.Result()
			if err != nil {
				return err
			}
			if on && ledger.LowBalanceCrossed(posting, threshold) {
				notice.LowBalance = &threshold
			}
		}
		return jobs.SavingsNoticeTx(ctx, tx, s.river, notice)
	})
	switch {
	case err == nil:
	case errors.Is(err, ledger.ErrDuplicate):
		// The key is taken by a committed posting (or was, by the
		// concurrent duplicate this one waited for): answer with it.
		posting, err = s.ledger.ReplayPosting(ctx, p.UserID, cur, op.scope, key, op.hash)
		if err != nil {
			return err
		}
	case errors.Is(err, ledger.ErrInsufficientFunds), errors.Is(err, ledger.ErrDailyLimitExceeded):
		return s.refused(ctx, w, op, err)
	default:
		return s.savingsError(w, err)
	}
	if posting.Replayed {
		w.Header().Set("Idempotency-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, s.postingJSON(posting))
	return nil
}

// refused answers a request the rules refused. With an Idempotency-Key it
// first looks the key up: a request that succeeded earlier under it (and
// would now be refused, say a withdrawal that emptied the wallet) is
// answered as a replay.
func (s *server) refused(ctx context.Context, w http.ResponseWriter, op moneyOp, refusal error) error {
	if op.key != "" {
		posting, err := s.ledger.ReplayPosting(ctx, op.userID, s.savings.Currency, op.scope, op.key, op.hash)
		switch {
		case err == nil:
			w.Header().Set("Idempotency-Replayed", "true")
			writeJSON(w, http.StatusCreated, s.postingJSON(posting))
			return nil
		case !errors.Is(err, ledger.ErrNotFound):
			return s.savingsError(w, err)
		}
	}
	return s.savingsError(w, refusal)
}

// savingsError turns errors that carry data into their answers (a limit
// with its amounts, a refused device, a retry hint) and leaves the rest to
// errorTable.
func (s *server) savingsError(w http.ResponseWriter, err error) error {
	var le *ledger.LimitError
	switch {
	case errors.As(err, &le):
		limit := s.money(le.Limit)
		if !le.Daily {
			return &Error{
				Status: http.StatusBadRequest, Code: "amount_over_limit",
				Detail: fmt.Sprintf("The amount is over the limit of %s per transaction.", limit),
				Fields: map[string][]string{"amount": {"At most " + limit + "."}},
			}
		}
		what := "deposit"
		if le.Kind == ledger.KindWithdrawal {
			what = "withdraw"
		}
		return &Error{
			Status: http.StatusBadRequest, Code: "daily_limit_exceeded",
			Detail: fmt.Sprintf("You can %s at most %s per day; %s is left for today.", what, limit, s.money(le.Remaining)),
		}
	case errors.Is(err, ledger.ErrTooManyRetries):
		w.Header().Set("Retry-After", "1")
	}
	return authError(w, err)
}

// money formats an amount with the currency for people: "1,500.00 RWF".
func (s *server) money(d decimal.Decimal) string {
	neg := d.IsNegative()
	txt := d.Abs().StringFixed(2)
	whole, frac, _ := strings.Cut(txt, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + "." + frac + " " + s.savings.Currency
}

// txJSON is a transaction as the frontend reads it (compat).
type txJSON struct {
	ID           int64           `json:"id"`
	TxType       string          `json:"tx_type"`
	Amount       string          `json:"amount"`
	Currency     string          `json:"currency"`
	BalanceAfter string          `json:"balance_after"`
	Description  string          `json:"description"`
	CreatedAt    string          `json:"created_at"`
	Meta         json.RawMessage `json:"meta,omitempty"`
}

// txType is the compat name of an entry kind: the frontend treats anything
// but DEPOSIT as money out, and ADJUSTMENT amounts are signed.
func txType(k ledger.Kind) string {
	switch k {
	case ledger.KindDeposit:
		return "DEPOSIT"
	case ledger.KindWithdrawal:
		return "WITHDRAW"
	}
	return "ADJUSTMENT"
}

// txAmount is the amount shown for a line with this change of balance:
// positive for deposits and withdrawals, signed for adjustments.
func txAmount(k ledger.Kind, change decimal.Decimal) string {
	if k == ledger.KindDeposit || k == ledger.KindWithdrawal {
		change = change.Abs()
	}
	return ledger.FormatMoney(change)
}

func (s *server) postingJSON(p ledger.Posting) txJSON {
	return txJSON{
		ID: p.Entry.ID, TxType: txType(p.Entry.Kind),
		Amount:       txAmount(p.Entry.Kind, p.BalanceAfter.Sub(p.BalanceBefore)),
		Currency:     s.savings.Currency,
		BalanceAfter: ledger.FormatMoney(p.BalanceAfter),
		Description:  p.Entry.Description,
		CreatedAt:    formatTime(p.Entry.CreatedAt),
	}
}

func (s *server) lineJSON(wl ledger.WalletLine) txJSON {
	return txJSON{
		ID: wl.EntryID, TxType: txType(wl.Kind), Amount: txAmount(wl.Kind, wl.Change), Currency: s.savings.Currency,
		BalanceAfter: ledger.FormatMoney(wl.BalanceAfter), Description: wl.Description,
		CreatedAt: formatTime(wl.PostedAt), Meta: wl.Metadata,
	}
}

// initSavings applies the savings configuration (see SavingsConfig).
func (s *server) initSavings(c SavingsConfig) {
	if c.Currency == "" {
		c.Currency = "RWF"
	}
	kigali, err := time.LoadLocation("Africa/Kigali")
	if err != nil { // unreachable: templates embeds the zone database
		kigali = time.FixedZone("CAT", 2*60*60)
	}
	s.kigali = kigali
	c.Limits.Location = kigali
	s.savings = c
	s.recipients = &recipientCache{user: func(ctx context.Context, id int64) (auth.User, error) {
		return s.auth.User(ctx, id)
	}, now: s.now, m: map[int64]cachedUser{}}
	if s.ledger != nil {
		s.limiter = s.ledger.NewLimiter(c.Limits)
	}
}

// recipientTTL is how long a user's address, name and language are reused
// for receipts. Whether the user may move money is never cached: the
// posting transaction checks the account and device itself.
const recipientTTL = 30 * time.Second

// recipientCache keeps who receipts go to, saving each deposit and
// withdrawal a read of the user's row outside its transaction. A language
// changed in the last recipientTTL may still get one receipt in the old one.
type recipientCache struct {
	user func(ctx context.Context, id int64) (auth.User, error)
	now  func() time.Time

	mu sync.Mutex
	m  map[int64]cachedUser
}

type cachedUser struct {
	u  auth.User
	at time.Time
}

// maxRecipients bounds the cache; when full it starts again empty.
const maxRecipients = 100_000

func (c *recipientCache) get(ctx context.Context, id int64) (auth.User, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < recipientTTL && !now.Before(e.at) {
		return e.u, nil
	}
	u, err := c.user(ctx, id)
	if err != nil {
		return auth.User{}, err
	}
	c.mu.Lock()
	if len(c.m) >= maxRecipients {
		clear(c.m)
	}
	c.m[id] = cachedUser{u: u, at: now}
	c.mu.Unlock()
	return u, nil
}

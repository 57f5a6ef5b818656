package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
)

// Paging of the admin transaction lists.
const (
	adminTxPageSize    = 50
	adminTxMaxPageSize = 100
	// dashboardDays, dashboardTop and dashboardAlerts shape the analytics.
	dashboardDays   = 30
	dashboardTop    = 5
	dashboardAlerts = 10
)

// adminTxJSON is a transaction as the admin lists show it: the savings
// shape (api/savings.go) plus its owner.
type adminTxJSON struct {
	txJSON
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
}

// adminTxPage is a page of an admin transaction list (keyset only:
// previous is always null).
type adminTxPage struct {
	Next       *string       `json:"next"`
	Previous   *string       `json:"previous"`
	NextCursor *string       `json:"next_cursor"`
	Results    []adminTxJSON `json:"results"`
}

// adminTransactions lists every user's transactions, newest first:
// ?user=<id or username>&type=&from=&to=&cursor=&page_size=.
func (s *server) adminTransactions(w http.ResponseWriter, r *http.Request) error {
	var userID int64
	if ref := r.URL.Query().Get("user"); ref != "" {
		u, err := s.auth.FindUser(r.Context(), ref)
		if errors.Is(err, auth.ErrNotFound) {
			return fieldError("user", "No user has this id or username.")
		}
		if err != nil {
			return err
		}
		userID = u.ID
	}
	return s.listAdminTransactions(w, r, userID)
}

// adminUserTransactions lists one user's transactions, as
// adminTransactions.
func (s *server) adminUserTransactions(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := s.auth.User(r.Context(), id); err != nil {
		return err
	}
	return s.listAdminTransactions(w, r, id)
}

// listAdminTransactions answers a page of wallet lines (of userID, or of
// everyone when 0), keyset-paged: {next, previous (always null),
// next_cursor, results}.
func (s *server) listAdminTransactions(w http.ResponseWriter, r *http.Request, userID int64) error {
	ctx := r.Context()
	q := r.URL.Query()
	hq := ledger.AdminHistoryQuery{Currency: s.savings.Currency, UserID: userID}
	if t := strings.ToLower(q.Get("type")); t != "" {
		kinds, ok := kindsOf[t]
		if !ok {
			return fieldError("type", "Choose deposit, withdraw or adjustment.")
		}
		hq.Kinds = kinds
	}
	var err error
	if hq.From, hq.To, err = s.queryRange(q); err != nil {
		return err
	}
	size, err := queryPositive(q, "page_size", adminTxPageSize, adminTxMaxPageSize)
	if err != nil {
		return err
	}
	if q.Has("cursor") {
		c, err := decodeHistoryCursor(q.Get("cursor"))
		if err != nil {
			return err
		}
		hq.After = &c
	}
	hq.Limit = size + 1 // one more tells whether there is a next page
	lines, err := s.ledger.AllHistory(ctx, hq)
	if err != nil {
		return err
	}
	more := len(lines) > size
	lines = lines[:min(len(lines), size)]
	ids := make([]int64, 0, len(lines))
	for _, l := range lines {
		ids = append(ids, l.UserID)
	}
	names, err := s.auth.Usernames(ctx, ids)
	if err != nil {
		return err
	}
	out := adminTxPage{Results: make([]adminTxJSON, 0, len(lines))}
	for _, l := range lines {
		out.Results = append(out.Results, adminTxJSON{txJSON: s.lineJSON(l.WalletLine), UserID: l.UserID, Username: names[l.UserID]})
	}
	if more {
		c := encodeHistoryCursor(lines[len(lines)-1].Cursor())
		next := s.nextLink(r, "cursor", c)
		out.NextCursor, out.Next = &c, &next
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type adjustmentRequest struct {
	UserID      *int64          `json:"user_id"`
	Amount      json.RawMessage `json:"amount"`
	Reason      *string         `json:"reason"`
	Currency    *string         `json:"currency"`
	Description *string         `json:"description"`
}

// parseSignedAmount applies the money rules, with an optional leading "-",
// to a raw JSON value.
func parseSignedAmount(field string, raw json.RawMessage) (ledger.SignedAmount, error) {
	return parseMoney[ledger.SignedAmount](field, raw)
}

// adminAdjust posts a manual adjustment of a user's wallet against the
// adjustments account: {user_id, amount (signed: "-5.00" takes money out),
// reason (3-500 characters)} → 201 with the transaction. A debit beyond the
// balance is 400 insufficient_funds. With an Idempotency-Key (scoped to the
// admin) a repeated request is answered with the original posting.
func (s *server) adminAdjust(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	key, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	var req adjustmentRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.UserID == nil {
		return fieldError("user_id", "This field is required.")
	}
	amount, err := parseSignedAmount("amount", req.Amount)
	if err != nil {
		return err
	}
	reason, err := parseReason(req.Reason, "")
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
	a := s.actor(r)
	userID := *req.UserID
	if userID == a.UserID {
		return errSelfAdjustment
	}
	u, err := s.auth.User(ctx, userID)
	if errors.Is(err, auth.ErrNotFound) || userID <= 0 {
		return fieldError("user_id", "No user has this id.")
	}
	if err != nil {
		return err
	}
	wallet, err := s.ledger.Wallet(ctx, userID, cur)
	if err != nil {
		return err
	}
	scope := "admin-adjust:" + strconv.FormatInt(a.UserID, 10)
	hash := ledger.WalletRequestHash(ledger.KindAdjustment, userID, amount.String(), cur, reason)
	ar := ledger.AdjustRequest{
		UserID: userID, Amount: amount, Currency: cur, Reason: reason, ActorID: a.UserID,
		RequestHash: hash, Metadata: adjustmentMeta(r, "adjustments"),
	}
	if key != "" {
		ar.IdemScope, ar.IdemKey = scope, key
	}
	var posting ledger.Posting
	err = s.ledger.RunSerializable(ctx, []int64{wallet.ID}, func(tx *ledger.Tx) error {
		var err error
		if posting, err = s.ledger.AdjustTx(ctx, tx, ar); err != nil {
			return err
		}
		return s.auth.AuditTx(ctx, tx, a, walletAdjustAudit(posting, userID, reason))
	})
	if key != "" && (errors.Is(err, ledger.ErrDuplicate) || errors.Is(err, ledger.ErrInsufficientFunds)) {
		// The key's first posting (committed, or the concurrent duplicate
		// this one waited for) is the answer; a refusal with an unused key
		// stays a refusal.
		replayed, rerr := s.ledger.ReplayPosting(ctx, userID, cur, scope, key, hash)
		switch {
		case rerr == nil:
			posting, err = replayed, nil
		case !errors.Is(rerr, ledger.ErrNotFound):
			err = rerr
		}
	}
	if err != nil {
		return s.savingsError(w, err)
	}
	if posting.Replayed {
		w.Header().Set("Idempotency-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, adminTxJSON{txJSON: s.postingJSON(posting), UserID: u.ID, Username: u.Username})
	return nil
}

// adminAnalytics is the admin dashboard (compat shape, money as strings):
// the last 30 days' deposits, withdrawals and transactions, users and
// devices, the largest balances, the latest low-balance alerts, and the
// last 12 months (Africa/Kigali), oldest first.
func (s *server) adminAnalytics(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	now := s.now()
	d, err := s.ledger.Dashboard(ctx, ledger.DashboardQuery{
		Currency: s.savings.Currency, Since: now.Add(-dashboardDays * 24 * time.Hour), Now: now,
		Months: analyticsMonths, Location: s.kigali, Top: dashboardTop,
	})
	if err != nil {
		return err
	}
	counts, err := s.auth.Counts(ctx)
	if err != nil {
		return err
	}
	alerts, err := s.inbox.RecentLowBalance(ctx, dashboardAlerts)
	if err != nil {
		return err
	}
	top, err := s.topUsers(ctx, d.Top)
	if err != nil {
		return err
	}
	type alert struct {
		ID        int64  `json:"id"`
		UserID    int64  `json:"user_id"`
		Username  string `json:"user__username"`
		Message   string `json:"message"`
		CreatedAt string `json:"created_at"`
	}
	type month struct {
		Month       string `json:"month"`
		Deposits    string `json:"deposits"`
		Withdrawals string `json:"withdrawals"`
	}
	recent := make([]alert, 0, len(alerts))
	for _, n := range alerts {
		recent = append(recent, alert{ID: n.ID, UserID: n.UserID, Username: n.Username, Message: n.Message, CreatedAt: formatTime(n.CreatedAt)})
	}
	monthly := make([]month, 0, len(d.Months))
	for _, m := range d.Months {
		monthly = append(monthly, month{
			Month: m.Month.Format("2006-01"), Deposits: ledger.FormatMoney(m.Deposits), Withdrawals: ledger.FormatMoney(m.Withdrawals),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"currency": s.savings.Currency,
		"summary": map[string]any{
			"total_deposits_last_30d":  ledger.FormatMoney(d.Recent.Deposits),
			"total_withdraws_last_30d": ledger.FormatMoney(d.Recent.Withdrawals),
			"tx_count_last_30d":        d.Recent.Count,
			"total_users":              counts.Users,
			"active_devices":           counts.ActiveDevices,
			"pending_devices":          counts.PendingDevices,
		},
		"top_users_by_balance":      top,
		"recent_low_balance_alerts": recent,
		"monthly":                   monthly,
	})
	return nil
}

type topUserJSON struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Balance  string `json:"balance"`
}

// topUsers names the largest wallets' owners.
func (s *server) topUsers(ctx context.Context, top []ledger.OwnerBalance) ([]topUserJSON, error) {
	ids := make([]int64, 0, len(top))
	for _, t := range top {
		ids = append(ids, t.UserID)
	}
	names, err := s.auth.Usernames(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]topUserJSON, 0, len(top))
	for _, t := range top {
		out = append(out, topUserJSON{ID: t.UserID, Username: names[t.UserID], Balance: ledger.FormatMoney(t.Balance)})
	}
	return out, nil
}

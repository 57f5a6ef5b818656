package api

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/ledger"
)

// Paging of the transaction list (compat: page_size default 10, clamped to
// 100).
const (
	defaultPageSize = 10
	maxPageSize     = 100
	// maxStatementDays bounds a statement's period: it is built in memory.
	maxStatementDays = 366
	// analyticsMonths is how many calendar months analytics covers.
	analyticsMonths = 12
)

var errInvalidPage = &Error{Status: http.StatusNotFound, Code: "invalid_page", Detail: "Invalid page."}

// parseInstant reads a time bound of a query: RFC 3339 (a "+" of the offset
// that arrived as a space, as unencoded query strings do, is taken back),
// or a calendar date YYYY-MM-DD of Africa/Kigali meaning its first instant,
// or with endOfDay its last microsecond, so that a "to" date includes the
// whole day.
func (s *server) parseInstant(field, v string, endOfDay bool) (time.Time, error) {
	if len(v) > 19 && v[len(v)-6] == ' ' {
		v = v[:len(v)-6] + "+" + v[len(v)-5:]
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseInLocation("2006-01-02", v, s.kigali); err == nil {
		if endOfDay {
			return d.AddDate(0, 0, 1).Add(-time.Microsecond), nil
		}
		return d, nil
	}
	return time.Time{}, fieldError(field, "Expected an RFC 3339 time (2026-03-01T12:00:00Z) or a date (2026-03-01).")
}

// queryRange reads the optional from and to of a query.
func (s *server) queryRange(q url.Values) (from, to time.Time, err error) {
	if v := q.Get("from"); v != "" {
		if from, err = s.parseInstant("from", v, false); err != nil {
			return
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = s.parseInstant("to", v, true); err != nil {
			return
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		err = fieldError("to", "Must not be before from.")
	}
	return
}

func (s *server) savingsBalance(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p := currentUser(ctx)
	out := map[string]string{"currency": s.savings.Currency}
	if v := r.URL.Query().Get("as_of"); v != "" {
		at, err := s.parseInstant("as_of", v, true)
		if err != nil {
			return err
		}
		wallet, err := s.ledger.Wallet(ctx, p.UserID, s.savings.Currency)
		if err != nil {
			return err
		}
		bal, err := s.ledger.BalanceAt(ctx, wallet.ID, at)
		if err != nil {
			return err
		}
		out["balance"], out["as_of"] = ledger.FormatMoney(bal), formatTime(at)
	} else {
		bal, err := s.ledger.WalletBalance(ctx, p.UserID, s.savings.Currency)
		if err != nil {
			return err
		}
		out["balance"] = ledger.FormatMoney(bal)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// txPage is the transaction list (compat page-number shape plus keyset
// paging).
type txPage struct {
	Count      *int64   `json:"count,omitempty"`
	Next       *string  `json:"next"`
	Previous   *string  `json:"previous"`
	NextCursor *string  `json:"next_cursor"`
	Results    []txJSON `json:"results"`
}

// kindsOf maps the type filter to entry kinds.
var kindsOf = map[string][]ledger.Kind{
	"deposit":    {ledger.KindDeposit},
	"withdraw":   {ledger.KindWithdrawal},
	"withdrawal": {ledger.KindWithdrawal},
	"adjustment": {ledger.KindAdjustment, ledger.KindOpening, ledger.KindReversal},
}

// encodeCursor makes a keyset position opaque. It names only a position in
// the caller's own history, so it needs no signature: a forged one shows
// nothing more.
func encodeHistoryCursor(c ledger.HistoryCursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "1.%d.%d", c.PostedAt.UnixMicro(), c.LineID))
}

func decodeHistoryCursor(v string) (ledger.HistoryCursor, error) {
	bad := fieldError("cursor", "Not a cursor from this list; start again without one.")
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ledger.HistoryCursor{}, bad
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != "1" {
		return ledger.HistoryCursor{}, bad
	}
	us, err1 := strconv.ParseInt(parts[1], 10, 64)
	id, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil {
		return ledger.HistoryCursor{}, bad
	}
	return ledger.HistoryCursor{PostedAt: time.UnixMicro(us).UTC(), LineID: id}, nil
}

// positiveInt reads an optional positive integer of a query.
func positiveInt(q url.Values, field string, def int) (int, error) {
	v := q.Get(field)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fieldError(field, "Expected a positive integer.")
	}
	return n, nil
}

// transactions lists the caller's transactions, newest first: by page
// number (with count) or, with ?cursor=, by keyset, whose cost does not
// grow with depth. Both give next_cursor.
func (s *server) transactions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	var hq ledger.HistoryQuery
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
	size, err := positiveInt(q, "page_size", defaultPageSize)
	if err != nil {
		return err
	}
	size = min(size, maxPageSize)
	page, err := positiveInt(q, "page", 1)
	if err != nil {
		return err
	}
	keyset := q.Has("cursor")
	if keyset {
		c, err := decodeHistoryCursor(q.Get("cursor"))
		if err != nil {
			return err
		}
		hq.After = &c
	} else {
		hq.Offset = (page - 1) * size
	}
	hq.Limit = size + 1 // one more tells whether there is a next page
	wallet, err := s.ledger.Wallet(ctx, currentUser(ctx).UserID, s.savings.Currency)
	if err != nil {
		return err
	}
	lines, err := s.ledger.History(ctx, wallet, hq)
	if err != nil {
		return err
	}
	more := len(lines) > size
	lines = lines[:min(len(lines), size)]
	out := txPage{Results: make([]txJSON, 0, len(lines))}
	for _, wl := range lines {
		out.Results = append(out.Results, s.lineJSON(wl))
	}
	if more {
		c := encodeHistoryCursor(lines[len(lines)-1].Cursor())
		out.NextCursor = &c
	}
	link := func(set map[string]string) *string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		for k, x := range set {
			if x == "" {
				v.Del(k)
			} else {
				v.Set(k, x)
			}
		}
		u := s.absoluteURL(r, v)
		return &u
	}
	if keyset {
		if more {
			out.Next = link(map[string]string{"cursor": *out.NextCursor, "page": ""})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	if page > 1 && len(lines) == 0 {
		return errInvalidPage
	}
	n, err := s.ledger.HistoryCount(ctx, wallet, hq)
	if err != nil {
		return err
	}
	out.Count = &n
	if more {
		out.Next = link(map[string]string{"page": strconv.Itoa(page + 1)})
	}
	if page > 1 {
		prev := ""
		if page > 2 {
			prev = strconv.Itoa(page - 1)
		}
		out.Previous = link(map[string]string{"page": prev})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// absoluteURL is the URL of this request's path with query q: the scheme
// is https when the connection is TLS or a trusted proxy says so.
func (s *server) absoluteURL(r *http.Request, q url.Values) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if p := r.Header.Get("X-Forwarded-Proto"); p == "https" && s.peerTrusted(r) {
		scheme = p
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: r.URL.Path, RawQuery: q.Encode()}
	return u.String()
}

func (s *server) peerTrusted(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && s.trusted(a.Unmap())
}

// txLineJSON is one journal line of a transaction.
type txLineJSON struct {
	Account     string `json:"account"`
	AccountType string `json:"account_type"`
	Side        string `json:"side"`
	Amount      string `json:"amount"`
	Currency    string `json:"currency"`
}

func (s *server) transaction(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return err
	}
	wallet, err := s.ledger.Wallet(ctx, currentUser(ctx).UserID, s.savings.Currency)
	if err != nil {
		return err
	}
	e, err := s.ledger.WalletEntry(ctx, wallet, id)
	if err != nil {
		return err
	}
	out := struct {
		txJSON
		Lines []txLineJSON `json:"lines"`
	}{}
	for _, ln := range e.Lines {
		a, err := s.ledger.Account(ctx, ln.AccountID)
		if err != nil {
			return err
		}
		side := "DEBIT"
		if ln.Amount.IsNegative() {
			side = "CREDIT"
		}
		out.Lines = append(out.Lines, txLineJSON{
			Account: a.Code, AccountType: string(a.Type), Side: side,
			Amount: ledger.FormatMoney(ln.Amount.Abs()), Currency: ln.Currency,
		})
		if ln.AccountID == wallet.ID {
			out.txJSON = s.lineJSON(ledger.WalletLine{
				EntryID: e.ID, LineID: ln.ID, Kind: e.Kind, Description: e.Description, PostedAt: ln.PostedAt,
				Change: ln.Amount.Mul(decimalOf(a.Type.Normal())), BalanceAfter: ln.BalanceAfter.Decimal, Metadata: e.Metadata,
			})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) analytics(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	wallet, err := s.ledger.Wallet(ctx, currentUser(ctx).UserID, s.savings.Currency)
	if err != nil {
		return err
	}
	a, err := s.ledger.Analytics(ctx, wallet, analyticsMonths, s.now(), s.kigali)
	if err != nil {
		return err
	}
	type month struct {
		Month       string `json:"month"`
		Deposits    string `json:"deposits"`
		Withdrawals string `json:"withdrawals"`
	}
	monthly := make([]month, 0, len(a.Months))
	for _, m := range a.Months {
		monthly = append(monthly, month{
			Month: m.Month.Format("2006-01"), Deposits: ledger.FormatMoney(m.Deposits), Withdrawals: ledger.FormatMoney(m.Withdrawals),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"summary": map[string]any{
			"total_deposits":    ledger.FormatMoney(a.TotalDeposits),
			"total_withdrawals": ledger.FormatMoney(a.TotalWithdrawals),
			"tx_count":          a.Count,
			"latest_balance":    ledger.FormatMoney(a.Balance),
		},
		"monthly": monthly,
	})
	return nil
}

// statementLineJSON is one line of a statement.
type statementLineJSON struct {
	ID           int64  `json:"id"`
	TxType       string `json:"tx_type"`
	Amount       string `json:"amount"`
	BalanceAfter string `json:"balance_after"`
	CreatedAt    string `json:"created_at"`
	Description  string `json:"description"`
}

// statement is the caller's activity over [from, to] (default: the last 30
// days) with opening and closing balances, as JSON or CSV.
func (s *server) statement(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "csv" {
		return fieldError("format", "Choose json or csv.")
	}
	from, to, err := s.queryRange(q)
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -30)
	}
	if to.Before(from) {
		return fieldError("from", "Must not be after to.")
	}
	if to.Sub(from) > maxStatementDays*24*time.Hour {
		return fieldError("from", fmt.Sprintf("A statement covers at most %d days.", maxStatementDays))
	}
	wallet, err := s.ledger.Wallet(ctx, currentUser(ctx).UserID, s.savings.Currency)
	if err != nil {
		return err
	}
	st, err := s.ledger.Statement(ctx, wallet.ID, from, to)
	if err != nil {
		return err
	}
	lines := make([]statementLineJSON, 0, len(st.Lines))
	for _, l := range st.Lines {
		lines = append(lines, statementLineJSON{
			ID: l.EntryID, TxType: txType(l.Kind), Amount: txAmount(l.Kind, l.Change),
			BalanceAfter: ledger.FormatMoney(l.Balance), CreatedAt: formatTime(l.PostedAt), Description: l.Description,
		})
	}
	if format == "json" {
		writeJSON(w, http.StatusOK, map[string]any{
			"from": formatTime(from), "to": formatTime(to), "currency": s.savings.Currency,
			"opening_balance": ledger.FormatMoney(st.OpeningBalance), "lines": lines,
			"closing_balance": ledger.FormatMoney(st.ClosingBalance),
		})
		return nil
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"id", "tx_type", "amount", "balance_after", "created_at", "description"})
	for _, l := range lines {
		_ = cw.Write([]string{strconv.FormatInt(l.ID, 10), l.TxType, l.Amount, l.BalanceAfter, l.CreatedAt, csvText(l.Description)})
	}
	cw.Flush()
	name := fmt.Sprintf("statement-%s-%s.csv", from.In(s.kigali).Format("2006-01-02"), to.In(s.kigali).Format("2006-01-02"))
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// csvText keeps a customer's text from being run as a formula by a
// spreadsheet that opens the CSV.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func decimalOf(n int) decimal.Decimal { return decimal.NewFromInt(int64(n)) }

package api

import (
	"bufio"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
)

// auditor is authn plus a role that may read the ledger: auditor or admin.
// Like admin it re-reads the account, so a demoted or deactivated caller
// loses access at once.
func (s *server) auditor(h handlerFunc) handlerFunc {
	return s.authn(func(w http.ResponseWriter, r *http.Request) error {
		p := currentUser(r.Context())
		if p.Role != auth.RoleAdmin && p.Role != auth.RoleAuditor {
			return errForbidden
		}
		u, err := s.auth.User(r.Context(), p.UserID)
		if errors.Is(err, auth.ErrNotFound) || (err == nil && (!u.Active() || u.Role != p.Role)) {
			return errForbidden
		}
		if err != nil {
			return err
		}
		return h(w, r)
	})
}

type ledgerAccountJSON struct {
	ID            int64  `json:"id"`
	Code          string `json:"code"`
	Type          string `json:"type"`
	Currency      string `json:"currency"`
	OwnerUserID   *int64 `json:"owner_user_id"`
	AllowNegative bool   `json:"allow_negative"`
	Balance       string `json:"balance"`
	CreatedAt     string `json:"created_at"`
}

// ledgerAccounts lists the chart of accounts with balances, keyset-paged.
func (s *server) ledgerAccounts(w http.ResponseWriter, r *http.Request) error {
	after, err := decodeCursor(r)
	if err != nil {
		return err
	}
	limit, err := queryPositive(r.URL.Query(), "limit", 100, 1000)
	if err != nil {
		return err
	}
	accts, err := s.ledger.Accounts(r.Context(), ledger.AccountFilter{AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	out := struct {
		Results    []ledgerAccountJSON `json:"results"`
		NextCursor *string             `json:"next_cursor"`
	}{Results: make([]ledgerAccountJSON, 0, len(accts))}
	for _, a := range accts {
		j := ledgerAccountJSON{
			ID: a.ID, Code: a.Code, Type: string(a.Type), Currency: a.Currency,
			AllowNegative: a.AllowNegative, Balance: ledger.FormatMoney(a.Balance), CreatedAt: formatTime(a.CreatedAt),
		}
		if a.OwnerUserID != 0 {
			j.OwnerUserID = &a.OwnerUserID
		}
		out.Results = append(out.Results, j)
	}
	if len(accts) == limit {
		c := encodeCursor(accts[len(accts)-1].ID)
		out.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type ledgerLineJSON struct {
	ID           int64   `json:"id"`
	Account      string  `json:"account"`
	Side         string  `json:"side"`
	Amount       string  `json:"amount"`
	Currency     string  `json:"currency"`
	BalanceAfter *string `json:"balance_after"`
}

type ledgerEntryJSON struct {
	ID          int64            `json:"id"`
	Kind        string           `json:"kind"`
	Description string           `json:"description"`
	ActorUserID *int64           `json:"actor_user_id"`
	EffectiveAt string           `json:"effective_at"`
	CreatedAt   string           `json:"created_at"`
	Metadata    json.RawMessage  `json:"metadata"`
	Hash        string           `json:"hash"`
	PrevHash    string           `json:"prev_hash"`
	Lines       []ledgerLineJSON `json:"lines"`
}

// ledgerEntries lists journal entries with their lines, keyset-paged in id
// order, filtered by creation time and account (a code or an id).
func (s *server) ledgerEntries(w http.ResponseWriter, r *http.Request) error {
	from, to, err := s.queryRange(r.URL.Query())
	if err != nil {
		return err
	}
	after, err := decodeCursor(r)
	if err != nil {
		return err
	}
	limit, err := queryPositive(r.URL.Query(), "limit", 50, 500)
	if err != nil {
		return err
	}
	f := ledger.EntryFilter{From: from, To: to, AfterID: after, Limit: limit}
	if v := r.URL.Query().Get("account"); v != "" {
		if f.AccountID, err = s.accountParam(r, v); err != nil {
			return err
		}
	}
	es, err := s.ledger.Entries(r.Context(), f)
	if err != nil {
		return err
	}
	out := struct {
		Results    []ledgerEntryJSON `json:"results"`
		NextCursor *string           `json:"next_cursor"`
	}{Results: make([]ledgerEntryJSON, 0, len(es))}
	for _, e := range es {
		j := ledgerEntryJSON{
			ID: e.ID, Kind: string(e.Kind), Description: e.Description,
			EffectiveAt: formatTime(e.EffectiveAt), CreatedAt: formatTime(e.CreatedAt),
			Metadata: e.Metadata, Hash: e.Hash, PrevHash: e.PrevHash, Lines: make([]ledgerLineJSON, 0, len(e.Lines)),
		}
		if len(j.Metadata) == 0 {
			j.Metadata = json.RawMessage("{}")
		}
		if e.ActorUserID != 0 {
			j.ActorUserID = &e.ActorUserID
		}
		for _, ln := range e.Lines {
			side, amt := "DEBIT", ln.Debit()
			if ln.Amount.IsNegative() {
				side, amt = "CREDIT", ln.Credit()
			}
			lj := ledgerLineJSON{ID: ln.ID, Account: ln.AccountCode, Side: side, Amount: ledger.FormatMoney(amt), Currency: ln.Currency}
			if ln.BalanceAfter.Valid {
				b := ledger.FormatMoney(ln.BalanceAfter.Decimal)
				lj.BalanceAfter = &b
			}
			j.Lines = append(j.Lines, lj)
		}
		out.Results = append(out.Results, j)
	}
	if len(es) == limit {
		c := encodeCursor(es[len(es)-1].ID)
		out.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// accountParam resolves an account given by id or by code.
func (s *server) accountParam(r *http.Request, v string) (int64, error) {
	if id, err := strconv.ParseInt(v, 10, 64); err == nil && id > 0 {
		if _, err := s.ledger.Account(r.Context(), id); err != nil {
			return 0, fieldError("account", "No such account.")
		}
		return id, nil
	}
	a, err := s.ledger.AccountByCode(r.Context(), v)
	if err != nil {
		return 0, fieldError("account", "No such account.")
	}
	return a.ID, nil
}

// exportColumns are the export's fields, in order: the CSV header and the
// JSONL members.
var exportColumns = []string{"entry_id", "line_id", "posted_at", "kind", "account_code", "account_type",
	"owner_user_id", "debit", "credit", "currency", "balance_after", "entry_hash", "prev_hash"}

// exportManifest summarises an export; the digests are of the exact bodies.
type exportManifest struct {
	Rows         int64  `json:"rows"`
	TotalDebit   string `json:"total_debit"`
	TotalCredit  string `json:"total_credit"`
	FirstEntryID *int64 `json:"first_entry_id"`
	LastEntryID  *int64 `json:"last_entry_id"`
	ChainHead    string `json:"chain_head"`
	SHA256CSV    string `json:"sha256_csv,omitempty"`
	SHA256JSONL  string `json:"sha256_jsonl,omitempty"`
}

// jsonlRow is one export line as JSON, members in exportColumns order.
type jsonlRow struct {
	EntryID      int64   `json:"entry_id"`
	LineID       int64   `json:"line_id"`
	PostedAt     string  `json:"posted_at"`
	Kind         string  `json:"kind"`
	AccountCode  string  `json:"account_code"`
	AccountType  string  `json:"account_type"`
	OwnerUserID  *int64  `json:"owner_user_id"`
	Debit        string  `json:"debit"`
	Credit       string  `json:"credit"`
	Currency     string  `json:"currency"`
	BalanceAfter *string `json:"balance_after"`
	EntryHash    string  `json:"entry_hash"`
	PrevHash     string  `json:"prev_hash"`
}

// writeExport streams the journal lines of [from, to] as CSV to csvOut
// and as JSONL (without its manifest line) to jsonlOut, either of which may
// be nil, and returns the manifest. The export endpoint writes one format to
// the client; the manifest endpoint writes both into hashes: the same code
// path, so the digests always describe the bodies. Memory is constant.
func (s *server) writeExport(r *http.Request, from, to time.Time, csvOut, jsonlOut io.Writer) (exportManifest, error) {
	var m exportManifest
	var debit, credit decimal.Decimal
	var cw *csv.Writer
	if csvOut != nil {
		cw = csv.NewWriter(csvOut)
		if err := cw.Write(exportColumns); err != nil {
			return m, err
		}
	}
	var jw *json.Encoder
	if jsonlOut != nil {
		jw = json.NewEncoder(jsonlOut)
		jw.SetEscapeHTML(false)
	}
	rec := make([]string, len(exportColumns))
	err := s.ledger.ExportLines(r.Context(), from, to, func(l ledger.ExportLine) error {
		m.Rows++
		if m.FirstEntryID == nil {
			id := l.EntryID
			m.FirstEntryID = &id
		}
		id := l.EntryID
		m.LastEntryID = &id
		if l.EntryHash != "" {
			m.ChainHead = l.EntryHash
		}
		debit, credit = debit.Add(l.Debit), credit.Add(l.Credit)
		row := jsonlRow{
			EntryID: l.EntryID, LineID: l.LineID, PostedAt: formatTime(l.PostedAt), Kind: string(l.Kind),
			AccountCode: l.AccountCode, AccountType: string(l.AccountType),
			Debit: ledger.FormatMoney(l.Debit), Credit: ledger.FormatMoney(l.Credit), Currency: l.Currency,
			EntryHash: l.EntryHash, PrevHash: l.PrevHash,
		}
		if l.OwnerUserID != 0 {
			owner := l.OwnerUserID
			row.OwnerUserID = &owner
		}
		if l.BalanceAfter.Valid {
			b := ledger.FormatMoney(l.BalanceAfter.Decimal)
			row.BalanceAfter = &b
		}
		if cw != nil {
			rec[0], rec[1], rec[2], rec[3] = strconv.FormatInt(row.EntryID, 10), strconv.FormatInt(row.LineID, 10), row.PostedAt, row.Kind
			rec[4], rec[5], rec[6] = row.AccountCode, row.AccountType, ""
			if row.OwnerUserID != nil {
				rec[6] = strconv.FormatInt(*row.OwnerUserID, 10)
			}
			rec[7], rec[8], rec[9], rec[10] = row.Debit, row.Credit, row.Currency, ""
			if row.BalanceAfter != nil {
				rec[10] = *row.BalanceAfter
			}
			rec[11], rec[12] = row.EntryHash, row.PrevHash
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		if jw != nil {
			return jw.Encode(row)
		}
		return nil
	})
	if err != nil {
		return m, err
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return m, err
		}
	}
	m.TotalDebit, m.TotalCredit = ledger.FormatMoney(debit), ledger.FormatMoney(credit)
	return m, nil
}

// exportParams reads from, to and format (csv by default).
func (s *server) exportParams(r *http.Request) (from, to time.Time, format string, err error) {
	if from, to, err = s.queryRange(r.URL.Query()); err != nil {
		return
	}
	format = strings.ToLower(r.URL.Query().Get("format"))
	switch format {
	case "":
		format = "csv"
	case "csv", "jsonl":
	default:
		err = fieldError("format", "Expected csv or jsonl.")
	}
	return
}

// ledgerExport streams one row per journal line, entries in id order, as
// CSV or JSONL (then a last line with the manifest). A failure after the
// first bytes were sent aborts the connection, so a client never mistakes a
// truncated export for a complete one.
func (s *server) ledgerExport(w http.ResponseWriter, r *http.Request) error {
	from, to, format, err := s.exportParams(r)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	name := "creditjambo-ledger-" + s.now().UTC().Format("20060102T150405Z")
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
		_, err = s.writeExport(r, from, to, bw, nil)
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.jsonl"`)
		var m exportManifest
		m, err = s.writeExport(r, from, to, nil, bw)
		if err == nil {
			err = json.NewEncoder(bw).Encode(map[string]exportManifest{"manifest": m})
		}
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "ledger export failed", "request_id", requestID(r.Context()), "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// ledgerExportManifest computes the export's manifest with the SHA-256 of
// the exact CSV body and of the JSONL body without its manifest line.
func (s *server) ledgerExportManifest(w http.ResponseWriter, r *http.Request) error {
	from, to, _, err := s.exportParams(r)
	if err != nil {
		return err
	}
	var csvHash, jsonlHash hash.Hash = sha256.New(), sha256.New()
	m, err := s.writeExport(r, from, to, csvHash, jsonlHash)
	if err != nil {
		return err
	}
	m.SHA256CSV, m.SHA256JSONL = hex.EncodeToString(csvHash.Sum(nil)), hex.EncodeToString(jsonlHash.Sum(nil))
	writeJSON(w, http.StatusOK, m)
	return nil
}

type trialBalanceRowJSON struct {
	Code    string `json:"code"`
	Type    string `json:"type"`
	Debit   string `json:"debit"`
	Credit  string `json:"credit"`
	Balance string `json:"balance"`
}

// ledgerTrialBalance returns every account's debits, credits and balance as
// of an instant (default now), with the totals.
func (s *server) ledgerTrialBalance(w http.ResponseWriter, r *http.Request) error {
	var asOf time.Time
	if v := r.URL.Query().Get("as_of"); v != "" {
		var err error
		if asOf, err = s.parseInstant("as_of", v, true); err != nil {
			return err
		}
	}
	bound := asOf
	if asOf.IsZero() {
		// Now, by the database's clock, which stamps the lines: every
		// committed line counts, whatever this server's clock says.
		asOf, bound = s.now(), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	}
	tb, err := s.ledger.TrialBalance(r.Context(), bound)
	if err != nil {
		return err
	}
	out := struct {
		AsOf        string                `json:"as_of"`
		Accounts    []trialBalanceRowJSON `json:"accounts"`
		TotalDebit  string                `json:"total_debit"`
		TotalCredit string                `json:"total_credit"`
		Balanced    bool                  `json:"balanced"`
	}{AsOf: formatTime(asOf), Accounts: make([]trialBalanceRowJSON, 0, len(tb.Accounts)),
		TotalDebit: ledger.FormatMoney(tb.TotalDebit), TotalCredit: ledger.FormatMoney(tb.TotalCredit), Balanced: tb.Balanced}
	for _, a := range tb.Accounts {
		out.Accounts = append(out.Accounts, trialBalanceRowJSON{
			Code: a.Code, Type: string(a.Type),
			Debit: ledger.FormatMoney(a.Debit), Credit: ledger.FormatMoney(a.Credit), Balance: ledger.FormatMoney(a.Balance),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ledgerVerify re-checks the hash chain, every entry's balance and every
// derived balance; it never repairs anything.
func (s *server) ledgerVerify(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.ledger.Verify(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

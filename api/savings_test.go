package api

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/templates"
)

// keysOf lists a JSON object's keys, sorted.
func keysOf(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

// TestSavingsFrontendFlow drives the frontend's exact requests: a deposit
// with the amount as a string and an extra currency, a withdrawal with the
// amount as a JSON number, then the pages that read the wallet.
func TestSavingsFrontendFlow(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{})
	u, s := e.customer(t)

	r := e.move(t, "deposit", s.access, `{"amount": "1000", "currency": "RWF"}`, "")
	expect(t, r, http.StatusCreated, "")
	if keysOf(r.json) != "amount,balance_after,created_at,currency,description,id,tx_type" {
		t.Fatalf("deposit keys: %s", r.raw)
	}
	if r.str("tx_type") != "DEPOSIT" || r.str("amount") != "1000.00" || r.str("balance_after") != "1000.00" ||
		r.str("currency") != "RWF" || r.str("description") != "" || r.header.Get("Idempotency-Replayed") != "" {
		t.Fatalf("deposit: %s", r.raw)
	}
	depositID := int64(r.json["id"].(float64))
	created, err := time.Parse(time.RFC3339Nano, r.str("created_at"))
	if err != nil || !strings.HasSuffix(r.str("created_at"), "Z") || len(r.str("created_at")) != len("2026-01-02T15:04:05.000000Z") {
		t.Fatalf("created_at %q: %v", r.str("created_at"), err)
	}
	var stored time.Time
	if err := e.pool.QueryRow(context.Background(), `SELECT created_at FROM ledger_entries WHERE id = $1`, depositID).Scan(&stored); err != nil || !stored.Equal(created) {
		t.Fatalf("created_at %s, stored %s (%v)", created, stored, err)
	}

	r = e.move(t, "withdraw", s.access, `{"amount": 250.5}`, "")
	expect(t, r, http.StatusCreated, "")
	if r.str("tx_type") != "WITHDRAW" || r.str("amount") != "250.50" || r.str("balance_after") != "749.50" {
		t.Fatalf("withdraw: %s", r.raw)
	}
	withdrawID := int64(r.json["id"].(float64))

	r = e.move(t, "withdraw", s.access, `{"amount": "749.51"}`, "")
	if r.status != http.StatusBadRequest || string(r.raw) != `{"detail":"Insufficient funds","code":"insufficient_funds"}`+"\n" {
		t.Fatalf("over the balance: %d %s", r.status, r.raw)
	}
	if b := e.balance(t, s.access); b != "749.50" {
		t.Fatalf("balance %s", b)
	}
	// Login's user.balance is the wallet's, as a money string.
	if l := e.login(t, u.Username, "phone-1"); l.user["balance"] != "749.50" {
		t.Fatalf("login user %v", l.user)
	}

	// One notification and one email job each, with the receipt's data.
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE recipient_id = $1 AND notif_type = $2`, u.ID, jobs.NotifDepositConfirmed); n != 1 {
		t.Fatalf("%d deposit notifications", n)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE recipient_id = $1 AND notif_type = $2`, u.ID, jobs.NotifWithdrawAlert); n != 1 {
		t.Fatalf("%d withdrawal notifications", n)
	}
	receipts := e.emails(t, templates.DepositReceipt, u.Email)
	if len(receipts) != 1 || receipts[0].args.Data["Amount"] != "1000.00" || receipts[0].args.Data["BalanceAfter"] != "1000.00" ||
		receipts[0].args.Data["Reference"] != jobs.Reference(depositID) || receipts[0].args.Data["Time"] == nil {
		t.Fatalf("receipts %+v", receipts)
	}
	if n := len(e.emails(t, templates.WithdrawalNotice, u.Email)); n != 1 {
		t.Fatalf("%d withdrawal notices", n)
	}

	// The transactions page reads the first page's results.
	r = e.get(t, "/api/savings/transactions/", s.access)
	expect(t, r, http.StatusOK, "")
	var page struct {
		Count      int              `json:"count"`
		Next       *string          `json:"next"`
		NextCursor *string          `json:"next_cursor"`
		Results    []map[string]any `json:"results"`
	}
	mustJSON(t, r.raw, &page)
	if page.Count != 2 || page.Next != nil || page.NextCursor != nil || len(page.Results) != 2 ||
		page.Results[0]["tx_type"] != "WITHDRAW" || page.Results[1]["tx_type"] != "DEPOSIT" || page.Results[0]["balance_after"] != "749.50" {
		t.Fatalf("transactions: %s", r.raw)
	}

	// One transaction with its journal lines.
	r = e.get(t, fmt.Sprintf("/api/savings/transactions/%d/", withdrawID), s.access)
	expect(t, r, http.StatusOK, "")
	lines, _ := r.json["lines"].([]any)
	if r.str("amount") != "250.50" || len(lines) != 2 {
		t.Fatalf("transaction: %s", r.raw)
	}
	sides := map[string]string{}
	for _, l := range lines {
		m := l.(map[string]any)
		sides[m["account"].(string)] = m["side"].(string) + " " + m["amount"].(string) + " " + m["account_type"].(string)
	}
	if sides["cash:RWF"] != "CREDIT 250.50 asset" || sides[fmt.Sprintf("wallet:%d:RWF", u.ID)] != "DEBIT 250.50 liability" {
		t.Fatalf("lines %v", sides)
	}

	// Analytics: 12 months, oldest first, this month last.
	r = e.get(t, "/api/savings/analytics/", s.access)
	expect(t, r, http.StatusOK, "")
	sum := r.json["summary"].(map[string]any)
	monthly := r.json["monthly"].([]any)
	last := monthly[11].(map[string]any)
	kigali, _ := time.LoadLocation("Africa/Kigali")
	if sum["total_deposits"] != "1000.00" || sum["total_withdrawals"] != "250.50" || sum["tx_count"] != 2.0 ||
		sum["latest_balance"] != "749.50" || len(monthly) != 12 || last["month"] != time.Now().In(kigali).Format("2006-01") ||
		last["deposits"] != "1000.00" || last["withdrawals"] != "250.50" || monthly[0].(map[string]any)["deposits"] != "0.00" {
		t.Fatalf("analytics: %s", r.raw)
	}

	// Statement, JSON and CSV (by default up to now; the test clock is
	// frozen before the postings, whose times come from the database).
	e.clock.Advance(time.Minute)
	r = e.get(t, "/api/savings/statement/", s.access)
	expect(t, r, http.StatusOK, "")
	if r.str("opening_balance") != "0.00" || r.str("closing_balance") != "749.50" || len(r.json["lines"].([]any)) != 2 {
		t.Fatalf("statement: %s", r.raw)
	}
	r = e.get(t, "/api/savings/statement/?format=csv", s.access)
	expect(t, r, http.StatusOK, "")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv content type %q", r.header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.raw))).ReadAll()
	if err != nil || len(rows) != 3 || strings.Join(rows[0], ",") != "id,tx_type,amount,balance_after,created_at,description" ||
		rows[1][1] != "DEPOSIT" || rows[2][3] != "749.50" {
		t.Fatalf("csv: %v %q", err, r.raw)
	}
	e.verifyLedger(t)
}

// TestMoneyRules sends every kind of bad amount and body of API.md's money
// rules: each is refused, and the balance and history stay as they were.
func TestMoneyRules(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{})
	u, s := e.customer(t)
	expect(t, e.move(t, "deposit", s.access, `{"amount": "100.00"}`, ""), http.StatusCreated, "")

	amountErrors := []string{
		`"-5"`, `-5`, `"0"`, `0`, `"0.00"`, `null`, `"NaN"`, `"Infinity"`, `"1e3"`, `1e3`, `1E3`, `"+5"`, `".5"`, `"5."`,
		`" 5"`, `"5 "`, `"1,000"`, `"1_000"`, `"١٢"`, `"５"`, `"1.001"`, `1.001`, `"0.001"`, `"1234567890123"`,
		`"99999999999.99"`, `""`, `true`, `[]`, `{}`, `"05"`, `"0x10"`, `-0.5`, `"1.2.3"`,
	}
	check := func(t *testing.T) {
		t.Helper()
		if b := e.balance(t, s.access); b != "100.00" {
			t.Fatalf("balance %s after a refusal", b)
		}
		if n := e.count(t, `SELECT count(*) FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id WHERE a.owner_user_id = $1`, u.ID); n != 1 {
			t.Fatalf("%d lines after a refusal", n)
		}
		if n := e.count(t, `SELECT count(*) FROM river_job WHERE args->>'to' = $1 AND args->>'template' = $2`, u.Email, templates.DepositReceipt); n != 1 {
			t.Fatalf("%d receipts after a refusal", n)
		}
	}
	for _, what := range []string{"deposit", "withdraw"} {
		for _, a := range amountErrors {
			r := e.move(t, what, s.access, `{"amount": `+a+`}`, "")
			expect(t, r, http.StatusBadRequest, "invalid")
			if errs, _ := r.json["errors"].(map[string]any); errs["amount"] == nil {
				t.Fatalf("%s %s: no amount field error: %s", what, a, r.raw)
			}
		}
		for _, body := range []string{`{}`, `{"AMOUNT": "5"}`, `{"currency": "RWF"}`} {
			r := e.move(t, what, s.access, body, "")
			expect(t, r, http.StatusBadRequest, "invalid")
		}
		for _, c := range []struct {
			body   string
			status int
			code   string
		}{
			{`{"amount": "5", "currency": "USD"}`, 400, "unsupported_currency"},
			{`{"amount": "5", "currency": "rwf"}`, 400, "unsupported_currency"},
			{`{"amount": "5", "amount": "6"}`, 400, "malformed_json"},
			{`{"amount": "5"} {}`, 400, "malformed_json"},
			{`{"amount": "5"`, 400, "malformed_json"},
			{"\xef\xbb\xbf{\"amount\": \"5\"}", 400, "malformed_json"},
			{`{"amount": "5", "description": 7}`, 400, "invalid"},
			{`{"amount": "5", "description": "a\u0000b"}`, 400, "invalid"},
			{`{"amount": "5", "description": "` + strings.Repeat("x", 256) + `"}`, 400, "invalid"},
			{`{"amount": "5", "x": "` + strings.Repeat("x", 70<<10) + `"}`, 413, "request_too_large"},
		} {
			r := e.move(t, what, s.access, c.body, "")
			if len(c.body) < 300 {
				t.Logf("%s %s → %d", what, c.body, r.status)
			}
			expect(t, r, c.status, c.code)
		}
		// Not JSON.
		r := e.do(t, req{method: http.MethodPost, path: "/api/savings/" + what + "/", token: s.access, body: `{"amount": "5"}`,
			header: map[string]string{"Content-Type": "text/plain"}})
		expect(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
		check(t)
	}
	// Fields the endpoint does not define change nothing.
	r := e.move(t, "deposit", s.access, `{"amount": "1", "user_id": 999, "balance": "1000000", "tx_type": "WITHDRAW"}`, "")
	expect(t, r, http.StatusCreated, "")
	if r.str("tx_type") != "DEPOSIT" || r.str("balance_after") != "101.00" {
		t.Fatalf("extras: %s", r.raw)
	}
	// The largest and smallest amounts are accepted, never rounded.
	for _, a := range []string{`"0.01"`, `0.01`, `"9999999999.99"`, `"10.5"`} {
		expect(t, e.move(t, "deposit", s.access, `{"amount": `+a+`}`, ""), http.StatusCreated, "")
	}
	if b := e.balance(t, s.access); b != "10000000111.51" {
		t.Fatalf("balance %s", b)
	}
	e.verifyLedger(t)
}

// TestLimits checks the per-transaction and daily limits: refused with
// their codes, nothing written, the day's total counted by kind.
func TestLimits(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{limits: ledger.Limits{
		MaxAmount: dec("1000"), DailyDeposit: dec("1500"), DailyWithdrawal: dec("300"),
	}})
	u, s := e.customer(t)
	r := e.move(t, "deposit", s.access, `{"amount": "1000.01"}`, "k-over")
	expect(t, r, http.StatusBadRequest, "amount_over_limit")
	if !strings.Contains(r.str("detail"), "1,000.00 RWF") {
		t.Fatalf("detail %q", r.str("detail"))
	}
	expect(t, e.move(t, "deposit", s.access, `{"amount": "1000"}`, ""), http.StatusCreated, "")
	expect(t, e.move(t, "deposit", s.access, `{"amount": "500"}`, ""), http.StatusCreated, "")
	r = e.move(t, "deposit", s.access, `{"amount": "0.01"}`, "k-day")
	expect(t, r, http.StatusBadRequest, "daily_limit_exceeded")
	if !strings.Contains(r.str("detail"), "0.00 RWF is left") {
		t.Fatalf("detail %q", r.str("detail"))
	}
	// Withdrawals have their own daily total.
	expect(t, e.move(t, "withdraw", s.access, `{"amount": "200"}`, ""), http.StatusCreated, "")
	r = e.move(t, "withdraw", s.access, `{"amount": "100.01"}`, "")
	expect(t, r, http.StatusBadRequest, "daily_limit_exceeded")
	if !strings.Contains(r.str("detail"), "100.00 RWF is left") {
		t.Fatalf("detail %q", r.str("detail"))
	}
	expect(t, e.move(t, "withdraw", s.access, `{"amount": "100"}`, ""), http.StatusCreated, "")
	// A refused request consumed no key: the key works for an allowed one.
	expect(t, e.move(t, "withdraw", s.access, `{"amount": "1"}`, "k-over"), http.StatusBadRequest, "daily_limit_exceeded")
	if b := e.balance(t, s.access); b != "1200.00" {
		t.Fatalf("balance %s", b)
	}
	// Tomorrow (Kigali) is a new day (and a new log-in: tokens expired).
	e.clock.Advance(24 * time.Hour)
	s = e.login(t, u.Username, "phone-1")
	r = e.move(t, "deposit", s.access, `{"amount": "0.01"}`, "k-day")
	expect(t, r, http.StatusCreated, "")
	if n := e.count(t, `SELECT count(*) FROM ledger_entries`); n != 5 {
		t.Fatalf("%d entries", n)
	}
	e.verifyLedger(t)
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestConcurrentWithdrawals races 50 withdrawals that cannot all fit: exactly
// those that fit succeed, the balance never goes below zero, and the ledger
// verifies clean.
func TestConcurrentWithdrawals(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{maxConns: 60})
	_, s := e.customer(t)
	expect(t, e.move(t, "deposit", s.access, `{"amount": "1000"}`, ""), http.StatusCreated, "")
	before := e.retries(t)
	var ok, refused, other int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			r := e.move(t, "withdraw", s.access, `{"amount": "30"}`, fmt.Sprintf("w-%d", i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.status == http.StatusCreated:
				ok++
			case r.status == http.StatusBadRequest && r.str("code") == "insufficient_funds":
				refused++
			default:
				other++
				t.Errorf("withdrawal: %d %s", r.status, r.raw)
			}
		})
	}
	wg.Wait()
	if ok != 33 || refused != 17 || other != 0 {
		t.Fatalf("%d succeeded, %d refused, %d other; want 33 and 17", ok, refused, other)
	}
	if b := e.balance(t, s.access); b != "10.00" {
		t.Fatalf("balance %s", b)
	}
	if n := e.count(t, `SELECT count(*) FROM ledger_lines WHERE balance_after < 0`); n != 0 {
		t.Fatalf("%d lines below zero", n)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE notif_type = 'WITHDRAW_ALERT'`); n != 33 {
		t.Fatalf("%d withdrawal notifications", n)
	}
	// One wallet: the in-process locks queue the postings instead of
	// letting them fail each other.
	t.Logf("serialization retries: %v", e.retries(t)-before)
	e.verifyLedger(t)
}

// TestParallelDepositsDistinctUsers checks that postings on distinct
// wallets do not conflict: serialization retries stay near zero.
func TestParallelDepositsDistinctUsers(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{maxConns: 40})
	const users, each = 16, 10
	tokens := make([]string, users)
	for i := range tokens {
		_, s := e.customer(t)
		tokens[i] = s.access
	}
	before := e.retries(t)
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			for range each {
				if r := e.move(t, "deposit", tok, `{"amount": "1.50"}`, ""); r.status != http.StatusCreated {
					t.Errorf("deposit: %d %s", r.status, r.raw)
				}
			}
		})
	}
	wg.Wait()
	retries := e.retries(t) - before
	t.Logf("%d deposits on %d wallets: %v serialization retries", users*each, users, retries)
	if retries > users*each/20 {
		t.Errorf("%v retries for %d deposits on distinct wallets", retries, users*each)
	}
	for _, tok := range tokens {
		if b := e.balance(t, tok); b != "15.00" {
			t.Fatalf("balance %s", b)
		}
	}
	e.verifyLedger(t)
}

// TestIdempotency covers replays (by parsed value), conflicts, refusals that
// consume no key, bad keys, and a storm of concurrent duplicates.
func TestIdempotency(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{maxConns: 50})
	_, s := e.customer(t)
	first := e.move(t, "deposit", s.access, `{"amount": "10.5", "description": "school fees"}`, "key-1")
	expect(t, first, http.StatusCreated, "")
	for _, body := range []string{`{"amount": 10.50, "description": "school fees"}`, `{"amount": "10.50", "description": " school fees ", "currency": "RWF", "x": 1}`} {
		r := e.move(t, "deposit", s.access, body, "key-1")
		expect(t, r, http.StatusCreated, "")
		if string(r.raw) != string(first.raw) || r.header.Get("Idempotency-Replayed") != "true" {
			t.Fatalf("replay %s (%q), first %s", r.raw, r.header.Get("Idempotency-Replayed"), first.raw)
		}
	}
	for _, c := range []struct{ what, body string }{
		{"deposit", `{"amount": "10.51", "description": "school fees"}`},
		{"deposit", `{"amount": "10.50"}`},
		{"withdraw", `{"amount": "10.50", "description": "school fees"}`},
	} {
		expect(t, e.move(t, c.what, s.access, c.body, "key-1"), http.StatusConflict, "idempotency_conflict")
	}
	if b := e.balance(t, s.access); b != "10.50" {
		t.Fatalf("balance %s", b)
	}
	// A refused request consumes no key; a later success with it replays
	// even when the same request would now be refused.
	expect(t, e.move(t, "withdraw", s.access, `{"amount": "20"}`, "key-2"), http.StatusBadRequest, "insufficient_funds")
	expect(t, e.move(t, "withdraw", s.access, `{"amount": "10.50"}`, "key-2"), http.StatusCreated, "")
	r := e.move(t, "withdraw", s.access, `{"amount": "10.50"}`, "key-2")
	expect(t, r, http.StatusCreated, "")
	if r.header.Get("Idempotency-Replayed") != "true" {
		t.Fatal("not replayed")
	}
	// Keys are the user's own: another user's same key is another key.
	_, s2 := e.customer(t)
	r = e.move(t, "deposit", s2.access, `{"amount": "10.5", "description": "school fees"}`, "key-1")
	expect(t, r, http.StatusCreated, "")
	if r.header.Get("Idempotency-Replayed") != "" {
		t.Fatal("another user's key replayed")
	}
	for _, key := range []string{strings.Repeat("k", 256), "clé", "a\tb"} {
		expect(t, e.move(t, "deposit", s.access, `{"amount": "1"}`, key), http.StatusBadRequest, "invalid_idempotency_key")
	}
	expect(t, e.move(t, "deposit", s.access, `{"amount": "1"}`, strings.Repeat("k", 255)), http.StatusCreated, "")

	// A storm: 20 concurrent identical requests → one posting, one answer.
	var wg sync.WaitGroup
	answers := make([]resp, 20)
	for i := range answers {
		wg.Go(func() { answers[i] = e.move(t, "deposit", s.access, `{"amount": "7"}`, "storm") })
	}
	wg.Wait()
	replayed := 0
	for _, a := range answers {
		expect(t, a, http.StatusCreated, "")
		if string(a.raw) != string(answers[0].raw) {
			t.Fatalf("different answers: %s vs %s", a.raw, answers[0].raw)
		}
		if a.header.Get("Idempotency-Replayed") == "true" {
			replayed++
		}
	}
	if replayed != 19 {
		t.Fatalf("%d replayed, want 19", replayed)
	}
	if n := e.count(t, `SELECT count(*) FROM ledger_entries WHERE idem_key = 'storm'`); n != 1 {
		t.Fatalf("%d postings for the storm", n)
	}
	if n := e.count(t, `SELECT count(*) FROM river_job WHERE args->>'template' = 'deposit_receipt' AND args->'data'->>'Amount' = '7.00'`); n != 1 {
		t.Fatalf("%d receipts for the storm", n)
	}
	// A storm of withdrawals that would each fit alone but not together,
	// under one key: still one posting.
	for i := range answers {
		wg.Go(func() { answers[i] = e.move(t, "withdraw", s.access, `{"amount": "8"}`, "storm-w") })
	}
	wg.Wait()
	for _, a := range answers {
		expect(t, a, http.StatusCreated, "")
	}
	if b := e.balance(t, s.access); b != "0.00" {
		t.Fatalf("balance %s", b)
	}
	e.verifyLedger(t)
}

// TestLowBalanceAlerts crosses the threshold three times (three alerts),
// stays below (none), and checks rules: the user's, disabled, global.
func TestLowBalanceAlerts(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{})
	u, s := e.customer(t)
	alerts := func(id int64) int {
		return e.count(t, `SELECT count(*) FROM notifications WHERE recipient_id = $1 AND notif_type = 'LOW_BALANCE'`, id)
	}
	step := func(what, amount string, wantAlerts int) {
		t.Helper()
		expect(t, e.move(t, what, s.access, `{"amount": "`+amount+`"}`, ""), http.StatusCreated, "")
		if n := alerts(u.ID); n != wantAlerts {
			t.Fatalf("after %s %s: %d alerts, want %d", what, amount, n, wantAlerts)
		}
	}
	step("deposit", "200", 0)
	step("withdraw", "160", 1) // 200 → 40: crossed
	step("withdraw", "10", 1)  // 40 → 30: still below
	step("deposit", "100", 1)  // 130
	step("withdraw", "100", 2) // 130 → 30: crossed again
	step("deposit", "100", 2)  // 130
	step("withdraw", "80", 3)  // 130 → 50: at the threshold counts
	mails := e.emails(t, templates.LowBalance, u.Email)
	if len(mails) != 3 || mails[2].args.Data["Balance"] != "50.00" || mails[2].args.Data["Threshold"] != "50.00" {
		t.Fatalf("low-balance emails %+v", mails)
	}

	// Staying below: never an alert.
	u2, s2 := e.customer(t)
	expect(t, e.move(t, "deposit", s2.access, `{"amount": "40"}`, ""), http.StatusCreated, "")
	expect(t, e.move(t, "withdraw", s2.access, `{"amount": "10"}`, ""), http.StatusCreated, "")
	expect(t, e.move(t, "withdraw", s2.access, `{"amount": "30"}`, ""), http.StatusCreated, "")
	if n := alerts(u2.ID); n != 0 {
		t.Fatalf("%d alerts below the threshold", n)
	}

	// The user's own rule.
	r := e.post(t, "/api/alerts/low-balance/", s2.access, map[string]any{"threshold": "500"})
	expect(t, r, http.StatusCreated, "")
	ruleID := int64(r.json["id"].(float64))
	if r.json["user"] != float64(u2.ID) || r.str("threshold") != "500.00" || r.json["enabled"] != true {
		t.Fatalf("rule %s", r.raw)
	}
	expect(t, e.post(t, "/api/alerts/low-balance/", s2.access, map[string]any{"threshold": "5"}), http.StatusConflict, "rule_exists")
	expect(t, e.post(t, "/api/alerts/low-balance/", s2.access, map[string]any{"threshold": "-5"}), http.StatusBadRequest, "invalid")
	expect(t, e.post(t, "/api/alerts/low-balance/", s2.access, map[string]any{"threshold": "5", "user": nil}), http.StatusForbidden, "permission_denied")
	expect(t, e.move(t, "deposit", s2.access, `{"amount": "600"}`, ""), http.StatusCreated, "")
	expect(t, e.move(t, "withdraw", s2.access, `{"amount": "100"}`, ""), http.StatusCreated, "") // 600 → 500
	if n := alerts(u2.ID); n != 1 {
		t.Fatalf("%d alerts with the user's rule", n)
	}
	// Disabled: none.
	r = e.do(t, req{method: http.MethodPatch, path: fmt.Sprintf("/api/alerts/low-balance/%d/", ruleID), token: s2.access, body: map[string]any{"enabled": false}})
	expect(t, r, http.StatusOK, "")
	expect(t, e.move(t, "deposit", s2.access, `{"amount": "100"}`, ""), http.StatusCreated, "")
	expect(t, e.move(t, "withdraw", s2.access, `{"amount": "550"}`, ""), http.StatusCreated, "") // 600 → 50
	if n := alerts(u2.ID); n != 1 {
		t.Fatalf("%d alerts with a disabled rule", n)
	}
	// Another user's rule is not found; the global rule is the admins'.
	expect(t, e.get(t, fmt.Sprintf("/api/alerts/low-balance/%d/", ruleID), s.access), http.StatusNotFound, "not_found")
	expect(t, e.do(t, req{method: http.MethodDelete, path: fmt.Sprintf("/api/alerts/low-balance/%d/", ruleID), token: s.access}), http.StatusNotFound, "not_found")
	admin := e.adminToken(t)
	r = e.post(t, "/api/alerts/low-balance/", admin, map[string]any{"threshold": "1000", "user": nil})
	expect(t, r, http.StatusCreated, "")
	global := int64(r.json["id"].(float64))
	if r.json["user"] != nil {
		t.Fatalf("global rule %s", r.raw)
	}
	r = e.get(t, "/api/alerts/low-balance/", admin)
	expect(t, r, http.StatusOK, "")
	var list []map[string]any
	mustJSON(t, r.raw, &list)
	if len(list) != 1 || list[0]["user"] != nil {
		t.Fatalf("admin's rules %s", r.raw)
	}
	expect(t, e.get(t, fmt.Sprintf("/api/alerts/low-balance/%d/", global), s.access), http.StatusNotFound, "not_found")
	r = e.get(t, "/api/alerts/low-balance/", s.access)
	expect(t, r, http.StatusOK, "")
	if string(r.raw) != "[]\n" {
		t.Fatalf("customer's rules %s", r.raw)
	}
	// The global rule now applies to the first user: 30+1000 → 1000 crosses.
	expect(t, e.move(t, "deposit", s.access, `{"amount": "1000"}`, ""), http.StatusCreated, "")
	expect(t, e.move(t, "withdraw", s.access, `{"amount": "50"}`, ""), http.StatusCreated, "")
	if n := alerts(u.ID); n != 4 {
		t.Fatalf("%d alerts with the global rule", n)
	}
	expect(t, e.do(t, req{method: http.MethodDelete, path: fmt.Sprintf("/api/alerts/low-balance/%d/", global), token: admin}), http.StatusNoContent, "")
	e.verifyLedger(t)
}

// TestRefusedDeviceMovesNoMoney: a device rejected or revoked after the
// token was issued is refused inside the posting transaction (403 with the
// compat shape) and moves nothing.
func TestRefusedDeviceMovesNoMoney(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{})
	u, s := e.customer(t)
	expect(t, e.move(t, "deposit", s.access, `{"amount": "100"}`, ""), http.StatusCreated, "")
	if _, err := e.svc.DecideDevice(context.Background(), e.admin(t).ID, e.deviceRow(t, u.ID, "phone-1"), false); err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"deposit", "withdraw"} {
		r := e.move(t, what, s.access, `{"amount": "10"}`, "dev-1")
		expect(t, r, http.StatusForbidden, "device_not_approved")
		if r.str("device_status") != "REJECTED" || r.json["approved"] != false {
			t.Fatalf("refused: %s", r.raw)
		}
	}
	// Revoked by its owner (from another, approved device).
	u2, s2 := e.customer(t)
	second := e.approvedLogin(t, u2, "tablet")
	r := e.do(t, req{method: http.MethodDelete, path: fmt.Sprintf("/api/auth/devices/%d/", e.deviceRow(t, u2.ID, "phone-2")), token: second.access})
	expect(t, r, http.StatusNoContent, "")
	r = e.move(t, "deposit", s2.access, `{"amount": "10"}`, "")
	expect(t, r, http.StatusForbidden, "device_not_approved")
	if r.str("device_status") != "REVOKED" {
		t.Fatalf("revoked: %s", r.raw)
	}
	if n := e.count(t, `SELECT count(*) FROM ledger_entries`); n != 1 {
		t.Fatalf("%d entries", n)
	}
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE notif_type IN ('DEPOSIT_CONFIRMED', 'WITHDRAW_ALERT')`); n != 1 {
		t.Fatalf("%d money notifications", n)
	}
	// A key refused with the device is not consumed.
	expect(t, e.move(t, "deposit", second.access, `{"amount": "10"}`, "dev-1"), http.StatusCreated, "")
}

// TestTransactionsPaging checks page-number and keyset paging, filters,
// adjustments shown signed, and that another user's transaction is 404.
func TestTransactionsPaging(t *testing.T) {
	t.Parallel()
	e := newSavingsEnv(t, savingsOptions{})
	u, s := e.customer(t)
	var ids []int64
	var times []string
	for i := range 24 {
		what := "deposit"
		if i%4 == 3 {
			what = "withdraw"
		}
		r := e.move(t, what, s.access, fmt.Sprintf(`{"amount": "%d"}`, 10+i), "")
		expect(t, r, http.StatusCreated, "")
		ids = append(ids, int64(r.json["id"].(float64)))
		times = append(times, r.str("created_at"))
	}
	adj, err := e.ledger.Adjust(context.Background(), ledger.AdjustRequest{
		UserID: u.ID, Amount: mustSigned(t, "-5"), Currency: "RWF", Reason: "bank fee refund reversed", ActorID: e.admin(t).ID,
	})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, adj.Entry.ID)

	type page struct {
		Count      *int             `json:"count"`
		Next       *string          `json:"next"`
		Previous   *string          `json:"previous"`
		NextCursor *string          `json:"next_cursor"`
		Results    []map[string]any `json:"results"`
	}
	get := func(path string) page {
		t.Helper()
		r := e.get(t, path, s.access)
		expect(t, r, http.StatusOK, "")
		var p page
		mustJSON(t, r.raw, &p)
		return p
	}
	p := get("/api/savings/transactions/?page_size=10")
	if *p.Count != 25 || len(p.Results) != 10 || p.Previous != nil || p.Next == nil || p.NextCursor == nil {
		t.Fatalf("page 1: %+v", p)
	}
	if p.Results[0]["tx_type"] != "ADJUSTMENT" || p.Results[0]["amount"] != "-5.00" || p.Results[0]["meta"] == nil {
		t.Fatalf("adjustment %v", p.Results[0])
	}
	next, _ := url.Parse(*p.Next)
	if next.Scheme != "http" || next.Query().Get("page") != "2" || next.Query().Get("page_size") != "10" {
		t.Fatalf("next %s", *p.Next)
	}
	p3 := get("/api/savings/transactions/?page_size=10&page=3")
	if len(p3.Results) != 5 || p3.Next != nil || p3.Previous == nil || !strings.Contains(*p3.Previous, "page=2") {
		t.Fatalf("page 3: %+v", p3)
	}
	expect(t, e.get(t, "/api/savings/transactions/?page=4&page_size=10", s.access), http.StatusNotFound, "invalid_page")
	if p := get("/api/savings/transactions/?page_size=1000"); len(p.Results) != 25 {
		t.Fatalf("clamped: %d", len(p.Results))
	}
	if p := get("/api/savings/transactions/"); len(p.Results) != 10 {
		t.Fatalf("default size: %d", len(p.Results))
	}
	for _, bad := range []string{"page=0", "page=x", "page_size=-1", "type=loan", "from=yesterday", "cursor=Zm9v", "cursor=MS4xLng"} {
		expect(t, e.get(t, "/api/savings/transactions/?"+bad, s.access), http.StatusBadRequest, "invalid")
	}

	// Keyset: walk the whole history by cursor, newest first.
	var walked []int64
	path := "/api/savings/transactions/?page_size=7"
	for {
		p := get(path)
		for _, r := range p.Results {
			walked = append(walked, int64(r["id"].(float64)))
		}
		if p.NextCursor == nil {
			break
		}
		if p.Count != nil && strings.Contains(path, "cursor=") {
			t.Fatal("count in keyset mode")
		}
		path = "/api/savings/transactions/?page_size=7&cursor=" + *p.NextCursor
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(walked, want) {
		t.Fatalf("keyset walk %v, want %v", walked, want)
	}

	// Filters: type, and from/to inclusive at a transaction's own time.
	if p := get("/api/savings/transactions/?type=withdraw&page_size=100"); *p.Count != 6 {
		t.Fatalf("withdrawals: %d", *p.Count)
	}
	if p := get("/api/savings/transactions/?type=adjustment"); *p.Count != 1 {
		t.Fatalf("adjustments: %d", *p.Count)
	}
	q := url.Values{"from": {times[5]}, "to": {times[7]}}
	if p := get("/api/savings/transactions/?" + q.Encode()); *p.Count != 3 || int64(p.Results[0]["id"].(float64)) != ids[7] {
		t.Fatalf("from/to: %+v", p)
	}
	// An unencoded "+" offset arrives as a space and is still understood.
	at, _ := time.Parse(time.RFC3339Nano, times[5])
	kigali := at.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05.999999-07:00")
	if p := get("/api/savings/transactions/?from=" + kigali + "&to=" + url.QueryEscape(times[5])); *p.Count != 1 {
		t.Fatalf("from %s: %d", kigali, *p.Count)
	}
	r := e.get(t, "/api/savings/balance/?as_of="+url.QueryEscape(times[0]), s.access)
	expect(t, r, http.StatusOK, "")
	if r.str("balance") != "10.00" {
		t.Fatalf("balance as of the first deposit: %s", r.raw)
	}

	// Another user sees none of it.
	_, other := e.customer(t)
	expect(t, e.get(t, fmt.Sprintf("/api/savings/transactions/%d/", ids[0]), other.access), http.StatusNotFound, "not_found")
	expect(t, e.get(t, "/api/savings/transactions/999999/", s.access), http.StatusNotFound, "not_found")
	r = e.get(t, "/api/savings/transactions/", other.access)
	expect(t, r, http.StatusOK, "")
	if !strings.Contains(string(r.raw), `"results":[]`) || !strings.Contains(string(r.raw), `"count":0`) {
		t.Fatalf("other's list %s", r.raw)
	}
	// The statement refuses a bad format and a too-long period.
	expect(t, e.get(t, "/api/savings/statement/?format=xml", s.access), http.StatusBadRequest, "invalid")
	expect(t, e.get(t, "/api/savings/statement/?from=2020-01-01&to=2026-01-01", s.access), http.StatusBadRequest, "invalid")
}

func mustSigned(t *testing.T, s string) ledger.SignedAmount {
	t.Helper()
	a, err := ledger.ParseSignedAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

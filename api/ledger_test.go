package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
)

var ledgerRoutes = []string{
	"/api/ledger/accounts/",
	"/api/ledger/entries/",
	"/api/ledger/export/",
	"/api/ledger/export/manifest/",
	"/api/ledger/trial-balance/",
	"/api/ledger/verify/",
}

// deposit posts straight to the ledger (the savings endpoints have their
// own tests).
func (e *authEnv) deposit(t *testing.T, userID int64, amount string) ledger.Posting {
	t.Helper()
	a, err := ledger.ParseAmount(amount)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.ledger.Deposit(context.Background(), ledger.DepositRequest{UserID: userID, Amount: a, Currency: "RWF", Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// raw fetches a path and returns the status and the exact body.
func (e *authEnv) raw(t *testing.T, path, token string) (int, http.Header, []byte) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	r.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

func TestLedgerRoutesAreForAuditorsAndAdmins(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	customer := e.approvedLogin(t, e.createUser(t, "carine", auth.RoleCustomer), "phone-1")
	auditor := e.approvedLogin(t, e.createUser(t, "odile", auth.RoleAuditor), "audit-pc")
	admin := e.adminToken(t)
	for _, path := range ledgerRoutes {
		expect(t, e.get(t, path, ""), http.StatusUnauthorized, "not_authenticated")
		expect(t, e.get(t, path, customer.access), http.StatusForbidden, "permission_denied")
		for who, tok := range map[string]string{"auditor": auditor.access, "admin": admin} {
			if status, _, body := e.raw(t, path, tok); status != http.StatusOK {
				t.Errorf("%s GET %s = %d: %s", who, path, status, body)
			}
		}
	}
	// Auditors read the ledger and nothing of user administration.
	expect(t, e.get(t, "/api/admin/devices/", auditor.access), http.StatusForbidden, "permission_denied")
}

func TestLedgerExportManifestAndReports(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ctx := context.Background()
	auditor := e.approvedLogin(t, e.createUser(t, "odile", auth.RoleAuditor), "audit-pc")
	u1, u2 := e.createUser(t, "ada", auth.RoleCustomer), e.createUser(t, "bea", auth.RoleCustomer)
	e.deposit(t, u1.ID, "1500.00")
	e.deposit(t, u2.ID, "20.50")
	last := e.deposit(t, u1.ID, "0.01")
	if _, err := e.ledger.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	unsealed := e.deposit(t, u2.ID, "3")

	status, hdr, body := e.raw(t, "/api/ledger/export/", auditor.access)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv export: %d %s", status, hdr.Get("Content-Type"))
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recs[0], ",") != strings.Join(exportColumns, ",") {
		t.Fatalf("header %v", recs[0])
	}
	if len(recs) != 1+8 {
		t.Fatalf("%d rows, want 8 lines", len(recs)-1)
	}
	// The first sealed entry links to 64 zeros; the unsealed one has no hashes.
	if recs[1][12] != strings.Repeat("0", 64) || len(recs[1][11]) != 64 {
		t.Fatalf("first row hashes %q %q", recs[1][11], recs[1][12])
	}
	lastRow := recs[len(recs)-1]
	if lastRow[0] != itoa(unsealed.Entry.ID) || lastRow[11] != "" || lastRow[12] != "" {
		t.Fatalf("unsealed row %v", lastRow)
	}
	for _, rec := range recs[1:] {
		if (rec[7] == "0.00") == (rec[8] == "0.00") {
			t.Fatalf("a line must be a debit or a credit: %v", rec)
		}
	}

	status, hdr, jsonl := e.raw(t, "/api/ledger/export/?format=jsonl", auditor.access)
	if status != 200 || hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("jsonl export: %d %s", status, hdr.Get("Content-Type"))
	}
	lines := bytes.SplitAfter(jsonl, []byte("\n"))
	lines = lines[:len(lines)-1] // after the final newline
	var tail struct{ Manifest map[string]any }
	mustJSON(t, lines[len(lines)-1], &tail)
	if tail.Manifest["rows"] != float64(8) || tail.Manifest["total_debit"] != "1523.51" || tail.Manifest["total_credit"] != "1523.51" {
		t.Fatalf("jsonl manifest %v", tail.Manifest)
	}
	var row map[string]any
	mustJSON(t, lines[0], &row)
	if _, ok := row["owner_user_id"]; !ok || row["kind"] != "deposit" {
		t.Fatalf("jsonl row %v", row)
	}

	m := e.get(t, "/api/ledger/export/manifest/", auditor.access)
	expect(t, m, 200, "")
	sumCSV, sumJSONL := sha256.Sum256(body), sha256.Sum256(bytes.Join(lines[:len(lines)-1], nil))
	if m.str("sha256_csv") != hex.EncodeToString(sumCSV[:]) || m.str("sha256_jsonl") != hex.EncodeToString(sumJSONL[:]) {
		t.Fatalf("digests do not describe the bodies: %s", m.raw)
	}
	if m.json["first_entry_id"] != float64(1) && m.json["first_entry_id"] == nil {
		t.Fatalf("first entry %v", m.json["first_entry_id"])
	}
	if m.json["last_entry_id"] != float64(unsealed.Entry.ID) || m.json["rows"] != float64(8) {
		t.Fatalf("manifest %s", m.raw)
	}
	// The chain head is the last sealed entry's hash.
	var head []byte
	if err := e.pool.QueryRow(ctx, `SELECT hash FROM ledger_seals WHERE entry_id = $1`, last.Entry.ID).Scan(&head); err != nil {
		t.Fatal(err)
	}
	if m.str("chain_head") != hex.EncodeToString(head) {
		t.Fatalf("chain head %s, want %x", m.str("chain_head"), head)
	}

	// A time window selects entries by their own time, inclusively.
	at := formatTime(last.Entry.CreatedAt)
	w := e.get(t, "/api/ledger/export/manifest/?from="+at+"&to="+at, auditor.access)
	if w.json["rows"] != float64(2) || w.json["first_entry_id"] != float64(last.Entry.ID) {
		t.Fatalf("windowed manifest %s", w.raw)
	}
	expect(t, e.get(t, "/api/ledger/export/?format=xml", auditor.access), 400, "invalid")
	expect(t, e.get(t, "/api/ledger/export/?from=yesterday", auditor.access), 400, "invalid")

	tb := e.get(t, "/api/ledger/trial-balance/", auditor.access)
	expect(t, tb, 200, "")
	if tb.json["balanced"] != true || tb.str("total_debit") != "1523.51" || tb.str("total_credit") != "1523.51" {
		t.Fatalf("trial balance %s", tb.raw)
	}
	past := e.get(t, "/api/ledger/trial-balance/?as_of="+formatTime(last.Entry.CreatedAt.Add(-time.Microsecond)), auditor.access)
	if past.str("total_debit") != "1520.50" {
		t.Fatalf("trial balance before the last two entries: %s", past.raw)
	}

	v := e.get(t, "/api/ledger/verify/", auditor.access)
	if v.json["ok"] != true || v.json["checked_entries"] != float64(4) {
		t.Fatalf("verify %s", v.raw)
	}

	// Entries: keyset pages in id order, filtered by account code.
	p1 := e.get(t, "/api/ledger/entries/?limit=3", auditor.access)
	results, _ := p1.json["results"].([]any)
	if len(results) != 3 || p1.str("next_cursor") == "" {
		t.Fatalf("page 1 %s", p1.raw)
	}
	p2 := e.get(t, "/api/ledger/entries/?limit=3&cursor="+p1.str("next_cursor"), auditor.access)
	results2, _ := p2.json["results"].([]any)
	if len(results2) != 1 || p2.json["next_cursor"] != nil {
		t.Fatalf("page 2 %s", p2.raw)
	}
	mine := e.get(t, fmt.Sprintf("/api/ledger/entries/?account=wallet:%d:RWF", u2.ID), auditor.access)
	if rs, _ := mine.json["results"].([]any); len(rs) != 2 {
		t.Fatalf("entries of bea's wallet: %s", mine.raw)
	}
	expect(t, e.get(t, "/api/ledger/entries/?account=nope", auditor.access), 400, "invalid")
	expect(t, e.get(t, "/api/ledger/entries/?cursor=bm9wZQ", auditor.access), 400, "invalid")

	accts := e.get(t, "/api/ledger/accounts/", auditor.access)
	rs, _ := accts.json["results"].([]any)
	balances := map[string]string{}
	for _, r := range rs {
		a := r.(map[string]any)
		balances[a["code"].(string)] = a["balance"].(string)
	}
	if balances["cash:RWF"] != "1523.51" || balances[fmt.Sprintf("wallet:%d:RWF", u1.ID)] != "1500.01" {
		t.Fatalf("accounts %s", accts.raw)
	}
}

// TestLedgerExportMemoryIsFlat streams 200,000 lines and checks that the
// process's live heap during the export stays within a fixed margin of
// that of a 2,000-line export: memory does not grow with the export.
func TestLedgerExportMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("bulk export in -short mode")
	}
	e := newAuthEnv(t)
	auditor := e.approvedLogin(t, e.createUser(t, "odile", auth.RoleAuditor), "audit-pc")
	small := measureExport(t, e, auditor.access, 1_000)
	large := measureExport(t, e, auditor.access, 99_000) // 100,000 entries, 200,000 lines in all
	t.Logf("export of %d lines: peak heap %.1f MiB, %.0f lines/s; of %d lines: peak heap %.1f MiB, %.0f lines/s",
		small.rows, mib(small.peak), small.rate, large.rows, mib(large.peak), large.rate)
	if large.rows != 200_000 {
		t.Fatalf("exported %d lines, want 200000", large.rows)
	}
	if large.peak > small.peak+16<<20 {
		t.Fatalf("peak heap grew from %.1f MiB to %.1f MiB with the export's size", mib(small.peak), mib(large.peak))
	}
}

type exportRun struct {
	rows int
	peak uint64
	rate float64
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// measureExport adds n balanced cash/equity entries in bulk (as the
// superuser with triggers off: the point is the export, not posting), then
// exports everything as CSV while sampling the heap.
func measureExport(t *testing.T, e *authEnv, token string, n int) exportRun {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, e.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	cash, _ := e.ledger.CashAccount("RWF")
	equity, _ := e.ledger.AdjustmentsAccount("RWF")
	_, err = admin.Exec(ctx, fmt.Sprintf(`
		SET session_replication_role = replica;
		WITH e AS (
			INSERT INTO ledger_entries (id, kind, effective_at, created_at, description)
			SELECT nextval('ledger_entries_id_seq'), 'adjustment', now(), now(), 'bulk ' || g
			  FROM generate_series(1, %d) g
			RETURNING id, created_at)
		INSERT INTO ledger_lines (entry_id, account_id, amount, currency, posted_at)
		SELECT id, %d, 1.00, 'RWF', created_at FROM e
		UNION ALL
		SELECT id, %d, -1.00, 'RWF', created_at FROM e
		ORDER BY 1, 3 DESC;
		SET session_replication_role = DEFAULT;`, n, cash.ID, equity.ID))
	if err != nil {
		t.Fatal(err)
	}
	// As autovacuum would after such a load: fresh statistics.
	if _, err := admin.Exec(ctx, `ANALYZE ledger_entries, ledger_lines, ledger_seals`); err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	})
	start := time.Now()
	r, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/ledger/export/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	buf := make([]byte, 32<<10)
	for {
		k, err := res.Body.Read(buf)
		rows += bytes.Count(buf[:k], []byte("\n"))
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	res.Body.Close()
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	p := peak.Load()
	if p < base.HeapAlloc {
		p = base.HeapAlloc
	}
	return exportRun{rows: rows - 1, peak: p - base.HeapAlloc, rate: float64(rows-1) / elapsed.Seconds()}
}

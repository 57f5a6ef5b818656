package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/ledger"
)

// adminEnv is the savings server with a logged-in admin.
type adminEnv struct {
	*savingsEnv
	token string
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	e := newSavingsEnv(t, savingsOptions{})
	return &adminEnv{savingsEnv: e, token: e.adminToken(t)}
}

// call sends a request as the admin.
func (e *adminEnv) call(t *testing.T, method, path string, body any) resp {
	t.Helper()
	return e.do(t, req{method: method, path: path, token: e.token, body: body})
}

// users decodes a bare array of users.
func users(t *testing.T, r resp) []adminUserJSON {
	t.Helper()
	expect(t, r, http.StatusOK, "")
	var out []adminUserJSON
	mustJSON(t, r.raw, &out)
	return out
}

// userJSON decodes one user.
func adminUser(t *testing.T, r resp, status int) adminUserJSON {
	t.Helper()
	expect(t, r, status, "")
	var out adminUserJSON
	mustJSON(t, r.raw, &out)
	return out
}

// auditRows are the audit records (action and target user) in id order.
func (e *adminEnv) auditRows(t *testing.T) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT action || ':' || coalesce(target_user_id::text, '-') FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// adjustments are the adjustment and opening entries of a user's wallet:
// "kind amount actor description", oldest first (amount as the wallet saw
// it).
func (e *adminEnv) adjustments(t *testing.T, userID int64) []string {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `
		SELECT e.kind, (-l.amount)::text, coalesce(e.actor_user_id, 0), e.description
		  FROM ledger_entries e JOIN ledger_lines l ON l.entry_id = e.id
		  JOIN ledger_accounts a ON a.id = l.account_id
		 WHERE a.owner_user_id = $1 AND e.kind IN ('adjustment', 'opening') ORDER BY e.id`, userID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var kind, dec, desc string
		var actor int64
		if err := rows.Scan(&kind, &dec, &actor, &desc); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %d %s", kind, dec, actor, desc))
	}
	return out
}

// TestEveryAdminRouteIsForAdminsOnly walks the router: every route under
// /api/admin/ answers 401 to anonymous callers and 403 to customers and
// auditors, before reading any body.
func TestEveryAdminRouteIsForAdminsOnly(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	customer := e.approvedLogin(t, e.createUser(t, "carine", auth.RoleCustomer), "phone-1")
	auditor := e.approvedLogin(t, e.createUser(t, "odile", auth.RoleAuditor), "audit-pc")
	s := newServer(Deps{})
	var routes [][2]string
	_ = s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, _ := route.GetPathTemplate()
		methods, _ := route.GetMethods()
		if !strings.HasPrefix(tpl, "/api/admin/") {
			return nil
		}
		path := muxVarPattern.ReplaceAllString(tpl, "1")
		for _, m := range methods {
			if m != http.MethodHead {
				routes = append(routes, [2]string{m, path})
			}
		}
		return nil
	})
	if len(routes) < 20 {
		t.Fatalf("found only %d admin routes", len(routes))
	}
	for _, rt := range routes {
		var body any
		if rt[0] != http.MethodGet && rt[0] != http.MethodDelete {
			body = map[string]any{}
		}
		expect(t, e.do(t, req{method: rt[0], path: rt[1], body: body}), http.StatusUnauthorized, "not_authenticated")
		expect(t, e.do(t, req{method: rt[0], path: rt[1], body: body, token: customer.access}), http.StatusForbidden, "permission_denied")
		expect(t, e.do(t, req{method: rt[0], path: rt[1], body: body, token: auditor.access}), http.StatusForbidden, "permission_denied")
	}
	// The auditor still reads the ledger.
	if status, _, body := e.raw(t, "/api/ledger/verify/", auditor.access); status != http.StatusOK {
		t.Fatalf("auditor GET /api/ledger/verify/ = %d: %s", status, body)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log`); n != 0 {
		t.Fatalf("%d audit records after refused calls", n)
	}
}

func TestAdminUserListSearchAndOrdering(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ada := e.createUser(t, "ada", auth.RoleCustomer)
	e.clock.Advance(time.Minute)
	bob := e.createUser(t, "Bob", auth.RoleCustomer)
	e.clock.Advance(time.Minute)
	cy := e.createUser(t, "cyrus", auth.RoleAuditor)
	e.deposit(t, ada.ID, "20.00")
	e.deposit(t, bob.ID, "1500.50")
	e.deposit(t, cy.ID, "300")

	names := func(us []adminUserJSON) []string {
		out := make([]string, 0, len(us))
		for _, u := range us {
			out = append(out, u.Username)
		}
		return out
	}
	all := users(t, e.call(t, http.MethodGet, "/api/admin/users/", nil))
	if got := names(all); !slices.Equal(got, []string{"cyrus", "Bob", "ada", "boss"}) {
		t.Fatalf("default order (-date_joined) %v", got)
	}
	for _, u := range all {
		if u.Username == "Bob" && (u.Balance != "1500.50" || u.IsStaff || u.Role != "customer" || !u.IsActive) {
			t.Fatalf("Bob: %+v", u)
		}
		if u.Username == "boss" && (!u.IsStaff || u.Balance != "0.00") {
			t.Fatalf("boss: %+v", u)
		}
	}
	for ordering, want := range map[string][]string{
		"balance":   {"boss", "ada", "cyrus", "Bob"},
		"-balance":  {"Bob", "cyrus", "ada", "boss"},
		"username":  {"ada", "Bob", "boss", "cyrus"},
		"-username": {"cyrus", "boss", "Bob", "ada"},
		"email":     {"ada", "bob", "boss", "cyrus"},
	} {
		got := names(users(t, e.call(t, http.MethodGet, "/api/admin/users/?ordering="+ordering, nil)))
		if ordering == "email" {
			for i := range got {
				got[i] = strings.ToLower(got[i])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("ordering=%s: %v, want %v", ordering, got, want)
		}
	}
	if got := names(users(t, e.call(t, http.MethodGet, "/api/admin/users/?search=BO", nil))); !slices.Equal(got, []string{"Bob", "boss"}) {
		t.Fatalf("search=BO: %v", got)
	}
	if got := names(users(t, e.call(t, http.MethodGet, "/api/admin/users/?search=cyrus%40example", nil))); !slices.Equal(got, []string{"cyrus"}) {
		t.Fatalf("search by email: %v", got)
	}
	if got := names(users(t, e.call(t, http.MethodGet, "/api/admin/users/?search="+itoa(ada.ID), nil))); !slices.Contains(got, "ada") {
		t.Fatalf("search by id: %v", got)
	}
	if got := users(t, e.call(t, http.MethodGet, "/api/admin/users/?search=%25", nil)); len(got) != 0 {
		t.Fatalf("a %% is not a wildcard: %v", names(got))
	}
	expect(t, e.call(t, http.MethodGet, "/api/admin/users/?ordering=password_hash", nil), http.StatusBadRequest, "invalid")

	// Pages: a Link header leads to the next.
	r := e.call(t, http.MethodGet, "/api/admin/users/?ordering=username&limit=3", nil)
	if got := names(users(t, r)); !slices.Equal(got, []string{"ada", "Bob", "boss"}) {
		t.Fatalf("first page %v", got)
	}
	link := r.header.Get("Link")
	u, err := url.Parse(strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`))
	if err != nil || !strings.HasSuffix(link, `rel="next"`) {
		t.Fatalf("Link %q", link)
	}
	r = e.call(t, http.MethodGet, u.RequestURI(), nil)
	if got := names(users(t, r)); !slices.Equal(got, []string{"cyrus"}) || r.header.Get("Link") != "" {
		t.Fatalf("second page %v, Link %q", got, r.header.Get("Link"))
	}

	one := adminUser(t, e.call(t, http.MethodGet, "/api/admin/users/"+itoa(bob.ID)+"/", nil), http.StatusOK)
	if one.Balance != "1500.50" || one.Email != "bob@example.com" {
		t.Fatalf("GET one: %+v", one)
	}
	expect(t, e.call(t, http.MethodGet, "/api/admin/users/999999/", nil), http.StatusNotFound, "not_found")
}

func TestAdminCreateUserWithOpeningBalance(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	admin := e.admin(t)

	// A weak password writes nothing.
	expect(t, e.call(t, http.MethodPost, "/api/admin/users/", map[string]any{
		"username": "weakling", "email": "weak@example.com", "password": "password", "balance": "10",
	}), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodPost, "/api/admin/users/", map[string]any{
		"username": "neg", "email": "neg@example.com", "password": testPassword, "balance": "-10",
	}), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodPost, "/api/admin/users/", map[string]any{
		"username": "boss", "email": "other@example.com", "password": testPassword,
	}), http.StatusBadRequest, "invalid")
	if n := e.count(t, `SELECT count(*) FROM users`); n != 1 {
		t.Fatalf("%d users after refusals", n)
	}

	u := adminUser(t, e.call(t, http.MethodPost, "/api/admin/users/", map[string]any{
		"username": "newbie", "email": "Newbie@Example.com", "password": testPassword, "balance": "1500.50",
		"currency": "RWF", "first_name": "New", "role": "customer",
	}), http.StatusCreated)
	if u.Balance != "1500.50" || u.Email != "newbie@example.com" || u.Role != "customer" || !u.IsActive || u.FirstName != "New" {
		t.Fatalf("created %+v", u)
	}
	if got := e.adjustments(t, u.ID); !slices.Equal(got, []string{fmt.Sprintf("opening 1500.50 %d opening balance", admin.ID)}) {
		t.Fatalf("opening entries %v", got)
	}
	// Zero is a balance too: no entry.
	z := adminUser(t, e.call(t, http.MethodPost, "/api/admin/users/", map[string]any{
		"username": "zero", "email": "zero@example.com", "password": testPassword, "balance": 0, "is_staff": true,
	}), http.StatusCreated)
	if z.Balance != "0.00" || !z.IsStaff || len(e.adjustments(t, z.ID)) != 0 {
		t.Fatalf("zero balance: %+v %v", z, e.adjustments(t, z.ID))
	}
	want := []string{
		"user.create:" + itoa(u.ID), "wallet.adjust:" + itoa(u.ID), "user.create:" + itoa(z.ID),
	}
	if got := e.auditRows(t); !slices.Equal(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
	// The new customer signs in (on a device to approve, as every customer).
	e.approvedLogin(t, auth.User{ID: u.ID, Username: "newbie"}, "newbie-phone")
	e.verifyLedger(t)
}

func TestAdminBalanceEditPostsOneAdjustment(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	admin := e.admin(t)
	u := e.createUser(t, "saver", auth.RoleCustomer)
	e.deposit(t, u.ID, "100.00")
	path := "/api/admin/users/" + itoa(u.ID) + "/"

	got := adminUser(t, e.call(t, http.MethodPatch, path, map[string]any{"balance": "250.00", "reason": "branch deposit by cheque", "first_name": "Sa"}), http.StatusOK)
	if got.Balance != "250.00" || got.FirstName != "Sa" {
		t.Fatalf("after edit %+v", got)
	}
	if adj := e.adjustments(t, u.ID); !slices.Equal(adj, []string{fmt.Sprintf("adjustment 150.00 %d branch deposit by cheque", admin.ID)}) {
		t.Fatalf("adjustments %v", adj)
	}
	// The same balance again: nothing moves, nothing is recorded.
	before := len(e.auditRows(t))
	adminUser(t, e.call(t, http.MethodPatch, path, map[string]any{"balance": 250}), http.StatusOK)
	if len(e.adjustments(t, u.ID)) != 1 || len(e.auditRows(t)) != before {
		t.Fatalf("an unchanged balance wrote something: %v %v", e.adjustments(t, u.ID), e.auditRows(t))
	}
	got = adminUser(t, e.call(t, http.MethodPatch, path, map[string]any{"balance": "40"}), http.StatusOK)
	if got.Balance != "40.00" {
		t.Fatalf("after second edit %+v", got)
	}
	if adj := e.adjustments(t, u.ID); len(adj) != 2 || adj[1] != fmt.Sprintf("adjustment -210.00 %d balance edited by an admin", admin.ID) {
		t.Fatalf("adjustments %v", adj)
	}
	for _, bad := range []any{"-1", "1e3", "12.345", nil, "abc"} {
		expect(t, e.call(t, http.MethodPatch, path, map[string]any{"balance": bad}), http.StatusBadRequest, "invalid")
	}
	expect(t, e.call(t, http.MethodPatch, path, map[string]any{"balance": "41", "reason": "no"}), http.StatusBadRequest, "invalid")
	if n := len(e.adjustments(t, u.ID)); n != 2 {
		t.Fatalf("%d adjustments after refusals", n)
	}
	want := []string{"user.update:" + itoa(u.ID), "wallet.adjust:" + itoa(u.ID), "wallet.adjust:" + itoa(u.ID)}
	if rows := e.auditRows(t); !slices.Equal(rows, want) {
		t.Fatalf("audit %v, want %v", rows, want)
	}
	// The user's transactions show both adjustments, signed.
	r := e.call(t, http.MethodGet, path+"transactions/", nil)
	expect(t, r, http.StatusOK, "")
	var page adminTxPage
	mustJSON(t, r.raw, &page)
	var amounts []string
	for _, tx := range page.Results {
		amounts = append(amounts, tx.TxType+" "+tx.Amount+" "+tx.Username)
	}
	if !slices.Equal(amounts, []string{"ADJUSTMENT -210.00 saver", "ADJUSTMENT 150.00 saver", "DEPOSIT 100.00 saver"}) {
		t.Fatalf("transactions %v", amounts)
	}
	e.verifyLedger(t)
}

func TestAdminAdjustments(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	u := e.createUser(t, "saver", auth.RoleCustomer)
	adjust := func(body map[string]any, key string) resp {
		q := req{method: http.MethodPost, path: "/api/admin/adjustments/", token: e.token, body: body}
		if key != "" {
			q.header = map[string]string{"Idempotency-Key": key}
		}
		return e.do(t, q)
	}
	r := adjust(map[string]any{"user_id": u.ID, "amount": "25.50", "reason": "goodwill credit"}, "")
	expect(t, r, http.StatusCreated, "")
	if r.str("tx_type") != "ADJUSTMENT" || r.str("amount") != "25.50" || r.str("balance_after") != "25.50" ||
		r.str("username") != "saver" || r.str("description") != "goodwill credit" {
		t.Fatalf("credit %s", r.raw)
	}
	r = adjust(map[string]any{"user_id": u.ID, "amount": "-5", "reason": "fee"}, "")
	expect(t, r, http.StatusCreated, "")
	if r.str("amount") != "-5.00" || r.str("balance_after") != "20.50" {
		t.Fatalf("debit %s", r.raw)
	}
	audits := len(e.auditRows(t))
	expect(t, adjust(map[string]any{"user_id": u.ID, "amount": "-20.51", "reason": "too much"}, ""), http.StatusBadRequest, "insufficient_funds")
	for _, body := range []map[string]any{
		{"user_id": u.ID, "amount": "5"},                 // no reason
		{"user_id": u.ID, "amount": "5", "reason": "ab"}, // too short
		{"user_id": u.ID, "amount": "5", "reason": strings.Repeat("x", 501)},
		{"user_id": u.ID, "amount": "+5", "reason": "fee"},
		{"user_id": u.ID, "amount": "1e3", "reason": "fee"},
		{"user_id": u.ID, "amount": "0", "reason": "fee"},
		{"user_id": u.ID, "amount": "--5", "reason": "fee"},
		{"user_id": 999999, "amount": "5", "reason": "fee"},
		{"amount": "5", "reason": "fee"},
		{"user_id": u.ID, "amount": "5", "reason": "fee", "currency": "USD"},
	} {
		r := adjust(body, "")
		if r.status != http.StatusBadRequest {
			t.Errorf("%v: %d %s", body, r.status, r.raw)
		}
	}
	expect(t, adjust(map[string]any{"user_id": e.admin(t).ID, "amount": "5", "reason": "for me"}, ""), http.StatusBadRequest, "cannot_change_self")
	if len(e.auditRows(t)) != audits {
		t.Fatal("a refused adjustment left an audit record")
	}

	// Idempotency: the same request is answered again, another is a conflict.
	first := adjust(map[string]any{"user_id": u.ID, "amount": "1", "reason": "bonus"}, "k-1")
	expect(t, first, http.StatusCreated, "")
	again := adjust(map[string]any{"user_id": u.ID, "amount": 1.00, "reason": "bonus", "extra": true}, "k-1")
	expect(t, again, http.StatusCreated, "")
	if again.header.Get("Idempotency-Replayed") != "true" || again.str("balance_after") != "21.50" || !bytes.Equal(first.raw, again.raw) {
		t.Fatalf("replay %s / %s", first.raw, again.raw)
	}
	expect(t, adjust(map[string]any{"user_id": u.ID, "amount": "2", "reason": "bonus"}, "k-1"), http.StatusConflict, "idempotency_conflict")
	if n := len(e.adjustments(t, u.ID)); n != 3 {
		t.Fatalf("%d adjustments", n)
	}
	if n := e.count(t, `SELECT count(*) FROM audit_log WHERE action = 'wallet.adjust'`); n != 3 {
		t.Fatalf("%d adjustment audit records", n)
	}
	e.verifyLedger(t)
}

func TestAdminSelfProtectionsAndSuperusers(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	me := e.admin(t)
	self := "/api/admin/users/" + itoa(me.ID) + "/"
	expect(t, e.call(t, http.MethodPost, self+"toggle_active/", nil), http.StatusBadRequest, "cannot_change_self")
	expect(t, e.call(t, http.MethodDelete, self, nil), http.StatusBadRequest, "cannot_change_self")
	expect(t, e.call(t, http.MethodPost, self+"set_role/", map[string]any{"is_staff": false}), http.StatusBadRequest, "cannot_change_self")
	expect(t, e.call(t, http.MethodPost, self+"set_role/", map[string]any{"role": "auditor"}), http.StatusBadRequest, "cannot_change_self")
	expect(t, e.call(t, http.MethodPatch, self, map[string]any{"is_active": false}), http.StatusBadRequest, "cannot_change_self")
	expect(t, e.call(t, http.MethodPatch, self, map[string]any{"balance": "100"}), http.StatusBadRequest, "cannot_change_self")
	expect(t, e.call(t, http.MethodPost, self+"set_password/", map[string]any{"password": "Another-Pass-77!"}), http.StatusBadRequest, "cannot_change_self")
	// What is not a self-protection still works on oneself.
	if u := adminUser(t, e.call(t, http.MethodPatch, self, map[string]any{"first_name": "Boss", "is_staff": true}), http.StatusOK); u.FirstName != "Boss" || !u.IsStaff {
		t.Fatalf("own profile %+v", u)
	}

	root, err := e.svc.CreateUser(context.Background(), auth.NewUser{Username: "root", Email: "root@example.com", Password: testPassword, Role: auth.RoleAdmin, Superuser: true})
	if err != nil {
		t.Fatal(err)
	}
	sup := "/api/admin/users/" + itoa(root.ID) + "/"
	expect(t, e.call(t, http.MethodDelete, sup, nil), http.StatusBadRequest, "superuser_protected")
	expect(t, e.call(t, http.MethodPost, sup+"toggle_active/", nil), http.StatusBadRequest, "superuser_protected")
	expect(t, e.call(t, http.MethodPost, sup+"set_role/", map[string]any{"role": "customer"}), http.StatusBadRequest, "superuser_protected")
	expect(t, e.call(t, http.MethodPatch, sup, map[string]any{"email": "mine@example.com"}), http.StatusBadRequest, "superuser_protected")
	expect(t, e.call(t, http.MethodPost, sup+"set_password/", map[string]any{"password": "Another-Pass-77!"}), http.StatusBadRequest, "superuser_protected")

	if got := e.auditRows(t); !slices.Equal(got, []string{"user.update:" + itoa(me.ID)}) {
		t.Fatalf("audit %v", got)
	}
	// Still an admin.
	users(t, e.call(t, http.MethodGet, "/api/admin/users/", nil))
}

func TestAdminDeleteToggleRoleAndPassword(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	u := e.createUser(t, "carine", auth.RoleCustomer)
	e.deposit(t, u.ID, "70")
	s := e.approvedLogin(t, u, "phone-1")
	path := "/api/admin/users/" + itoa(u.ID) + "/"

	// Deactivation ends the sessions and tells the admins; reactivation.
	got := adminUser(t, e.call(t, http.MethodPost, path+"toggle_active/", nil), http.StatusOK)
	if got.IsActive {
		t.Fatalf("after toggle %+v", got)
	}
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s.refresh}), http.StatusUnauthorized, "")
	if n := e.count(t, `SELECT count(*) FROM notifications WHERE notif_type = 'USER_BLOCKED' AND recipient_id = $1`, e.admin(t).ID); n != 1 {
		t.Fatalf("%d USER_BLOCKED notifications", n)
	}
	if got := adminUser(t, e.call(t, http.MethodPost, path+"toggle_active/", nil), http.StatusOK); !got.IsActive {
		t.Fatalf("after second toggle %+v", got)
	}
	s = e.login(t, "carine", "phone-1")

	// Roles: the compat is_staff and role; the sessions end.
	if got := adminUser(t, e.call(t, http.MethodPost, path+"set_role/", map[string]any{"is_staff": true}), http.StatusOK); !got.IsStaff || got.Role != "admin" {
		t.Fatalf("is_staff true %+v", got)
	}
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s.refresh}), http.StatusUnauthorized, "")
	if got := adminUser(t, e.call(t, http.MethodPost, path+"set_role/", map[string]any{"role": "auditor"}), http.StatusOK); got.IsStaff || got.Role != "auditor" {
		t.Fatalf("role auditor %+v", got)
	}
	expect(t, e.call(t, http.MethodPost, path+"set_role/", map[string]any{"role": "root"}), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodPost, path+"set_role/", map[string]any{"role": "customer", "is_staff": true}), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodPost, path+"set_role/", map[string]any{}), http.StatusBadRequest, "invalid")
	adminUser(t, e.call(t, http.MethodPost, path+"set_role/", map[string]any{"role": "customer"}), http.StatusOK)

	// Passwords: the rules apply; the user signs in with the new one.
	expect(t, e.call(t, http.MethodPost, path+"set_password/", map[string]any{"password": "short"}), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodPost, path+"set_password/", map[string]any{"password": "Another-Pass-77!", "confirm_password": "x"}), http.StatusBadRequest, "invalid")
	r := e.call(t, http.MethodPost, path+"set_password/", map[string]any{"new_password": "Another-Pass-77!"})
	expect(t, r, http.StatusOK, "")
	expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": "carine", "password": testPassword, "device_id": "phone-1"}), http.StatusUnauthorized, "invalid_credentials")
	expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": "carine", "password": "Another-Pass-77!", "device_id": "phone-1"}), http.StatusOK, "")
	if len(e.emails(t, "password_changed", "carine@example.com")) != 1 {
		t.Fatal("no password-changed email")
	}

	// Username and email: unique, an email change is unverified.
	expect(t, e.call(t, http.MethodPatch, path, map[string]any{"username": "BOSS"}), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodPatch, path, map[string]any{"email": "boss@example.com"}), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodPatch, path, map[string]any{"email": "not-an-email", "language": "fr"}), http.StatusBadRequest, "invalid")
	if got := adminUser(t, e.call(t, http.MethodPatch, path, map[string]any{"email": "Carine@New.example", "language": "rw"}), http.StatusOK); got.Email != "carine@new.example" || got.EmailVerified || got.Language != "rw" {
		t.Fatalf("email change %+v", got)
	}

	// Soft delete: closed, sessions gone, history kept; again is a no-op.
	r = e.call(t, http.MethodDelete, path, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("delete %d %s", r.status, r.raw)
	}
	got = adminUser(t, e.call(t, http.MethodGet, path, nil), http.StatusOK)
	if got.IsActive || got.DeletedAt == nil || got.Balance != "70.00" {
		t.Fatalf("deleted %+v", got)
	}
	if r := e.call(t, http.MethodDelete, path, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete again %d", r.status)
	}
	expect(t, e.call(t, http.MethodPost, path+"toggle_active/", nil), http.StatusBadRequest, "user_deleted")
	expect(t, e.call(t, http.MethodPatch, path, map[string]any{"first_name": "X"}), http.StatusBadRequest, "user_deleted")
	expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": "carine", "password": "Another-Pass-77!", "device_id": "phone-1"}), http.StatusUnauthorized, "invalid_credentials")
	if n := e.count(t, `SELECT count(*) FROM refresh_families WHERE user_id = $1 AND revoked_at IS NULL`, u.ID); n != 0 {
		t.Fatalf("%d live sessions after delete", n)
	}
	id := itoa(u.ID)
	want := []string{
		"user.set_active:" + id, "user.set_active:" + id, "user.set_role:" + id, "user.set_role:" + id, "user.set_role:" + id,
		"user.set_password:" + id, "user.update:" + id, "user.delete:" + id,
	}
	if rows := e.auditRows(t); !slices.Equal(rows, want) {
		t.Fatalf("audit %v\nwant %v", rows, want)
	}
	e.verifyLedger(t)
}

func TestAdminTransactionsAcrossUsers(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ada, bob := e.createUser(t, "ada", auth.RoleCustomer), e.createUser(t, "bob", auth.RoleCustomer)
	var want []string // newest first
	post := func(u auth.User, amount string) {
		p := e.deposit(t, u.ID, amount)
		want = append([]string{fmt.Sprintf("%d DEPOSIT %s %s", p.Entry.ID, ledger.FormatMoney(p.BalanceAfter.Sub(p.BalanceBefore)), u.Username)}, want...)
	}
	for i := range 4 {
		post(ada, fmt.Sprintf("%d", 10+i))
		post(bob, fmt.Sprintf("%d.50", 20+i))
	}
	r := e.do(t, req{method: http.MethodPost, path: "/api/admin/adjustments/", token: e.token, body: map[string]any{"user_id": bob.ID, "amount": "-1.50", "reason": "fee"}})
	expect(t, r, http.StatusCreated, "")
	want = append([]string{fmt.Sprintf("%d ADJUSTMENT -1.50 bob", int64(r.json["id"].(float64)))}, want...)
	post(ada, "1")
	r = e.do(t, req{method: http.MethodPost, path: "/api/admin/adjustments/", token: e.token, body: map[string]any{"user_id": ada.ID, "amount": "2", "reason": "refund"}})
	expect(t, r, http.StatusCreated, "")
	want = append([]string{fmt.Sprintf("%d ADJUSTMENT 2.00 ada", int64(r.json["id"].(float64)))}, want...)

	walk := func(query string) ([]string, int) {
		var out []string
		pages := 0
		path := "/api/admin/transactions/?" + query
		for {
			r := e.call(t, http.MethodGet, path, nil)
			expect(t, r, http.StatusOK, "")
			var p adminTxPage
			mustJSON(t, r.raw, &p)
			pages++
			for _, tx := range p.Results {
				if tx.Currency != "RWF" || tx.UserID == 0 {
					t.Fatalf("row %+v", tx)
				}
				out = append(out, fmt.Sprintf("%d %s %s %s", tx.ID, tx.TxType, tx.Amount, tx.Username))
			}
			if p.NextCursor == nil {
				if p.Next != nil {
					t.Fatal("next without next_cursor")
				}
				return out, pages
			}
			u, _ := url.Parse(*p.Next)
			path = u.RequestURI()
		}
	}
	all, pages := walk("page_size=3")
	if !slices.Equal(all, want) || pages != 4 {
		t.Fatalf("paged walk (%d pages):\n%v\nwant\n%v", pages, all, want)
	}
	filter := func(keep func(string) bool) []string {
		var out []string
		for _, w := range want {
			if keep(w) {
				out = append(out, w)
			}
		}
		return out
	}
	isBob := func(s string) bool { return strings.HasSuffix(s, " bob") }
	for _, q := range []string{"user=bob", "user=BOB", "user=" + itoa(bob.ID)} {
		if got, _ := walk(q + "&page_size=2"); !slices.Equal(got, filter(isBob)) {
			t.Fatalf("%s: %v", q, got)
		}
	}
	// The rare kinds are read by their own index: paged the same way.
	if got, pages := walk("type=adjustment&page_size=1"); !slices.Equal(got, filter(func(s string) bool { return strings.Contains(s, "ADJUSTMENT") })) || pages != 2 {
		t.Fatalf("type=adjustment: %v (%d pages)", got, pages)
	}
	if got, _ := walk("type=deposit&user=ada"); len(got) != 5 {
		t.Fatalf("ada's deposits: %v", got)
	}
	// from/to are inclusive at a transaction's own created_at.
	r = e.call(t, http.MethodGet, "/api/admin/transactions/?page_size=100", nil)
	var p adminTxPage
	mustJSON(t, r.raw, &p)
	mid := p.Results[4].CreatedAt
	got, _ := walk("from=" + url.QueryEscape(mid))
	if !slices.Equal(got, want[:5]) {
		t.Fatalf("from=%s: %v", mid, got)
	}
	got, _ = walk("to=" + url.QueryEscape(mid))
	if !slices.Equal(got, want[4:]) {
		t.Fatalf("to=%s: %v", mid, got)
	}
	// At an adjustment's own time, through the rare kinds' index.
	adjAt := p.Results[0].CreatedAt
	if got, _ := walk("type=adjustment&from=" + url.QueryEscape(adjAt) + "&to=" + url.QueryEscape(adjAt)); !slices.Equal(got, want[:1]) {
		t.Fatalf("adjustment at %s: %v", adjAt, got)
	}
	expect(t, e.call(t, http.MethodGet, "/api/admin/transactions/?user=nobody", nil), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodGet, "/api/admin/transactions/?type=gift", nil), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodGet, "/api/admin/transactions/?cursor=zzz", nil), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodGet, "/api/admin/users/999999/transactions/", nil), http.StatusNotFound, "not_found")
}

func TestAdminAnalytics(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	u1, s1 := e.customer(t)
	u2, _ := e.customer(t)
	e.deposit(t, u1.ID, "100.00")
	e.deposit(t, u2.ID, "1000.25")
	expect(t, e.move(t, "withdraw", s1.access, map[string]any{"amount": "60"}, ""), http.StatusCreated, "") // 40.00 left: a low-balance alert
	r := e.do(t, req{method: http.MethodPost, path: "/api/admin/adjustments/", token: e.token, body: map[string]any{"user_id": u2.ID, "amount": "-0.25", "reason": "fee"}})
	expect(t, r, http.StatusCreated, "")
	// A device waiting for approval.
	e.post(t, "/api/auth/login/", "", map[string]any{"username": u2.Username, "password": testPassword, "device_id": "new-tablet"})

	// Settled months come from ledger_month_totals, computed once: a row
	// stored there is what the series shows.
	kigali, _ := time.LoadLocation("Africa/Kigali")
	now := time.Now().In(kigali)
	oldest := time.Date(now.Year(), now.Month()-11, 1, 0, 0, 0, 0, kigali)
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO ledger_month_totals (currency, zone, month, deposits, withdrawals)
		VALUES ('RWF', 'Africa/Kigali', $1::date, 7, 3)`, oldest.Format(time.DateOnly)); err != nil {
		t.Fatal(err)
	}

	r = e.call(t, http.MethodGet, "/api/admin/analytics/", nil)
	expect(t, r, http.StatusOK, "")
	var a struct {
		Summary struct {
			Deposits    string `json:"total_deposits_last_30d"`
			Withdrawals string `json:"total_withdraws_last_30d"`
			Count       int64  `json:"tx_count_last_30d"`
			Users       int64  `json:"total_users"`
			Active      int64  `json:"active_devices"`
			Pending     int64  `json:"pending_devices"`
		} `json:"summary"`
		Top []struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
			Balance  string `json:"balance"`
		} `json:"top_users_by_balance"`
		Alerts []struct {
			Username string `json:"user__username"`
			Message  string `json:"message"`
		} `json:"recent_low_balance_alerts"`
		Monthly []struct {
			Month       string `json:"month"`
			Deposits    string `json:"deposits"`
			Withdrawals string `json:"withdrawals"`
		} `json:"monthly"`
	}
	mustJSON(t, r.raw, &a)
	s := a.Summary
	if s.Deposits != "1100.25" || s.Withdrawals != "60.00" || s.Count != 4 || s.Users != 3 || s.Active != 2 || s.Pending != 1 {
		t.Fatalf("summary %+v", s)
	}
	if len(a.Top) != 2 || a.Top[0].ID != u2.ID || a.Top[0].Balance != "1000.00" || a.Top[1].Username != u1.Username || a.Top[1].Balance != "40.00" {
		t.Fatalf("top %+v", a.Top)
	}
	if len(a.Alerts) != 1 || a.Alerts[0].Username != u1.Username || a.Alerts[0].Message == "" {
		t.Fatalf("alerts %+v", a.Alerts)
	}
	last := a.Monthly[len(a.Monthly)-1]
	if len(a.Monthly) != 12 || last.Month != now.Format("2006-01") || last.Deposits != "1100.25" || last.Withdrawals != "60.00" ||
		a.Monthly[0].Month != oldest.Format("2006-01") || a.Monthly[0].Deposits != "7.00" || a.Monthly[0].Withdrawals != "3.00" ||
		a.Monthly[1].Deposits != "0.00" {
		t.Fatalf("monthly %+v", a.Monthly)
	}
	// The other settled months are stored now (the current one never is,
	// nor the previous one during its first day).
	if n := e.count(t, `SELECT count(*) FROM ledger_month_totals`); n < 10 || n > 11 {
		t.Fatalf("%d settled months stored", n)
	}
	if !sort.SliceIsSorted(a.Monthly, func(i, j int) bool { return a.Monthly[i].Month < a.Monthly[j].Month }) {
		t.Fatalf("months not oldest first: %+v", a.Monthly)
	}
}

func TestAdminLoginActivityFilters(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ada := e.createUser(t, "ada", auth.RoleCustomer)
	e.createUser(t, "bob", auth.RoleCustomer)
	attempt := func(username, password, device, ip string) {
		e.do(t, req{method: http.MethodPost, path: "/api/auth/login/", ip: ip,
			body: map[string]any{"username": username, "password": password, "device_id": device}})
		e.clock.Advance(time.Minute)
	}
	start := e.clock.Now()
	attempt("ada", "wrong-Password-1", "ada-phone", "203.0.113.7")
	attempt("ada", testPassword, "ada-phone", "203.0.113.7") // PENDING device
	mid := e.clock.Now()
	attempt("BOB", "wrong-Password-1", "bob-pc", "203.0.113.9")
	attempt("ghost", "whatever-Pass-1", "x", "203.0.113.9")
	e.approve(t, ada.ID, "ada-phone")
	attempt("ada@example.com", testPassword, "ada-phone", "198.51.100.1")

	list := func(query string) ([]loginActivityJSON, http.Header) {
		r := e.call(t, http.MethodGet, "/api/admin/login-activity/?"+query, nil)
		expect(t, r, http.StatusOK, "")
		var out []loginActivityJSON
		mustJSON(t, r.raw, &out)
		return out, r.header
	}
	summary := func(rows []loginActivityJSON) []string {
		var out []string
		for _, a := range rows {
			out = append(out, fmt.Sprintf("%s %t %s", strings.ToLower(a.Username), a.Success, a.Reason))
		}
		return out
	}
	all, _ := list("")
	// The admin's own log-in comes first in time.
	want := []string{"ada true ok", "ghost false unknown_user", "bob false wrong_password", "ada false device_pending", "ada false wrong_password", "boss true ok"}
	if got := summary(all); !slices.Equal(got, want) {
		t.Fatalf("all %v\nwant %v", got, want)
	}
	if all[0].IPAddress == nil || *all[0].IPAddress != "198.51.100.1" || all[0].DeviceID != "ada-phone" || all[0].UserAgent != "authtest/1.0" {
		t.Fatalf("row %+v", all[0])
	}
	for query, want := range map[string][]string{
		"user=ada":             {"ada true ok", "ada false device_pending", "ada false wrong_password"},
		"user=" + itoa(ada.ID): {"ada true ok", "ada false device_pending", "ada false wrong_password"},
		"user=GHOST":           {"ghost false unknown_user"},
		"email=BOB%40":         {"bob false wrong_password"},
		"q=203.0.113.9":        {"ghost false unknown_user", "bob false wrong_password"},
		"q=wrong_password":     {"bob false wrong_password", "ada false wrong_password"},
		"q=ada-phone":          {"ada true ok", "ada false device_pending", "ada false wrong_password"},
		"from=" + url.QueryEscape(formatTime(mid)): {"ada true ok", "ghost false unknown_user", "bob false wrong_password"},
		"to=" + url.QueryEscape(formatTime(mid.Add(-time.Second))) + "&from=" + url.QueryEscape(formatTime(start)): {"ada false device_pending", "ada false wrong_password", "boss true ok"},
		"user=ada&q=pending": {"ada false device_pending"},
	} {
		if got, _ := list(query); !slices.Equal(summary(got), want) {
			t.Errorf("%s: %v, want %v", query, summary(got), want)
		}
	}
	// Keyset pages through X-Next-Cursor and Link.
	var paged []loginActivityJSON
	rows, h := list("limit=4")
	paged = append(paged, rows...)
	if h.Get("X-Next-Cursor") == "" || !strings.Contains(h.Get("Link"), `rel="next"`) {
		t.Fatalf("no next page headers: %v", h)
	}
	rows, h = list("limit=4&cursor=" + h.Get("X-Next-Cursor"))
	paged = append(paged, rows...)
	if h.Get("X-Next-Cursor") != "" || !slices.Equal(summary(paged), summary(all)) {
		t.Fatalf("paged %v", summary(paged))
	}
	expect(t, e.call(t, http.MethodGet, "/api/admin/login-activity/?cursor=nope", nil), http.StatusBadRequest, "invalid")
	expect(t, e.call(t, http.MethodGet, "/api/admin/login-activity/?from=yesterday", nil), http.StatusBadRequest, "invalid")
}

// rawAs sends a request as token without checking the answer against the
// spec (for answers the spec deliberately leaves out, like a 500).
func (e *authEnv) rawAs(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	r, _ := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func TestAuditLogIsAtomicAppendOnlyAndFiltered(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ctx := context.Background()
	u := e.createUser(t, "saver", auth.RoleCustomer)
	e.deposit(t, u.ID, "10")

	// A change whose audit record fails leaves nothing: not the profile
	// change, not the adjustment posted before it in the transaction.
	if _, err := e.pool.Exec(ctx, `
		CREATE FUNCTION test_fail_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.action = 'wallet.adjust' THEN RAISE EXCEPTION 'audit refused by the test'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER test_fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION test_fail_audit();`); err != nil {
		t.Fatal(err)
	}
	status, body := e.rawAs(t, http.MethodPatch, "/api/admin/users/"+itoa(u.ID)+"/", e.token, map[string]any{"first_name": "Changed", "balance": "99"})
	if status != http.StatusInternalServerError {
		t.Fatalf("PATCH with a failing audit = %d %s", status, body)
	}
	got := adminUser(t, e.call(t, http.MethodGet, "/api/admin/users/"+itoa(u.ID)+"/", nil), http.StatusOK)
	if got.FirstName != "" || got.Balance != "10.00" || len(e.adjustments(t, u.ID)) != 0 || len(e.auditRows(t)) != 0 {
		t.Fatalf("a failed change left traces: %+v %v %v", got, e.adjustments(t, u.ID), e.auditRows(t))
	}
	if _, err := e.pool.Exec(ctx, `DROP TRIGGER test_fail_audit ON audit_log`); err != nil {
		t.Fatal(err)
	}

	// Device decisions and announcements are audited too.
	e.post(t, "/api/auth/login/", "", map[string]any{"username": "saver", "password": testPassword, "device_id": "saver-phone"})
	dev := e.deviceRow(t, u.ID, "saver-phone")
	expect(t, e.call(t, http.MethodPost, "/api/admin/devices/"+itoa(dev)+"/approve/", nil), http.StatusOK, "")
	expect(t, e.call(t, http.MethodPatch, "/api/admin/devices/"+itoa(dev)+"/verify/", map[string]any{"status": "REJECTED"}), http.StatusOK, "")
	expect(t, e.call(t, http.MethodPost, "/api/admin/devices/"+itoa(dev)+"/reject/", nil), http.StatusBadRequest, "device_already_rejected")
	expect(t, e.call(t, http.MethodPost, "/api/admin/notifications/", map[string]any{"title": "Hello", "message": "Maintenance tonight", "audience": "all"}), http.StatusAccepted, "")
	adminUser(t, e.call(t, http.MethodPatch, "/api/admin/users/"+itoa(u.ID)+"/", map[string]any{"first_name": "Sam", "balance": "12.5"}), http.StatusOK)

	page := func(query string) (out struct {
		Next       *string          `json:"next"`
		NextCursor *string          `json:"next_cursor"`
		Results    []auditEntryJSON `json:"results"`
	}) {
		r := e.call(t, http.MethodGet, "/api/admin/audit-log/?"+query, nil)
		expect(t, r, http.StatusOK, "")
		mustJSON(t, r.raw, &out)
		return out
	}
	actions := func(es []auditEntryJSON) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Action)
		}
		return out
	}
	all := page("")
	want := []string{"wallet.adjust", "user.update", "announcement.create", "device.reject", "device.approve"}
	if got := actions(all.Results); !slices.Equal(got, want) {
		t.Fatalf("audit log %v, want %v", got, want)
	}
	adj := all.Results[0]
	var after map[string]any
	mustJSON(t, adj.After, &after)
	if adj.ActorUsername != "boss" || adj.ActorID != e.admin(t).ID || adj.TargetType != "ledger_entry" || adj.TargetUserID == nil ||
		*adj.TargetUserID != u.ID || after["amount"] != "2.50" || after["balance"] != "12.50" || adj.IPAddress == nil || adj.RequestID == "" {
		t.Fatalf("adjustment record %+v %s", adj, adj.After)
	}
	var before map[string]any
	mustJSON(t, all.Results[1].Before, &before)
	mustJSON(t, all.Results[1].After, &after)
	if len(before) != 1 || before["first_name"] != "" || after["first_name"] != "Sam" {
		t.Fatalf("user.update before %v after %v", before, after)
	}
	for query, want := range map[string][]string{
		"action=device":                             {"device.reject", "device.approve"},
		"action=user.update":                        {"user.update"},
		"target_type=announcement":                  {"announcement.create"},
		"target_type=device&target_id=" + itoa(dev): {"device.reject", "device.approve"},
		"user=saver":                                {"wallet.adjust", "user.update", "device.reject", "device.approve"},
		"actor=boss&action=wallet":                  {"wallet.adjust"},
		"actor=" + itoa(u.ID):                       nil,
	} {
		if got := actions(page(query).Results); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", query, got, want)
		}
	}
	expect(t, e.call(t, http.MethodGet, "/api/admin/audit-log/?actor=nobody", nil), http.StatusBadRequest, "invalid")
	// Keyset pages.
	p1 := page("limit=3")
	if p1.NextCursor == nil || len(p1.Results) != 3 {
		t.Fatalf("first page %+v", p1)
	}
	p2 := page("limit=3&cursor=" + *p1.NextCursor)
	if got := append(actions(p1.Results), actions(p2.Results)...); !slices.Equal(got, want) || p2.NextCursor != nil {
		t.Fatalf("pages %v", got)
	}

	// Append-only: the database refuses to change or remove a record.
	for _, sql := range []string{`UPDATE audit_log SET action = 'user.create'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`} {
		if _, err := e.pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", sql, err)
		}
	}
	if n := len(e.auditRows(t)); n != 5 {
		t.Fatalf("%d records", n)
	}
	e.verifyLedger(t)
}

// TestBalanceEditUnderConcurrentDeposits: the edit reads the balance and
// posts the difference in one SERIALIZABLE transaction, so whatever
// deposits land around it, the adjustment takes the balance exactly to the
// target, and money is conserved.
func TestBalanceEditUnderConcurrentDeposits(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t)
	ctx := context.Background()
	u := e.createUser(t, "busy", auth.RoleCustomer)
	e.deposit(t, u.ID, "10")
	one, _ := ledger.ParseAmount("1")
	const n = 20
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		go func() {
			<-start
			_, err := e.ledger.Deposit(ctx, ledger.DepositRequest{UserID: u.ID, Amount: one, Currency: "RWF", Description: "drip"})
			errs <- err
		}()
	}
	close(start)
	adminUser(t, e.call(t, http.MethodPatch, "/api/admin/users/"+itoa(u.ID)+"/", map[string]any{"balance": "100.00"}), http.StatusOK)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var after, final string
	if err := e.pool.QueryRow(ctx, `
		SELECT l.balance_after::text FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
		 WHERE e.kind = 'adjustment' AND l.account_seq IS NOT NULL`).Scan(&after); err != nil {
		t.Fatalf("exactly one adjustment: %v", err)
	}
	if after != "100.00" {
		t.Fatalf("the adjustment left the balance at %s", after)
	}
	if err := e.pool.QueryRow(ctx, `
		SELECT (100 + count(*) FILTER (WHERE e.id > (SELECT id FROM ledger_entries WHERE kind = 'adjustment')))::numeric(20,2)::text
		  FROM ledger_entries e WHERE e.kind = 'deposit'`).Scan(&final); err != nil {
		t.Fatal(err)
	}
	if got := e.balance(t, e.approvedLogin(t, u, "busy-phone").access); got != final {
		t.Fatalf("balance %s, want %s (100 plus the deposits after the edit)", got, final)
	}
	e.verifyLedger(t)
}

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// testPassword satisfies the password rules for every test username.
const testPassword = "Plum-Tree-42!"

// fastParams make argon2id cheap in tests that are not about its cost; the
// dummy hash uses the same, as in production.
var fastParams = auth.Params{Memory: 256, Time: 1, Threads: 1}

// testClock is the injected clock: tests move it instead of sleeping.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// authEnv is the real server over a fresh database, with an insert-only
// River client, the real email-job hook and an injected clock.
type authEnv struct {
	pool   *pgxpool.Pool
	svc    *auth.Service
	ledger *ledger.Ledger
	db     *sqltest.DB
	sealer *jobs.Sealer
	clock  *testClock
	srv    *httptest.Server
	jwtKey []byte
	adminU atomic.Pointer[auth.User]
	ipSeq  atomic.Int32
}

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	return newSavingsEnv(t, savingsOptions{}).authEnv
}

// req is one request; body is a JSON-marshalled value or a raw string.
type req struct {
	method, path string
	token        string
	body         any
	ip           string // X-Forwarded-For; "" = a fresh address per call
	header       map[string]string
}

// resp is an answer, with its body decoded when it is a JSON object.
type resp struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func (r resp) str(key string) string {
	s, _ := r.json[key].(string)
	return s
}

func (e *authEnv) do(t *testing.T, q req) resp {
	t.Helper()
	var body io.Reader
	switch b := q.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	r, err := http.NewRequest(q.method, e.srv.URL+q.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.token != "" {
		r.Header.Set("Authorization", "Bearer "+q.token)
	}
	ip := q.ip
	if ip == "" {
		// A fresh address per request keeps the per-IP limits out of tests
		// that are not about them.
		n := e.ipSeq.Add(1)
		ip = fmt.Sprintf("198.51.%d.%d", n/250, n%250+1)
	}
	r.Header.Set("X-Forwarded-For", ip)
	r.Header.Set("User-Agent", "authtest/1.0")
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.json)
	checkAgainstSpec(t, q, out)
	return out
}

// specRouter finds operations of api/openapi.yaml.
var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPISpec)
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

// checkAgainstSpec fails the test when an answer is not what
// api/openapi.yaml says the operation answers: an undocumented status, or a
// body that does not match its schema.
func checkAgainstSpec(t *testing.T, q req, r resp) {
	t.Helper()
	router, err := specRouter()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	path, query, _ := strings.Cut(q.path, "?")
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	hr, err := http.NewRequest(q.method, "http://127.0.0.1:8000"+path+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := router.FindRoute(hr)
	if err != nil {
		t.Fatalf("%s %s: not in openapi.yaml: %v", q.method, q.path, err)
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: hr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: r.status,
		Header: r.header,
		Body:   io.NopCloser(bytes.NewReader(r.raw)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		},
	})
	if err != nil {
		t.Errorf("%s %s answered %d, not as openapi.yaml says: %v\n%s", q.method, q.path, r.status, err, r.raw)
	}
}

// post and get are the common shapes of do.
func (e *authEnv) post(t *testing.T, path, token string, body any) resp {
	t.Helper()
	return e.do(t, req{method: http.MethodPost, path: path, token: token, body: body})
}

func (e *authEnv) get(t *testing.T, path, token string) resp {
	t.Helper()
	return e.do(t, req{method: http.MethodGet, path: path, token: token})
}

// expect fails unless r has the status (and the error code, when given).
func expect(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if code != "" && r.str("code") != code {
		t.Fatalf("code %q, want %q: %s", r.str("code"), code, r.raw)
	}
	if code != "" && r.str("detail") == "" {
		t.Fatalf("error without detail: %s", r.raw)
	}
}

// createUser makes an account directly through the service.
func (e *authEnv) createUser(t *testing.T, username string, role auth.Role) auth.User {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), auth.NewUser{
		Username: username, Email: username + "@example.com", Password: testPassword, Role: role,
	})
	if err != nil {
		t.Fatalf("create %s: %v", username, err)
	}
	return u
}

// admin is the environment's admin, created on first use.
func (e *authEnv) admin(t *testing.T) auth.User {
	t.Helper()
	if u := e.adminU.Load(); u != nil {
		return *u
	}
	u := e.createUser(t, "boss", auth.RoleAdmin)
	e.adminU.Store(&u)
	return u
}

// adminToken logs the admin in (admins need no approved device).
func (e *authEnv) adminToken(t *testing.T) string {
	t.Helper()
	a := e.admin(t)
	r := e.post(t, "/api/auth/login/", "", map[string]any{"username": a.Username, "password": testPassword, "device_id": "admin-laptop"})
	expect(t, r, http.StatusOK, "")
	return r.str("access")
}

// session is a logged-in user's tokens.
type session struct {
	access, refresh string
	user            map[string]any
}

// login logs in and fails the test unless it succeeds.
func (e *authEnv) login(t *testing.T, username, device string) session {
	t.Helper()
	r := e.post(t, "/api/auth/login/", "", map[string]any{"username": username, "password": testPassword, "device_id": device})
	expect(t, r, http.StatusOK, "")
	u, _ := r.json["user"].(map[string]any)
	return session{access: r.str("access"), refresh: r.str("refresh"), user: u}
}

// approvedLogin logs a customer in on device, having an admin approve the
// device first (through the service).
func (e *authEnv) approvedLogin(t *testing.T, u auth.User, device string) session {
	t.Helper()
	r := e.post(t, "/api/auth/login/", "", map[string]any{"username": u.Username, "password": testPassword, "device_id": device})
	if r.status == http.StatusForbidden {
		e.approve(t, u.ID, device)
		return e.login(t, u.Username, device)
	}
	expect(t, r, http.StatusOK, "")
	usr, _ := r.json["user"].(map[string]any)
	return session{access: r.str("access"), refresh: r.str("refresh"), user: usr}
}

// deviceRow is the devices row id of a user's client device id.
func (e *authEnv) deviceRow(t *testing.T, userID int64, device string) int64 {
	t.Helper()
	var id int64
	if err := e.pool.QueryRow(context.Background(), `SELECT id FROM devices WHERE user_id = $1 AND device_id = $2`, userID, device).Scan(&id); err != nil {
		t.Fatalf("device %s of %d: %v", device, userID, err)
	}
	return id
}

func (e *authEnv) approve(t *testing.T, userID int64, device string) {
	t.Helper()
	if _, err := e.svc.DecideDevice(context.Background(), e.admin(t).ID, e.deviceRow(t, userID, device), true); err != nil {
		t.Fatal(err)
	}
}

// emailJob is an email job as River stored it.
type emailJob struct {
	raw  string // river_job.args as stored
	args jobs.EmailArgs
}

// emails lists the email jobs of a template to an address, oldest first.
func (e *authEnv) emails(t *testing.T, template, to string) []emailJob {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `
		SELECT args::text FROM river_job
		WHERE kind = 'email' AND args->>'template' = $1 AND args->>'to' = $2 ORDER BY id`, template, to)
	if err != nil {
		t.Fatal(err)
	}
	raws, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]emailJob, 0, len(raws))
	for _, raw := range raws {
		var a jobs.EmailArgs
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, emailJob{raw: raw, args: a})
	}
	return out
}

// code opens the last email job of a template to an address and returns the
// one-time code sealed in it, checking that it is nowhere in clear in the
// stored job.
func (e *authEnv) code(t *testing.T, template, to string) string {
	t.Helper()
	js := e.emails(t, template, to)
	if len(js) == 0 {
		t.Fatalf("no %s email to %s", template, to)
	}
	j := js[len(js)-1]
	if j.args.Sealed == "" {
		t.Fatalf("%s email carries no sealed data: %s", template, j.raw)
	}
	secret, err := e.sealer.Open(j.args.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := secret["Code"].(string)
	if len(code) != 6 {
		t.Fatalf("sealed code %q", code)
	}
	if strings.Contains(j.raw, code) {
		t.Fatalf("the code %s is in clear in river_job.args: %s", code, j.raw)
	}
	if _, ok := j.args.Data["Code"]; ok {
		t.Fatal("Code in the job's clear data")
	}
	return code
}

// count runs a counting query.
func (e *authEnv) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// newImported is an admin imported from the old system with its hash (an
// admin, so that the test needs no device approval).
func newImported(username, hash string) auth.NewUser {
	return auth.NewUser{Username: username, Email: username + "@example.com", PasswordHash: hash, Role: auth.RoleAdmin}
}

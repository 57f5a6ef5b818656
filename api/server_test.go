package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newTestServer is the real handler without a database: enough for the
// edge's conventions, which never touch one.
func newTestServer(t *testing.T, d Deps) (*server, http.Handler) {
	t.Helper()
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	s := newServer(d)
	return s, s.handler()
}

func TestEdgeConventions(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s, h := newTestServer(t, Deps{
		Registry: reg, Gatherer: reg, MetricsOnMain: true,
		AllowedOrigins: []string{"http://localhost:5173"},
	})
	type body struct {
		Name  string          `json:"name"`
		Count int             `json:"count"`
		Raw   json.RawMessage `json:"raw"`
	}
	s.router.Handle("/api/test/echo/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		var b body
		if err := decodeJSON(w, r, &b); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, b)
		return nil
	})).Methods(http.MethodPost)
	s.router.Handle("/api/test/panic/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		panic("secret internals")
	})).Methods(http.MethodGet)
	s.router.Handle("/api/test/fail/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errors.New("pq: password authentication failed for user \"x\"")
	})).Methods(http.MethodGet)

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		header      map[string]string
		wantStatus  int
		wantCode    string
		wantBody    string
	}{
		{name: "ok with slash", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"name":"a","count":2}`, wantStatus: 200, wantBody: `{"name":"a","count":2,"raw":null}`},
		{name: "ok without slash", method: "POST", path: "/api/test/echo", contentType: "application/json", body: `{"name":"a"}`, wantStatus: 200, wantBody: `{"name":"a","count":0,"raw":null}`},
		{name: "charset ok", method: "POST", path: "/api/test/echo/", contentType: "application/json; charset=utf-8", body: `{}`, wantStatus: 200},
		{name: "unknown fields ignored", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"name":"a","balance":"100","role":"admin"}`, wantStatus: 200, wantBody: `{"name":"a","count":0,"raw":null}`},
		{name: "case differs is unknown", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"NAME":"a"}`, wantStatus: 200, wantBody: `{"name":"","count":0,"raw":null}`},
		{name: "number literal kept", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"raw":250.50}`, wantStatus: 200, wantBody: `{"name":"","count":0,"raw":250.50}`},
		{name: "text/plain", method: "POST", path: "/api/test/echo/", contentType: "text/plain", body: `{}`, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "no content type", method: "POST", path: "/api/test/echo/", body: `{}`, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "latin1 charset", method: "POST", path: "/api/test/echo/", contentType: "application/json; charset=latin1", body: `{}`, wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "too large", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, wantStatus: 413, wantCode: "request_too_large"},
		{name: "malformed", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"name":`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "duplicate key", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"name":"a","name":"b"}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "nested duplicate key", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"raw":{"a":1,"a":2}}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "trailing data", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"name":"a"} {}`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "trailing garbage", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"name":"a"}x`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "bom", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: "\xef\xbb\xbf{}", wantStatus: 400, wantCode: "malformed_json"},
		{name: "invalid utf8", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: "{\"name\":\"\xff\"}", wantStatus: 400, wantCode: "malformed_json"},
		{name: "array", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `[1]`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "null", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `null`, wantStatus: 400, wantCode: "malformed_json"},
		{name: "empty", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: ``, wantStatus: 400, wantCode: "malformed_json"},
		{name: "wrong type", method: "POST", path: "/api/test/echo/", contentType: "application/json", body: `{"count":"two"}`, wantStatus: 400, wantCode: "invalid"},
		{name: "unknown path", method: "GET", path: "/api/nope/", wantStatus: 404, wantCode: "not_found"},
		{name: "wrong method", method: "GET", path: "/api/test/echo/", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "wrong method without slash", method: "DELETE", path: "/api/test/echo", wantStatus: 405, wantCode: "method_not_allowed"},
		{name: "panic is generic 500", method: "GET", path: "/api/test/panic/", wantStatus: 500, wantCode: "internal", wantBody: `{"detail":"Internal server error","code":"internal"}`},
		{name: "unknown error is generic 500", method: "GET", path: "/api/test/fail/", wantStatus: 500, wantBody: `{"detail":"Internal server error","code":"internal"}`},
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200},
		{name: "openapi", method: "GET", path: "/api/openapi.yaml", wantStatus: 200},
		{name: "docs", method: "GET", path: "/api/docs/", wantStatus: 200},
		{name: "docs without slash", method: "GET", path: "/api/docs", wantStatus: 200},
		{name: "docs asset", method: "GET", path: "/api/docs/swagger-ui/swagger-ui.css", wantStatus: 200},
		{name: "no dev emails outside debug", method: "GET", path: "/dev/emails/", wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no security headers")
			}
			if tt.wantCode != "" {
				var e errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
					t.Fatalf("error body not JSON: %s", rec.Body)
				}
				if e.Code != tt.wantCode || e.Detail == "" {
					t.Fatalf("error = %+v, want code %s", e, tt.wantCode)
				}
			}
			if tt.wantBody != "" && strings.TrimSpace(rec.Body.String()) != tt.wantBody {
				t.Fatalf("body = %s, want %s", rec.Body, tt.wantBody)
			}
		})
	}

	// Metrics are labelled by route template, never by raw path.
	got := testutil.ToFloat64(s.metrics.requests.WithLabelValues("/api/test/echo/", "POST", "2xx"))
	if got < 3 {
		t.Errorf("echo 2xx count = %v", got)
	}
	if n := testutil.ToFloat64(s.metrics.requests.WithLabelValues("unmatched", "GET", "4xx")); n < 1 {
		t.Errorf("unmatched 4xx count = %v", n)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `http_requests_total{method="POST",route="/api/test/echo/",status="2xx"}`) {
		t.Fatalf("metrics: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), `route="/api/nope/"`) {
		t.Fatal("raw path leaked into metrics")
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	_, h := newTestServer(t, Deps{})
	cases := map[string]bool{
		"abc-123._X":             true,
		strings.Repeat("a", 128): true,
		strings.Repeat("a", 129): false,
		"has space":              false,
		"ünï":                    false,
		"":                       false,
	}
	for in, keep := range cases {
		req := httptest.NewRequest("GET", "/healthz", nil)
		if in != "" {
			req.Header.Set("X-Request-Id", in)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if keep && got != in {
			t.Errorf("id %q replaced by %q", in, got)
		}
		if !keep && (got == in || !requestIDPattern.MatchString(got)) {
			t.Errorf("id %q kept or bad replacement %q", in, got)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	_, h := newTestServer(t, Deps{AllowedOrigins: []string{"http://localhost:5173", "http://127.0.0.1:5173"}})
	pre := httptest.NewRequest("OPTIONS", "/api/savings/deposit/", nil)
	pre.Header.Set("Origin", "http://127.0.0.1:5173")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, pre)
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "http://127.0.0.1:5173" {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
	allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
	if !strings.Contains(allowed, "authorization") || !strings.Contains(allowed, "content-type") {
		t.Fatalf("allowed headers %q", allowed)
	}

	evil := httptest.NewRequest("OPTIONS", "/api/savings/deposit/", nil)
	evil.Header.Set("Origin", "http://evil.example")
	evil.Header.Set("Access-Control-Request-Method", "POST")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, evil)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("foreign origin allowed")
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	s := &server{trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}}
	cases := []struct{ peer, xff, want string }{
		{"203.0.113.9:1234", "1.2.3.4", "203.0.113.9"},              // untrusted peer: header ignored
		{"127.0.0.1:1234", "1.2.3.4", "1.2.3.4"},                    // trusted peer
		{"127.0.0.1:1234", "6.6.6.6, 1.2.3.4, 10.1.1.1", "1.2.3.4"}, // right-most untrusted
		{"10.0.0.2:1234", "", "10.0.0.2"},                           // no header
		{"127.0.0.1:1234", "garbage", "127.0.0.1"},                  // unparsable: the peer
		{"[::ffff:127.0.0.1]:1234", "198.51.100.7", "198.51.100.7"}, // mapped v4
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := s.clientAddr(r).String(); got != c.want {
			t.Errorf("peer %s xff %q: got %s want %s", c.peer, c.xff, got, c.want)
		}
	}
}

func TestRateLimitAnswers429(t *testing.T) {
	t.Parallel()
	s, h := newTestServer(t, Deps{})
	limited := s.rateLimit(3, time.Minute)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	s.router.Handle("/api/test/limited/", limited).Methods("GET")
	var last *httptest.ResponseRecorder
	for range 4 {
		last = httptest.NewRecorder()
		h.ServeHTTP(last, httptest.NewRequest("GET", "/api/test/limited/", nil))
	}
	if last.Code != 429 || last.Header().Get("Retry-After") == "" {
		t.Fatalf("4th request: %d %v", last.Code, last.Header())
	}
	var e errorBody
	_ = json.NewDecoder(io.NopCloser(bytes.NewReader(last.Body.Bytes()))).Decode(&e)
	if e.Code != "throttled" {
		t.Fatalf("body %s", last.Body)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	fail := true
	_, h := newTestServer(t, Deps{ReadyFunc: func(context.Context) error {
		if fail {
			return errors.New("migrations pending")
		}
		return nil
	}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 {
		t.Fatalf("readyz = %d", rec.Code)
	}
	fail = false
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz/", nil))
	if rec.Code != 200 {
		t.Fatalf("readyz = %d", rec.Code)
	}
}

package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var listenPattern = regexp.MustCompile(`api listening on (http://\S+)`)

// TestRunServeSmoke runs the real program on a free port against a migrated
// database, waits for /readyz, and shuts it down as SIGINT would.
func TestRunServeSmoke(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	env := map[string]string{
		"DATABASE_URL": db.URL,
		"DEBUG":        "true",
		"HTTP_ADDR":    "127.0.0.1:0",
		"DATA_DIR":     t.TempDir(),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"creditjambo", "serve"}, envFunc(env), strings.NewReader(""), &stdout, &stderr)
	}()

	var base string
	deadline := time.Now().Add(20 * time.Second)
	for base == "" {
		if m := listenPattern.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v\nstderr: %s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not start; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200 (last err %v); stderr: %s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, path := range []string{"/healthz", "/metrics", "/api/openapi.yaml", "/api/docs/", "/dev/emails/"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\nstderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no clean stop in log: %s", stderr.String())
	}
}

// TestServeRefusesPendingMigrations checks that serve will not start on a
// schema behind the binary, and says what to do.
func TestServeRefusesPendingMigrations(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	if _, err := db.Pool.Exec(context.Background(), `DROP SCHEMA public CASCADE; CREATE SCHEMA public;`); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": db.URL, "DEBUG": "true", "HTTP_ADDR": "127.0.0.1:0", "DATA_DIR": t.TempDir()}
	var out syncBuffer
	err := run(context.Background(), []string{"creditjambo", "serve"}, envFunc(env), strings.NewReader(""), &out, &out)
	if err == nil || !strings.Contains(err.Error(), "creditjambo migrate") {
		t.Fatalf("serve on an empty schema: %v", err)
	}
	// migrate fixes it, and a second run is a no-op.
	for range 2 {
		if err := run(context.Background(), []string{"creditjambo", "migrate"}, envFunc(env), strings.NewReader(""), &out, &out); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
}

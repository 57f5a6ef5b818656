package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// TestCrashDuringDeposits runs the real binary, kills it with SIGKILL in
// the middle of a stream of deposits, starts it again, and checks that every
// acknowledged deposit exists exactly once, that the unacknowledged ones
// retried with their Idempotency-Key exist exactly once too, and that every
// receipt reaches the SMTP server under exactly one Message-ID (an MTA
// deduplicates repeats by it). Receipts whose worker died with the process
// are rescued by River within about a minute of the restart
// (jobs.RescueStuckJobsAfter), so this test takes that long.
func TestCrashDuringDeposits(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary for about a minute")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "creditjambo")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := sqltest.NewDB(t, sqltest.Options{})
	sink, smtpPort := startSink(t)
	addr := freeAddr(t)
	env := append(os.Environ(),
		"DATABASE_URL="+db.URL,
		"SECRET_KEY="+strings.Repeat("s", 40),
		"HTTP_ADDR="+addr,
		"DEBUG=false",
		"LOG_LEVEL=warn",
		"DATA_DIR="+t.TempDir(),
		"EMAIL_HOST=127.0.0.1",
		fmt.Sprintf("EMAIL_PORT=%d", smtpPort),
		"EMAIL_USE_TLS=false",
		"DEFAULT_FROM_EMAIL=CreditJambo <no-reply@creditjambo.test>",
	)
	base := "http://" + addr
	logs := &syncBuffer{}
	start := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(bin, "serve")
		cmd.Env, cmd.Stdout, cmd.Stderr = env, logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if res, err := http.Get(base + "/readyz"); err == nil {
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					return cmd
				}
			}
			if time.Now().After(deadline) {
				_ = cmd.Process.Kill()
				t.Fatalf("not ready; log:\n%s", logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := start()
	t.Cleanup(func() { _ = first.Process.Kill(); _, _ = first.Process.Wait() })

	// A customer on an approved device (approved in the database: the admin
	// flow is tested elsewhere).
	call := func(method, path, token string, body any, key string) (int, map[string]any, error) {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		var out map[string]any
		b, err := io.ReadAll(res.Body)
		if err != nil {
			return 0, nil, err
		}
		_ = json.Unmarshal(b, &out)
		return res.StatusCode, out, nil
	}
	const password = "Plum-Tree-42!"
	if st, out, err := call("POST", "/api/auth/register/", "", map[string]any{
		"username": "crashy", "email": "crashy@example.com", "password": password, "confirm_password": password, "device_id": "phone",
	}, ""); err != nil || st != http.StatusCreated {
		t.Fatalf("register: %d %v %v", st, out, err)
	}
	if _, err := db.Pool.Exec(context.Background(), `UPDATE devices SET status = 'APPROVED', verified_at = now()`); err != nil {
		t.Fatal(err)
	}
	st, out, err := call("POST", "/api/auth/login/", "", map[string]any{"username": "crashy", "password": password, "device_id": "phone"}, "")
	if err != nil || st != http.StatusOK {
		t.Fatalf("login: %d %v %v", st, out, err)
	}
	token := out["access"].(string)

	// The stream: 4 clients, each deposit with its own key and amount.
	type deposit struct {
		key, amount string
		id          int64 // 0 until acknowledged
	}
	var mu sync.Mutex
	var sent []*deposit
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := &deposit{key: fmt.Sprintf("crash-%d-%d", c, i), amount: fmt.Sprintf("%d.%02d", 1+c, i%100)}
				mu.Lock()
				sent = append(sent, d)
				mu.Unlock()
				st, out, err := call("POST", "/api/savings/deposit/", token, map[string]any{"amount": d.amount}, d.key)
				if err != nil {
					return // the server died under this request: unacknowledged
				}
				if st != http.StatusCreated {
					t.Errorf("deposit: %d %v", st, out)
					return
				}
				mu.Lock()
				d.id = int64(out["id"].(float64))
				mu.Unlock()
			}
		})
	}
	sink.setSlow(true)
	time.Sleep(1500 * time.Millisecond)
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	close(stop)
	wg.Wait()

	sink.setSlow(false)
	second := start()
	restarted := time.Now()
	t.Cleanup(func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_, _ = second.Process.Wait()
	})
	acked, retried := 0, 0
	for _, d := range sent {
		if d.id != 0 {
			acked++
			continue
		}
		// Unacknowledged: it may or may not have committed. Retrying with
		// its key answers either way, and never posts it twice.
		st, out, err := call("POST", "/api/savings/deposit/", token, map[string]any{"amount": d.amount}, d.key)
		if err != nil || st != http.StatusCreated {
			t.Fatalf("retry %s: %d %v %v", d.key, st, out, err)
		}
		d.id = int64(out["id"].(float64))
		retried++
	}
	t.Logf("%d deposits acknowledged before the kill, %d retried after it", acked, retried)
	if acked < 10 {
		t.Fatalf("only %d deposits before the kill", acked)
	}

	// Every deposit exists exactly once, under its key, with its amount.
	refs := map[string]bool{}
	for _, d := range sent {
		var n int
		var amount string
		if err := db.Pool.QueryRow(context.Background(), `
			SELECT count(*), min(l.amount)::text FROM ledger_entries e JOIN ledger_lines l ON l.entry_id = e.id AND l.account_seq IS NOT NULL
			 WHERE e.idem_key = $1 AND e.id = $2`, d.key, d.id).Scan(&n, &amount); err != nil {
			t.Fatal(err)
		}
		if n != 1 || amount != "-"+d.amount {
			t.Fatalf("deposit %s (entry %d): %d entries, amount %s", d.key, d.id, n, amount)
		}
		refs[fmt.Sprintf("TX-%06d", d.id)] = true
	}
	var entries int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM ledger_entries`).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != len(sent) {
		t.Fatalf("%d entries for %d deposits", entries, len(sent))
	}

	// Every receipt arrives, under one Message-ID each.
	deadline := time.Now().Add(100 * time.Second)
	for {
		got := sink.receipts(t)
		missing, doubled := 0, 0
		for ref := range refs {
			switch n := len(got[ref]); {
			case n == 0:
				missing++
			case n > 1:
				doubled++
			}
		}
		if doubled > 0 {
			t.Fatalf("%d receipts arrived under more than one Message-ID", doubled)
		}
		if len(got) > len(refs) {
			t.Fatalf("receipts for %d references, only %d deposits", len(got), len(refs))
		}
		var pending int
		if err := db.Pool.QueryRow(context.Background(), `
			SELECT count(*) FROM river_job WHERE kind = 'email' AND args->>'template' = 'deposit_receipt' AND state <> 'completed'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		// Done when every receipt arrived and every receipt job completed:
		// the jobs that died with the first process run again once rescued.
		if missing == 0 && pending == 0 {
			t.Logf("all %d receipts arrived (%d messages accepted, %d repeats of a Message-ID) %s after the restart",
				len(refs), sink.count(), sink.count()-len(refs)-1, time.Since(restarted).Round(time.Second))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d receipts never arrived; %d receipt jobs not completed", missing, len(refs), pending)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The ledger verifies clean, by the binary's own command.
	verify := exec.Command(bin, "verify-ledger")
	verify.Env = env
	if out, err := verify.CombinedOutput(); err != nil {
		t.Fatalf("verify-ledger: %v\n%s", err, out)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sink is an in-process SMTP server (emersion/go-smtp) keeping what it
// accepts.
type sink struct {
	mu    sync.Mutex
	mails [][]byte
	// slow makes the server keep each accepted message's client waiting
	// for a while before it answers: a crash then falls between the
	// acceptance and the job's completion, and the email is sent again.
	slow bool
}

func startSink(t *testing.T) (*sink, int) {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s, l.Addr().(*net.TCPAddr).Port
}

func (s *sink) setSlow(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow = v
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mails)
}

var receiptRef = regexp.MustCompile(`TX-[0-9]{6,}`)

// receipts maps every transaction reference of the deposit receipts
// accepted so far to the distinct Message-IDs that carried it.
func (s *sink) receipts(t *testing.T) map[string]map[string]bool {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]bool{}
	for _, raw := range s.mails {
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("mail: %v", err)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || !strings.Contains(subject, "Deposit received") {
			continue // the welcome email
		}
		body, _ := io.ReadAll(msg.Body)
		id := msg.Header.Get("Message-Id")
		for _, ref := range receiptRef.FindAllString(strings.ReplaceAll(string(body), "=\r\n", ""), -1) {
			if out[ref] == nil {
				out[ref] = map[string]bool{}
			}
			out[ref][id] = true
		}
	}
	return out
}

type sinkSession struct{ s *sink }

func (x *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (x *sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (x *sinkSession) Reset()                               {}
func (x *sinkSession) Logout() error                        { return nil }
func (x *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	x.s.mails = append(x.s.mails, b)
	slow := x.s.slow
	x.s.mu.Unlock()
	if slow {
		time.Sleep(300 * time.Millisecond)
	}
	return nil
}

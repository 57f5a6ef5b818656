package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/templates"
)

func TestDevEmails(t *testing.T) {
	t.Parallel()
	r, err := templates.New(templates.Options{FrontendURL: "http://localhost:5173"})
	if err != nil {
		t.Fatal(err)
	}
	console := jobs.NewConsoleSender(nil, 5)
	_ = console.Send(t.Context(), jobs.OutgoingEmail{
		MessageID: "email-7.1764784020@creditjambo", To: "aline@example.rw", Subject: "Kept subject",
		HTML: "<p>kept html</p>", Text: "kept text", Date: time.Now(), Template: templates.Announcement, Language: "en",
	})
	srv := httptest.NewServer(devEmailsHandlerWithOutbox(r, console.Recent))
	t.Cleanup(srv.Close)

	get := func(path string) (int, string, string) {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), string(b)
	}

	status, ct, body := get("/dev/emails/")
	if status != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("index: %d %s", status, ct)
	}
	for _, name := range r.Names() {
		for _, lang := range r.Languages() {
			for _, link := range []string{"/dev/emails/" + name + "/" + lang, "/dev/emails/" + name + "/" + lang + ".txt"} {
				if !strings.Contains(body, `href="`+link+`"`) {
					t.Errorf("index lacks a link to %s", link)
				}
			}
		}
	}
	if !strings.Contains(body, "Deposit received: 1,500.00 RWF — CreditJambo") || !strings.Contains(body, "Kept subject") {
		t.Error("index lacks a subject or the outbox")
	}

	status, ct, body = get("/dev/emails/deposit_receipt/rw")
	if status != http.StatusOK || !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "Amafaranga wabikije") {
		t.Errorf("html preview: %d %s", status, ct)
	}
	status, ct, body = get("/dev/emails/deposit_receipt/en.txt")
	if status != http.StatusOK || !strings.HasPrefix(ct, "text/plain") ||
		!strings.HasPrefix(body, "Subject: Deposit received: 1,500.00 RWF — CreditJambo\n") || strings.Contains(body, "<p") {
		t.Errorf("text preview: %d %s %q", status, ct, body)
	}
	status, _, body = get("/dev/emails/outbox/email-7.1764784020@creditjambo.txt")
	if status != http.StatusOK || !strings.Contains(body, "kept text") {
		t.Errorf("outbox text: %d %q", status, body)
	}

	for _, path := range []string{"/dev/emails/nope/en", "/dev/emails/welcome_verify/fr", "/dev/emails/welcome_verify", "/dev/emails/a/b/c", "/dev/emails/outbox/gone"} {
		if status, ct, _ := get(path); status != http.StatusNotFound || ct != "application/json" {
			t.Errorf("%s: %d %s, want a JSON 404", path, status, ct)
		}
	}
	res, err := srv.Client().Post(srv.URL+"/dev/emails/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", res.StatusCode)
	}

	// Mounted with the prefix stripped, it serves the same pages.
	stripped := httptest.NewServer(http.StripPrefix("/dev/emails", devEmailsHandler(r)))
	t.Cleanup(stripped.Close)
	res, err = stripped.Client().Get(stripped.URL + "/dev/emails/welcome_verify/en")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("stripped prefix: %d", res.StatusCode)
	}
}

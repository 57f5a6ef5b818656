package templates

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func newRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := New(Options{
		FrontendURL: "https://app.creditjambo.example/",
		Now:         func() time.Time { return time.Date(2026, time.December, 3, 18, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

var htmlTag = regexp.MustCompile(`<\s*/?\s*[a-zA-Z][a-zA-Z0-9]*[^>]*>`)

func TestRenderEverySample(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	samples := Samples()
	if got, want := r.Names(), slices.Sorted(func(yield func(string) bool) {
		for k := range samples {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, samples for %v", got, want)
	}
	if len(r.Names()) != 10 {
		t.Errorf("Names() has %d emails, want 10", len(r.Names()))
	}
	for _, name := range r.Names() {
		for _, lang := range r.Languages() {
			t.Run(name+"/"+lang, func(t *testing.T) {
				t.Parallel()
				m, err := r.Render(name, lang, samples[name])
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if m.Subject == "" || strings.ContainsAny(m.Subject, "\r\n") || strings.TrimSpace(m.Subject) != m.Subject {
					t.Errorf("subject %q is not one trimmed line", m.Subject)
				}
				for part, body := range map[string]string{"html": m.HTML, "text": m.Text} {
					for _, bad := range []string{"<no value>", "%!", "ZgotmplZ", "{{", "}}"} {
						if strings.Contains(body, bad) {
							t.Errorf("%s part contains %q", part, bad)
						}
					}
					if !strings.Contains(body, "CreditJambo") || !strings.Contains(body, "2026") {
						t.Errorf("%s part lacks the brand or the year", part)
					}
					if !strings.Contains(body, "Aline") {
						t.Errorf("%s part does not greet the recipient", part)
					}
				}
				if tag := htmlTag.FindString(m.Text); tag != "" {
					t.Errorf("text part contains HTML %q", tag)
				}
				if !strings.HasPrefix(m.HTML, "<!DOCTYPE html>") || !strings.Contains(m.HTML, `lang="`+lang+`"`) {
					t.Errorf("HTML is not a complete document in %s", lang)
				}
				if !strings.Contains(m.HTML, "max-width:600px") || !strings.Contains(m.HTML, "#0B6E4F") {
					t.Error("HTML lacks the 600px card or the brand colour")
				}
				if !strings.Contains(m.HTML, "https://app.creditjambo.example") {
					t.Error("HTML lacks the frontend link")
				}
				if code, ok := samples[name]["Code"].(string); ok {
					if !strings.Contains(m.HTML, code) || !strings.Contains(m.Text, code) {
						t.Error("the code is missing from a part")
					}
				}
			})
		}
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	s := Samples()
	tests := []struct {
		name, lang, want string
	}{
		{WelcomeVerify, "en", "Welcome to CreditJambo — verify your email"},
		{PasswordResetCode, "en", "Your CreditJambo verification code"},
		{NewDevice, "en", "New device sign-in attempt — CreditJambo"},
		{DeviceApproved, "en", "Your device was approved — CreditJambo"},
		{DeviceRejected, "en", "Your device was not approved — CreditJambo"},
		{PasswordChanged, "en", "Your CreditJambo password was changed"},
		{DepositReceipt, "en", "Deposit received: 1,500.00 RWF — CreditJambo"},
		{WithdrawalNotice, "en", "Withdrawal processed: 250.50 RWF — CreditJambo"},
		{LowBalance, "en", "Low balance alert — CreditJambo"},
		{Announcement, "en", "Scheduled maintenance on Sunday 6 December"},
		{Announcement, "rw", "Scheduled maintenance on Sunday 6 December"},
		{DepositReceipt, "rw", "Amafaranga wabikije yakiriwe: 1,500.00 RWF — CreditJambo"},
		{WithdrawalNotice, "rw", "Amafaranga wabikuje yatanzwe: 250.50 RWF — CreditJambo"},
		{WelcomeVerify, "rw", "Murakaza neza kuri CreditJambo — emeza imeyili yawe"},
	}
	for _, tt := range tests {
		m, err := r.Render(tt.name, tt.lang, s[tt.name])
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.lang, tt.name, err)
		}
		if m.Subject != tt.want {
			t.Errorf("%s/%s subject = %q, want %q", tt.lang, tt.name, m.Subject, tt.want)
		}
	}
}

func TestRenderDetails(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	s := Samples()

	m, err := r.Render(DepositReceipt, "en", s[DepositReceipt])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1,500.00 RWF", "26,750.50 RWF", "3 Dec 2026, 19:47 CAT", "TX-000184"} {
		if !strings.Contains(m.HTML, want) || !strings.Contains(m.Text, want) {
			t.Errorf("deposit receipt lacks %q in a part", want)
		}
	}

	m, err = r.Render(DepositReceipt, "rw", s[DepositReceipt])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "3 Ukuboza 2026, 19:47 CAT") {
		t.Errorf("Kinyarwanda receipt lacks the Kinyarwanda date:\n%s", m.Text)
	}

	// What a job hands over after a JSON round trip: strings and json.Number.
	var d map[string]any
	raw, _ := json.Marshal(s[LowBalance])
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		t.Fatal(err)
	}
	d["Balance"] = json.Number("42")
	m, err = r.Render(LowBalance, "en", d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "42.00 RWF") || !strings.Contains(m.Text, "3 Dec 2026, 19:47 CAT") {
		t.Errorf("low balance after a JSON round trip:\n%s", m.Text)
	}

	// Announcements escape the admin's text and keep its paragraphs.
	m, err = r.Render(Announcement, "en", map[string]any{
		"Title": "Fees <b>change</b>\nsoon", "Message": "Line <script>1</script>\nline 2\n\nSecond paragraph",
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Fees <b>change</b> soon" {
		t.Errorf("subject = %q", m.Subject)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>change") {
		t.Error("announcement HTML is not escaped")
	}
	if !strings.Contains(m.HTML, "line 2</p>") || !strings.Contains(m.HTML, "&lt;/script&gt;<br>line 2") {
		t.Error("announcement paragraphs are not kept")
	}

	// Without a name the greeting is a plain hello, and optional rows vanish.
	m, err = r.Render(PasswordChanged, "en", map[string]any{"Time": "2026-12-03T17:47:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, "Hello,") || strings.Contains(m.Text, "IP address") {
		t.Errorf("password changed without name and IP:\n%s", m.Text)
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	s := Samples()
	if _, err := r.Render("nope", "en", nil); !errors.Is(err, ErrUnknownTemplate) {
		t.Errorf("unknown template: %v", err)
	}
	if _, err := r.Render(WelcomeVerify, "fr", s[WelcomeVerify]); !errors.Is(err, ErrUnknownLanguage) {
		t.Errorf("unknown language: %v", err)
	}
	if _, err := r.Render(WelcomeVerify, "", s[WelcomeVerify]); !errors.Is(err, ErrUnknownLanguage) {
		t.Errorf("empty language: %v", err)
	}
	if _, err := r.Render(WelcomeVerify, "en", map[string]any{"Name": "A"}); err == nil || !strings.Contains(err.Error(), "Code") {
		t.Errorf("missing Code: %v", err)
	}
	bad := Samples()[DepositReceipt]
	bad["Amount"] = 1500.0
	if _, err := r.Render(DepositReceipt, "en", bad); !errors.Is(err, ErrBadValue) {
		t.Errorf("float amount: %v", err)
	}
	bad["Amount"] = "1500.00"
	bad["Time"] = "yesterday"
	if _, err := r.Render(DepositReceipt, "en", bad); !errors.Is(err, ErrBadValue) {
		t.Errorf("bad time: %v", err)
	}
}

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		cur  string
		want string
	}{
		{"0.01", "RWF", "0.01 RWF"},
		{"0", "RWF", "0.00 RWF"},
		{"1500", "RWF", "1,500.00 RWF"},
		{"1500.00", "RWF", "1,500.00 RWF"},
		{"999.99", "RWF", "999.99 RWF"},
		{"1000", "", "1,000.00"},
		{"100000", "RWF", "100,000.00 RWF"},
		{"1234567.5", "RWF", "1,234,567.50 RWF"},
		{"999999999999.99", "RWF", "999,999,999,999.99 RWF"},
		{"-5.00", "RWF", "-5.00 RWF"},
		{"-1234.5", "RWF", "-1,234.50 RWF"},
		{"-0.5", "RWF", "-0.50 RWF"},
		{decimal.RequireFromString("749.5"), "RWF", "749.50 RWF"},
		{json.Number("250.5"), "RWF", "250.50 RWF"},
		{int64(42), "USD", "42.00 USD"},
		{1500, "RWF", "1,500.00 RWF"},
	}
	for _, tt := range tests {
		got, err := FormatMoney(tt.in, tt.cur)
		if err != nil || got != tt.want {
			t.Errorf("FormatMoney(%#v, %q) = %q, %v; want %q", tt.in, tt.cur, got, err, tt.want)
		}
	}
	for _, bad := range []any{1500.0, float32(1), "abc", "", nil, true} {
		if got, err := FormatMoney(bad, "RWF"); !errors.Is(err, ErrBadValue) {
			t.Errorf("FormatMoney(%#v) = %q, %v; want ErrBadValue", bad, got, err)
		}
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	r := newRenderer(t)
	at := time.Date(2026, time.December, 3, 17, 47, 0, 0, time.UTC)
	if got := r.FormatTime(at, "en"); got != "3 Dec 2026, 19:47 CAT" {
		t.Errorf("en: %q", got)
	}
	if got := r.FormatTime(at, "rw"); got != "3 Ukuboza 2026, 19:47 CAT" {
		t.Errorf("rw: %q", got)
	}
	if got := r.FormatTime(time.Date(2027, time.January, 31, 23, 30, 0, 0, time.UTC), "rw"); got != "1 Gashyantare 2027, 01:30 CAT" {
		t.Errorf("rw across midnight: %q", got)
	}
}

func TestTidyText(t *testing.T) {
	t.Parallel()
	got := tidyText("\n\nA  \n\n\n\nB\t\n\n")
	if got != "A\n\nB\n" {
		t.Errorf("tidyText = %q", got)
	}
}

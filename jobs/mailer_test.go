package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"strings"
	"testing"
	"time"
)

func testEmail(id string) OutgoingEmail {
	return OutgoingEmail{
		MessageID: id,
		To:        "aline@example.rw",
		ToName:    "Aline Uwase",
		Subject:   "Deposit received: 1,500.00 RWF — CreditJambo",
		HTML:      "<!DOCTYPE html><html><body><p>Hi Aline, 1,500.00 RWF</p></body></html>",
		Text:      "Hi Aline,\n\n1,500.00 RWF\n",
		Date:      time.Date(2026, time.December, 3, 17, 47, 0, 0, time.UTC),
		Template:  "deposit_receipt",
		Language:  "en",
	}
}

// parsedMail is a received message, decoded.
type parsedMail struct {
	Header netmail.Header
	From   string
	To     string
	Subj   string
	Text   string
	HTML   string
}

// parseMail decodes raw as multipart/alternative with a text and an HTML part.
func parseMail(t testing.TB, raw []byte) parsedMail {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	var dec mime.WordDecoder
	subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	p := parsedMail{Header: m.Header, From: m.Header.Get("From"), To: m.Header.Get("To"), Subj: subj}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var order []string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		b, err := io.ReadAll(part) // NextPart decodes quoted-printable
		if err != nil {
			t.Fatalf("part body: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		order = append(order, ct)
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		}
	}
	if strings.Join(order, ",") != "text/plain,text/html" {
		t.Fatalf("parts %v, want text/plain then text/html", order)
	}
	return p
}

func TestSMTPSenderDelivers(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{})
	s, err := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, From: "CreditJambo <no-reply@creditjambo.test>"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), testEmail("email-1.2@creditjambo.test")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("server got %d mails", len(mails))
	}
	if mails[0].From != "no-reply@creditjambo.test" || strings.Join(mails[0].To, ",") != "aline@example.rw" {
		t.Errorf("envelope %q → %v", mails[0].From, mails[0].To)
	}
	p := parseMail(t, mails[0].Data)
	if p.Subj != "Deposit received: 1,500.00 RWF — CreditJambo" {
		t.Errorf("Subject = %q", p.Subj)
	}
	if got := p.Header.Get("Message-ID"); got != "<email-1.2@creditjambo.test>" {
		t.Errorf("Message-ID = %q", got)
	}
	if !strings.Contains(p.From, "no-reply@creditjambo.test") || !strings.Contains(p.To, "aline@example.rw") || !strings.Contains(p.To, "Aline Uwase") {
		t.Errorf("From %q, To %q", p.From, p.To)
	}
	if p.Header.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", p.Header.Get("Auto-Submitted"))
	}
	if !strings.Contains(p.Text, "1,500.00 RWF") || !strings.Contains(p.HTML, "<p>Hi Aline") {
		t.Errorf("parts: text %q html %q", p.Text, p.HTML)
	}
}

func TestSMTPSenderClassifiesReplies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code      int
		permanent bool
	}{
		{421, false}, {450, false}, {451, false}, {452, false},
		{550, true}, {551, true}, {553, true}, {554, true},
	} {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, smtpOptions{always: tt.code})
			s, err := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, From: "no-reply@creditjambo.test"})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(t.Context(), testEmail("x@y"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, !tt.permanent, tt.permanent)
			}
			var p *PermanentError
			if tt.permanent && (!errors.As(err, &p) || p.Code != tt.code) {
				t.Errorf("PermanentError code: %+v", p)
			}
			if len(srv.Mails()) != 0 {
				t.Error("the server accepted a mail")
			}
		})
	}
}

func TestSMTPSenderSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := testTLS(t)
	srv := startSMTP(t, smtpOptions{tls: serverTLS, user: "mailer", pass: "s3cret"})
	cfg := SMTPConfig{
		Host: srv.Host, Port: srv.Port, From: "no-reply@creditjambo.test",
		UseTLS: true, TLSConfig: clientTLS, Username: "mailer", Password: "s3cret",
	}
	s, err := NewSMTPSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), testEmail("a@b")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if m := srv.Mails(); len(m) != 1 || m[0].User != "mailer" {
		t.Fatalf("mails %+v", m)
	}

	// Bad credentials are a set-up failure: retried, never permanent.
	cfg.Password = "wrong"
	s, _ = NewSMTPSender(cfg)
	err = s.Send(t.Context(), testEmail("a@b"))
	if err == nil || IsPermanent(err) {
		t.Errorf("bad password: %v (permanent %v)", err, IsPermanent(err))
	}
}

func TestSMTPSenderRequiresSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, smtpOptions{}) // no STARTTLS on offer
	s, err := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, From: "no-reply@creditjambo.test", UseTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(t.Context(), testEmail("a@b"))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send without STARTTLS: %v (permanent %v)", err, IsPermanent(err))
	}
	if srv.Rcpts() != 0 || len(srv.Mails()) != 0 {
		t.Error("the message went out in clear text")
	}
}

func TestSMTPSenderTimesOut(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never says a word.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	s, err := NewSMTPSender(SMTPConfig{
		Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, From: "no-reply@creditjambo.test",
		DialTimeout: 5 * time.Second, SendTimeout: 300 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.Send(t.Context(), testEmail("a@b"))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send to a silent server: %v (permanent %v)", err, IsPermanent(err))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not say the deadline passed", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Send took %v, past its 300ms bound", d)
	}
}

func TestSMTPSenderRefusesBadConfigAndAddresses(t *testing.T) {
	t.Parallel()
	for _, cfg := range []SMTPConfig{
		{Host: "", From: "a@b.c"},
		{Host: "smtp.example", From: "not an address"},
		{Host: "smtp.example", From: "a@b.c", Port: 70000},
	} {
		if _, err := NewSMTPSender(cfg); err == nil {
			t.Errorf("NewSMTPSender(%+v) succeeded", cfg)
		}
	}
	srv := startSMTP(t, smtpOptions{})
	s, _ := NewSMTPSender(SMTPConfig{Host: srv.Host, Port: srv.Port, From: "a@b.c"})
	m := testEmail("a@b")
	m.To = "not an address"
	if err := s.Send(t.Context(), m); !IsPermanent(err) {
		t.Errorf("bad recipient: %v", err)
	}
}

func TestConsoleSenderKeepsTheLatest(t *testing.T) {
	t.Parallel()
	c := NewConsoleSender(nil, 3)
	if got := c.Recent(); len(got) != 0 {
		t.Fatalf("Recent on empty = %v", got)
	}
	for i := 1; i <= 5; i++ {
		if err := c.Send(t.Context(), testEmail(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if got := ids(c.Recent()); got != "2,1" {
				t.Errorf("after 2: %s", got)
			}
		}
	}
	if got := ids(c.Recent()); got != "5,4,3" {
		t.Errorf("after 5: %s, want 5,4,3", got)
	}
	if !c.LogsOnly() {
		t.Error("LogsOnly is false")
	}
}

func ids(ms []OutgoingEmail) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.MessageID)
	}
	return strings.Join(s, ",")
}

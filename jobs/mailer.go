package jobs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"sync"
	"time"

	"github.com/wneessen/go-mail"
)

// The SMTP time bounds. Together with the email job's timeout they decide
// how soon River may treat a running email job as stuck (see
// RescueStuckJobsAfter).
const (
	// SMTPDialTimeout bounds connecting, and each SMTP command after it.
	SMTPDialTimeout = 10 * time.Second
	// SMTPSendTimeout bounds a whole delivery, from dial to QUIT: when it
	// passes, the connection is closed under the client.
	SMTPSendTimeout = 15 * time.Second
)

// OutgoingEmail is one rendered email, ready to send.
type OutgoingEmail struct {
	// MessageID is the Message-ID without angle brackets, e.g.
	// "email-42.1764784020@creditjambo.com": fixed per job, so that a repeat
	// after a crash carries the same one.
	MessageID string
	To        string // the address
	ToName    string // optional display name
	Subject   string
	HTML      string
	Text      string
	Date      time.Time
	// Template and Language say what was rendered, for logs and previews.
	Template, Language string
}

// Sender delivers an email. An error that retrying cannot fix (the SMTP
// server answered 5xx to the message) satisfies IsPermanent; any other error
// is worth retrying.
type Sender interface {
	Send(ctx context.Context, m OutgoingEmail) error
}

// PermanentError is a delivery failure that retrying will not fix: the SMTP
// server refused the message or its recipient with a 5xx reply, or the
// message itself is malformed (an invalid address).
type PermanentError struct {
	Code int // the SMTP reply code, or 0 when the message was malformed
	Err  error
}

func (e *PermanentError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("permanent SMTP failure (%d): %v", e.Code, e.Err)
	}
	return fmt.Sprintf("permanent failure: %v", e.Err)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err (or an error it wraps) is a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	Host string
	Port int // 0 means 587
	// Username and Password authenticate (the strongest mechanism the server
	// offers; PLAIN and LOGIN only over TLS) when Username is not empty.
	Username, Password string
	// UseTLS requires STARTTLS: a server that does not offer it, or whose
	// certificate does not verify, gets nothing. When false the connection
	// stays in clear text (no opportunistic TLS): meant only for a server on
	// loopback.
	UseTLS bool
	// From is the sender, as "Name <address>" or a bare address.
	From string
	// TLSConfig overrides the TLS settings (a private CA, tests); nil
	// verifies the server's certificate against the system roots for Host.
	TLSConfig *tls.Config
	// DialTimeout and SendTimeout override SMTPDialTimeout and
	// SMTPSendTimeout when positive (tests). Raising them past the email
	// job's timeout breaks the bound RescueStuckJobsAfter relies on.
	DialTimeout, SendTimeout time.Duration
}

// SMTPSender sends through an SMTP server with go-mail, one connection per
// email, each within SMTPSendTimeout. It is safe for concurrent use.
type SMTPSender struct {
	cfg  SMTPConfig
	from *netmail.Address
}

// NewSMTPSender checks cfg and returns a sender. It does not connect.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	if cfg.Host == "" {
		return nil, errors.New("jobs: SMTP host is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = mail.DefaultPortTLS
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("jobs: SMTP port %d is out of range", cfg.Port)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("jobs: from address %q: %w", cfg.From, err)
	}
	if cfg.TLSConfig == nil {
		cfg.TLSConfig = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = SMTPDialTimeout
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = SMTPSendTimeout
	}
	return &SMTPSender{cfg: cfg, from: from}, nil
}

// Send delivers m as multipart/alternative (text, then HTML). A 5xx reply to
// the message (MAIL, RCPT, DATA) is a PermanentError; a 4xx reply, a network
// failure, a timeout, or a 5xx during the connection set-up (EHLO, STARTTLS,
// AUTH: a server or configuration problem, not this message's) is returned
// as is, to be retried. Replies are judged by their codes, never their text.
func (s *SMTPSender) Send(ctx context.Context, m OutgoingEmail) error {
	msg, err := s.message(m)
	if err != nil {
		return &PermanentError{Err: err}
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	defer cancel()
	tlsPolicy := mail.NoTLS
	if s.cfg.UseTLS {
		tlsPolicy = mail.TLSMandatory
	}
	opts := []mail.Option{
		mail.WithPort(s.cfg.Port),
		mail.WithTimeout(s.cfg.DialTimeout),
		mail.WithTLSPolicy(tlsPolicy), // not WithTLSPortPolicy: it would move port 25 to 587
		mail.WithTLSConfig(s.cfg.TLSConfig),
		// go-mail bounds each command; this bounds the whole exchange by
		// closing the connection when ctx ends.
		mail.WithDialContextFunc(func(dctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(dctx, network, addr)
			if err != nil {
				return nil, err
			}
			context.AfterFunc(ctx, func() { conn.Close() })
			return conn, nil
		}),
	}
	if s.cfg.Username != "" {
		opts = append(opts,
			mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(s.cfg.Username),
			mail.WithPassword(s.cfg.Password))
	}
	client, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		// A configuration problem, not this message's: retried, like a
		// refusal during the connection set-up.
		return fmt.Errorf("smtp client: %w", err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err != nil && msg.IsDelivered() {
		// The server accepted the message; only RSET or QUIT failed after.
		return nil
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	return classifySMTP(err)
}

// message builds the go-mail message for m.
func (s *SMTPSender) message(m OutgoingEmail) (*mail.Msg, error) {
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	var err error
	if m.ToName != "" {
		err = msg.AddToFormat(m.ToName, m.To)
	} else {
		err = msg.To(m.To)
	}
	if err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	// RFC 3834: automatic replies (out of office) should not answer.
	msg.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	return msg, nil
}

// classifySMTP wraps a 5xx reply to the message in a PermanentError and
// leaves everything else (nil, 4xx, network, timeouts, set-up failures) as
// it is.
func classifySMTP(err error) error {
	if err == nil {
		return nil
	}
	// go-mail reports failures of MAIL, RCPT and DATA as a *mail.SendError
	// carrying the server's reply code. A connection check before sending
	// (NOOP) fails with code 0: a network problem.
	var se *mail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 && code <= 599 {
			return &PermanentError{Code: code, Err: err}
		}
		return err
	}
	// A *textproto.Error outside a SendError comes from the connection
	// set-up (greeting, EHLO, STARTTLS, AUTH): retried whatever its code, so
	// that fixing the server or the credentials delivers the backlog.
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Errorf("smtp set-up refused (%d): %w", te.Code, err)
	}
	return err
}

// ConsoleSender is the development mailer: it logs each email (headers and
// text part) and keeps the most recent ones in memory for the preview pages.
// It never fails. It is safe for concurrent use.
type ConsoleSender struct {
	logger *slog.Logger
	mu     sync.Mutex
	ring   []OutgoingEmail // ring[next] is the oldest once the ring is full
	next   int
	full   bool
}

// DefaultConsoleKeep is how many emails a ConsoleSender keeps by default.
const DefaultConsoleKeep = 200

// NewConsoleSender returns a ConsoleSender logging to logger and keeping the
// last keep emails (DefaultConsoleKeep when keep < 1).
func NewConsoleSender(logger *slog.Logger, keep int) *ConsoleSender {
	if keep < 1 {
		keep = DefaultConsoleKeep
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ConsoleSender{logger: logger, ring: make([]OutgoingEmail, keep)}
}

// Send logs m and keeps it.
func (c *ConsoleSender) Send(ctx context.Context, m OutgoingEmail) error {
	c.logger.InfoContext(ctx, "email (console backend, not sent)",
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("message_id", m.MessageID),
		slog.String("template", m.Template),
		slog.String("language", m.Language),
		slog.String("text", m.Text),
	)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ring[c.next] = m
	c.next = (c.next + 1) % len(c.ring)
	if c.next == 0 {
		c.full = true
	}
	return nil
}

// Recent returns the kept emails, newest first.
func (c *ConsoleSender) Recent() []OutgoingEmail {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.next
	if c.full {
		n = len(c.ring)
	}
	out := make([]OutgoingEmail, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, c.ring[(c.next-i+len(c.ring))%len(c.ring)])
	}
	return out
}

// LogsOnly reports that this sender does not deliver: the email worker
// records its emails as "logged", not "sent".
func (c *ConsoleSender) LogsOnly() bool { return true }

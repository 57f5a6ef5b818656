package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/ledger"
	"github.com/creditjambo/creditjambo/templates"
)

// app is the wiring shared by serve, api and worker.
type app struct {
	river   *riverClient
	working bool // the River client works jobs (serve, worker)
	emails  *templates.Renderer
	sender  jobs.Sender
	ledger  *ledger.Ledger
	auth    *auth.Service
}

// deriveKey derives an independent 32-byte key for one purpose from
// SECRET_KEY, so that no two uses share a key.
func deriveKey(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("creditjambo/" + purpose))
	return m.Sum(nil)
}

// newApp builds the email renderer, the sender and the River client: a
// working client for serve and worker, insert-only for api.
func newApp(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, reg prometheus.Registerer, working bool) (*app, error) {
	led, err := newLedger(ctx, cfg, pool, reg)
	if err != nil {
		return nil, err
	}
	renderer, err := templates.New(templates.Options{FrontendURL: cfg.FrontendURL.String()})
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}
	var sender jobs.Sender
	if cfg.EmailBackend == "smtp" {
		sender, err = jobs.NewSMTPSender(jobs.SMTPConfig{
			Host:     cfg.EmailHost,
			Port:     cfg.EmailPort,
			Username: cfg.EmailHostUser,
			Password: cfg.EmailHostPassword,
			UseTLS:   cfg.EmailUseTLS,
			From:     cfg.DefaultFromEmail,
		})
		if err != nil {
			return nil, fmt.Errorf("EMAIL_HOST: %w", err)
		}
	} else {
		sender = jobs.NewConsoleSender(log, jobs.DefaultConsoleKeep)
	}
	sealer, err := jobs.NewSealer(deriveKey(cfg.SecretKey, "email-seal"))
	if err != nil {
		return nil, err
	}

	rc := &river.Config{
		Logger:               log,
		JobTimeout:           jobs.ClientJobTimeout,
		RescueStuckJobsAfter: jobs.RescueStuckJobsAfter,
	}
	// authSvc is built after the River client, which its event hook needs;
	// the purge job that calls it runs only once the client has started.
	var authSvc *auth.Service
	if working {
		workers := river.NewWorkers()
		deps := jobs.Deps{
			Renderer:        renderer,
			Sender:          sender,
			Sealer:          sealer,
			Pool:            pool,
			Logger:          log,
			MessageIDDomain: messageIDDomain(cfg.DefaultFromEmail),
			Ledger:          led,
			Registerer:      reg,
			// Notifications and clean-up.
			NotificationRetention: cfg.NotifRetention,
			PurgeAuthFunc:         func(ctx context.Context) (int64, error) { return authSvc.PurgeExpired(ctx) },
		}
		if err := jobs.AddWorkers(workers, deps); err != nil {
			return nil, err
		}
		rc.Workers = workers
		rc.Queues = jobs.Queues()
		rc.PeriodicJobs = append(jobs.PeriodicJobs(), jobs.CleanupPeriodicJobs(deps)...)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	authSvc, err = newAuth(cfg, pool, jobs.AuthEventFunc(client, sealer))
	if err != nil {
		return nil, err
	}
	return &app{river: client, working: working, emails: renderer, sender: sender, auth: authSvc, ledger: led}, nil
}

// newAuth builds the identity service, its keys derived from SECRET_KEY for
// distinct purposes, its events turned into email jobs by events.
func newAuth(cfg config, pool *pgxpool.Pool, events auth.EventFunc) (*auth.Service, error) {
	svc, err := auth.New(auth.Config{
		Pool:       pool,
		JWTKey:     deriveKey(cfg.SecretKey, "jwt"),
		RefreshKey: deriveKey(cfg.SecretKey, "refresh-token"),
		CodeKey:    deriveKey(cfg.SecretKey, "otp"),
		AccessTTL:  cfg.AccessTokenTTL,
		RefreshTTL: cfg.RefreshTokenTTL,
		EventFunc:  events,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return svc, nil
}

// messageIDDomain is the domain of the sender's address, for Message-IDs.
func messageIDDomain(from string) string {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return ""
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	return domain
}

// outbox is the console sender's list of kept emails, or nil when emails
// are sent by SMTP.
func (a *app) outbox() func() []jobs.OutgoingEmail {
	if c, ok := a.sender.(*jobs.ConsoleSender); ok {
		return c.Recent
	}
	return nil
}

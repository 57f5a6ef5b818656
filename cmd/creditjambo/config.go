package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"
	"github.com/shopspring/decimal"
)

// config is every setting of the service, read once in run from the
// environment and an optional .env file (the environment wins). README.md and
// .env.example list the same variables with the same defaults.
type config struct {
	DatabaseURL         string          `env:"DATABASE_URL"`
	DatabaseMaxConns    int             `env:"DATABASE_MAX_CONNS" envDefault:"20"`
	LedgerMaxInFlight   int             `env:"LEDGER_MAX_IN_FLIGHT" envDefault:"8"`
	SecretKey           string          `env:"SECRET_KEY"`
	Debug               bool            `env:"DEBUG" envDefault:"false"`
	HTTPAddr            string          `env:"HTTP_ADDR" envDefault:"127.0.0.1:8000"`
	FrontendURL         *url.URL        `env:"FRONTEND_URL" envDefault:"http://localhost:5173"`
	CORSAllowedOrigins  []string        `env:"CORS_ALLOWED_ORIGINS" envSeparator:","`
	EmailBackend        string          `env:"EMAIL_BACKEND"`
	EmailHost           string          `env:"EMAIL_HOST"`
	EmailPort           int             `env:"EMAIL_PORT" envDefault:"587"`
	EmailHostUser       string          `env:"EMAIL_HOST_USER"`
	EmailHostPassword   string          `env:"EMAIL_HOST_PASSWORD"`
	EmailUseTLS         bool            `env:"EMAIL_USE_TLS" envDefault:"true"`
	DefaultFromEmail    string          `env:"DEFAULT_FROM_EMAIL" envDefault:"CreditJambo <no-reply@creditjambo.com>"`
	Currency            string          `env:"CURRENCY" envDefault:"RWF"`
	LowBalanceThreshold decimal.Decimal `env:"LOW_BALANCE_THRESHOLD" envDefault:"50.00"`
	MaxTransaction      decimal.Decimal `env:"MAX_TRANSACTION_AMOUNT" envDefault:"5000000.00"`
	DailyDepositLimit   decimal.Decimal `env:"DAILY_DEPOSIT_LIMIT" envDefault:"20000000.00"`
	DailyWithdrawLimit  decimal.Decimal `env:"DAILY_WITHDRAW_LIMIT" envDefault:"20000000.00"`
	AccessTokenTTL      time.Duration   `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL     time.Duration   `env:"REFRESH_TOKEN_TTL" envDefault:"168h"`
	NotifRetention      time.Duration   `env:"NOTIFICATION_RETENTION" envDefault:"4320h"`
	TrustedProxies      []netip.Prefix  `env:"TRUSTED_PROXIES" envSeparator:","`
	MetricsAddr         string          `env:"METRICS_ADDR"`
	DataDir             string          `env:"DATA_DIR" envDefault:".data"`
	LogLevel            string          `env:"LOG_LEVEL" envDefault:"info"`
}

// minSecretKeyLen is the shortest SECRET_KEY accepted with DEBUG=false.
const minSecretKeyLen = 32

var parsers = map[reflect.Type]env.ParserFunc{
	reflect.TypeFor[decimal.Decimal](): func(v string) (any, error) {
		d, err := decimal.NewFromString(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("not a decimal number")
		}
		return d, nil
	},
	reflect.TypeFor[netip.Prefix](): func(v string) (any, error) {
		v = strings.TrimSpace(v)
		if p, err := netip.ParsePrefix(v); err == nil {
			return p.Masked(), nil
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("not a CIDR or an IP address: %q", v)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	},
}

// loadConfig reads the configuration through getenv and the .env file in the
// working directory. Every invalid variable is reported, each by name.
func loadConfig(getenv func(string) string) (config, error) {
	return loadConfigFile(getenv, ".env")
}

// loadConfigFile is loadConfig with the .env file named; a missing file is
// no error.
func loadConfigFile(getenv func(string) string, envFile string) (config, error) {
	var cfg config
	fileVars, err := godotenv.Read(envFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return cfg, fmt.Errorf(".env: %w", err)
	}
	params, err := env.GetFieldParams(&cfg)
	if err != nil {
		return cfg, err
	}
	vars := map[string]string{}
	for _, p := range params {
		if v := getenv(p.Key); v != "" {
			vars[p.Key] = v
		} else if v, ok := fileVars[p.Key]; ok && v != "" {
			vars[p.Key] = v
		}
	}
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars, FuncMap: parsers}); err != nil {
		return cfg, nameVariables(err, vars)
	}
	return cfg, cfg.validate()
}

// nameVariables rewrites the env library's errors, which name struct
// fields, to name the variable and its value instead.
func nameVariables(err error, vars map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	keys := map[string]string{}
	t := reflect.TypeFor[config]()
	for i := range t.NumField() {
		f := t.Field(i)
		keys[f.Name], _, _ = strings.Cut(f.Tag.Get("env"), ",")
	}
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			key := keys[pe.Name]
			errs = append(errs, fmt.Errorf("%s: invalid value %q (%v)", key, vars[key], pe.Err))
			continue
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func (c *config) validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if c.DatabaseMaxConns < 2 || c.DatabaseMaxConns > 1000 {
		bad("DATABASE_MAX_CONNS", "want 2-1000, got %d", c.DatabaseMaxConns)
	}
	if c.LedgerMaxInFlight < 1 || c.LedgerMaxInFlight > 1000 {
		bad("LEDGER_MAX_IN_FLIGHT", "want 1-1000, got %d", c.LedgerMaxInFlight)
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTP_ADDR", "want host:port, got %q", c.HTTPAddr)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("METRICS_ADDR", "want host:port, got %q", c.MetricsAddr)
		}
	}
	if c.FrontendURL.Scheme != "http" && c.FrontendURL.Scheme != "https" || c.FrontendURL.Host == "" {
		bad("FRONTEND_URL", "want an http(s) URL, got %q", c.FrontendURL.String())
	}
	origins := c.CORSAllowedOrigins
	if len(origins) == 0 {
		origins = []string{origin(c.FrontendURL)}
		if c.Debug {
			origins = append(origins, "http://127.0.0.1:5173")
		}
	}
	c.CORSAllowedOrigins = c.CORSAllowedOrigins[:0]
	for _, o := range origins {
		o = strings.TrimSpace(o)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			bad("CORS_ALLOWED_ORIGINS", "want scheme://host[:port] origins, got %q", o)
			continue
		}
		c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, origin(u))
	}
	switch c.EmailBackend {
	case "":
		c.EmailBackend = "console"
		if c.EmailHost != "" {
			c.EmailBackend = "smtp"
		}
	case "smtp":
		if c.EmailHost == "" {
			bad("EMAIL_BACKEND", "smtp needs EMAIL_HOST")
		}
	case "console":
	default:
		bad("EMAIL_BACKEND", "want smtp or console, got %q", c.EmailBackend)
	}
	if c.EmailPort < 1 || c.EmailPort > 65535 {
		bad("EMAIL_PORT", "want 1-65535, got %d", c.EmailPort)
	}
	if c.EmailBackend == "smtp" && !c.EmailUseTLS && !isLoopback(c.EmailHost) {
		bad("EMAIL_USE_TLS", "false is allowed only for a server on loopback, not %q", c.EmailHost)
	}
	if len(c.Currency) != 3 || strings.ToUpper(c.Currency) != c.Currency || strings.Trim(c.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		bad("CURRENCY", "want a three-letter ISO 4217 code such as RWF, got %q", c.Currency)
	}
	if c.LowBalanceThreshold.IsNegative() || c.LowBalanceThreshold.Exponent() < -2 {
		bad("LOW_BALANCE_THRESHOLD", "want a non-negative amount with at most two decimals, got %s", c.LowBalanceThreshold)
	}
	for _, m := range []struct {
		name string
		v    decimal.Decimal
	}{{"MAX_TRANSACTION_AMOUNT", c.MaxTransaction}, {"DAILY_DEPOSIT_LIMIT", c.DailyDepositLimit}, {"DAILY_WITHDRAW_LIMIT", c.DailyWithdrawLimit}} {
		if !m.v.IsPositive() || m.v.Exponent() < -2 || m.v.GreaterThanOrEqual(decimal.New(1, 18)) {
			bad(m.name, "want a positive amount with at most two decimals, got %s", m.v)
		}
	}
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > 24*time.Hour {
		bad("ACCESS_TOKEN_TTL", "want between 1m and 24h, got %s", c.AccessTokenTTL)
	}
	if c.RefreshTokenTTL < c.AccessTokenTTL || c.RefreshTokenTTL > 90*24*time.Hour {
		bad("REFRESH_TOKEN_TTL", "want between ACCESS_TOKEN_TTL and 2160h, got %s", c.RefreshTokenTTL)
	}
	if c.NotifRetention < time.Hour {
		bad("NOTIFICATION_RETENTION", "want at least 1h (read notifications are kept this long), got %s", c.NotifRetention)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LOG_LEVEL", "want debug, info, warn or error, got %q", c.LogLevel)
	}
	return errors.Join(errs...)
}

// ensureSecretKey checks SECRET_KEY for the commands that sign or key
// anything (migrate does not need it). With DEBUG=false it must be at least
// 32 bytes; a DEBUG run without one gets a generated key, kept in the data
// folder so tokens survive restarts.
func (c *config) ensureSecretKey() error {
	if c.SecretKey != "" {
		if len(c.SecretKey) < minSecretKeyLen && !c.Debug {
			return fmt.Errorf("SECRET_KEY: too short: %d bytes, need at least %d when DEBUG=false", len(c.SecretKey), minSecretKeyLen)
		}
		return nil
	}
	if !c.Debug {
		return fmt.Errorf("SECRET_KEY: required when DEBUG=false (at least %d bytes of randomness, e.g. `openssl rand -hex 32`)", minSecretKeyLen)
	}
	path := filepath.Join(c.DataDir, "secret_key")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= minSecretKeyLen {
		c.SecretKey = strings.TrimSpace(string(b))
		return nil
	}
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return err
	}
	key := hex.EncodeToString(buf)
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("SECRET_KEY: keep generated key: %w", err)
	}
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("SECRET_KEY: keep generated key: %w", err)
	}
	c.SecretKey = key
	return nil
}

func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

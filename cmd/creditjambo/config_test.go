package main

import (
	"github.com/caarlos0/env/v11"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(envFunc(map[string]string{"DEBUG": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8000" || cfg.Currency != "RWF" || cfg.EmailBackend != "console" ||
		cfg.AccessTokenTTL != 15*time.Minute || cfg.RefreshTokenTTL != 168*time.Hour ||
		cfg.LowBalanceThreshold.StringFixed(2) != "50.00" || cfg.EmailPort != 587 || !cfg.EmailUseTLS {
		t.Fatalf("defaults: %+v", cfg)
	}
	want := []string{"http://localhost:5173", "http://127.0.0.1:5173"}
	if strings.Join(cfg.CORSAllowedOrigins, ",") != strings.Join(want, ",") {
		t.Fatalf("origins %v", cfg.CORSAllowedOrigins)
	}
	prod, err := loadConfig(envFunc(map[string]string{"SECRET_KEY": strings.Repeat("k", 32), "EMAIL_HOST": "smtp.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(prod.CORSAllowedOrigins, ",") != "http://localhost:5173" || prod.EmailBackend != "smtp" {
		t.Fatalf("prod: %+v", prod)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	key := strings.Repeat("k", 32)
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"SECRET_KEY": key, "DEBUG": "maybe"}, "DEBUG"},
		{map[string]string{"SECRET_KEY": key, "EMAIL_PORT": "x"}, "EMAIL_PORT"},
		{map[string]string{"SECRET_KEY": key, "EMAIL_PORT": "70000"}, "EMAIL_PORT"},
		{map[string]string{"SECRET_KEY": key, "ACCESS_TOKEN_TTL": "soon"}, "ACCESS_TOKEN_TTL"},
		{map[string]string{"SECRET_KEY": key, "LOW_BALANCE_THRESHOLD": "lots"}, "LOW_BALANCE_THRESHOLD"},
		{map[string]string{"SECRET_KEY": key, "LOW_BALANCE_THRESHOLD": "1.005"}, "LOW_BALANCE_THRESHOLD"},
		{map[string]string{"SECRET_KEY": key, "CURRENCY": "rwf"}, "CURRENCY"},
		{map[string]string{"SECRET_KEY": key, "TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"},
		{map[string]string{"SECRET_KEY": key, "HTTP_ADDR": "8000"}, "HTTP_ADDR"},
		{map[string]string{"SECRET_KEY": key, "FRONTEND_URL": "ftp://x"}, "FRONTEND_URL"},
		{map[string]string{"SECRET_KEY": key, "CORS_ALLOWED_ORIGINS": "http://a.example/path"}, "CORS_ALLOWED_ORIGINS"},
		{map[string]string{"SECRET_KEY": key, "EMAIL_BACKEND": "pigeon"}, "EMAIL_BACKEND"},
		{map[string]string{"SECRET_KEY": key, "EMAIL_HOST": "smtp.example.com", "EMAIL_USE_TLS": "false"}, "EMAIL_USE_TLS"},
		{map[string]string{"SECRET_KEY": key, "DATABASE_MAX_CONNS": "1"}, "DATABASE_MAX_CONNS"},
		{map[string]string{"SECRET_KEY": key, "LEDGER_MAX_IN_FLIGHT": "0"}, "LEDGER_MAX_IN_FLIGHT"},
		{map[string]string{"SECRET_KEY": key, "NOTIFICATION_RETENTION": "30m"}, "NOTIFICATION_RETENTION"},
		{map[string]string{"SECRET_KEY": key, "NOTIFICATION_RETENTION": "forever"}, "NOTIFICATION_RETENTION"},
	}
	for _, env := range []map[string]string{{}, {"SECRET_KEY": "short"}} {
		cfg, err := loadConfig(envFunc(env))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.ensureSecretKey(); err == nil || !strings.Contains(err.Error(), "SECRET_KEY") {
			t.Errorf("env %v: err %v, want one naming SECRET_KEY", env, err)
		}
	}
	for _, c := range cases {
		_, err := loadConfig(envFunc(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v: err %v, want one naming %s", c.env, err, c.want)
		}
	}
	// Loopback SMTP without TLS is fine (a local catcher).
	if _, err := loadConfig(envFunc(map[string]string{"SECRET_KEY": key, "EMAIL_HOST": "127.0.0.1", "EMAIL_USE_TLS": "false"})); err != nil {
		t.Errorf("loopback without TLS: %v", err)
	}
}

func TestDebugSecretKeyIsGeneratedAndKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, err := loadConfig(envFunc(map[string]string{"DEBUG": "true", "DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.ensureSecretKey(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.SecretKey) < minSecretKeyLen {
		t.Fatalf("generated key %q", cfg.SecretKey)
	}
	again, _ := loadConfig(envFunc(map[string]string{"DEBUG": "true", "DATA_DIR": dir}))
	if err := again.ensureSecretKey(); err != nil || again.SecretKey != cfg.SecretKey {
		t.Fatalf("key not kept: %v %q vs %q", err, again.SecretKey, cfg.SecretKey)
	}
	if fi, err := os.Stat(filepath.Join(dir, "secret_key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
}

func TestDotEnvFileAndEnvironmentWins(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), ".env")
	content := "# comment\nDEBUG=true\nCURRENCY=USD\nHTTP_ADDR=127.0.0.1:9000\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfigFile(envFunc(map[string]string{"HTTP_ADDR": "127.0.0.1:9100"}), path)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Debug || cfg.Currency != "USD" || cfg.HTTPAddr != "127.0.0.1:9100" {
		t.Fatalf("got %+v", cfg)
	}
}

// TestEveryVariableIsDocumented keeps README.md and .env.example true to the
// config struct: every variable named in both, with its default.
func TestEveryVariableIsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	params, err := env.GetFieldParams(&config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range params {
		if !strings.Contains(string(readme), "`"+p.Key+"`") {
			t.Errorf("README.md does not document `%s`", p.Key)
		}
		if !strings.Contains(string(example), p.Key+"=") {
			t.Errorf(".env.example does not list %s", p.Key)
		}
		if p.HasDefaultValue {
			if !strings.Contains(string(example), p.Key+"="+p.DefaultValue) {
				t.Errorf(".env.example: %s default is not %q", p.Key, p.DefaultValue)
			}
			if !strings.Contains(string(readme), p.DefaultValue) {
				t.Errorf("README.md does not give %s's default %q", p.Key, p.DefaultValue)
			}
		}
	}
}

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/creditjambo/creditjambo/sql/sqltest"
)

// TestCreateSuperuser runs `creditjambo createsuperuser --password-stdin`:
// a strong password makes an admin; a weak one, a taken name, a missing
// flag or a prompt without a terminal is refused, saying why.
func TestCreateSuperuser(t *testing.T) {
	t.Parallel()
	db := sqltest.NewDB(t, sqltest.Options{})
	env := envFunc(map[string]string{"DATABASE_URL": db.URL, "DEBUG": "true", "DATA_DIR": t.TempDir()})
	ctx := context.Background()
	createsuperuser := func(stdin string, args ...string) (string, error) {
		var out syncBuffer
		err := run(ctx, append([]string{"creditjambo", "createsuperuser"}, args...), env, strings.NewReader(stdin), &out, &out)
		return out.String(), err
	}

	out, err := createsuperuser("Str0ng-Admin-Pass!\n", "--username", "root", "--email", "Root@Example.com", "--password-stdin")
	if err != nil {
		t.Fatalf("createsuperuser: %v\n%s", err, out)
	}
	if !strings.Contains(out, `superuser "root" created`) {
		t.Fatalf("output: %s", out)
	}
	var role, email, hash string
	var super, verified, active bool
	err = db.Pool.QueryRow(ctx, `SELECT role, email, password_hash, is_superuser, email_verified, is_active FROM users WHERE username = 'root'`).
		Scan(&role, &email, &hash, &super, &verified, &active)
	if err != nil {
		t.Fatal(err)
	}
	if role != "admin" || email != "root@example.com" || !super || !verified || !active || !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("row: %s %s %v %v %v %s", role, email, super, verified, active, hash)
	}

	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"password\n", []string{"--username", "weak", "--email", "weak@example.com", "--password-stdin"}, "password"},
		{"Password123!\n", []string{"--username", "common", "--email", "common@example.com", "--password-stdin"}, "too common"},
		{"Str0ng-Admin-Pass!\n", []string{"--username", "ROOT", "--email", "other@example.com", "--password-stdin"}, "username"},
		{"", []string{"--username", "empty", "--email", "empty@example.com", "--password-stdin"}, "no password"},
		{"Str0ng-Admin-Pass!\n", []string{"--email", "x@example.com", "--password-stdin"}, "--username"},
		{"Str0ng-Admin-Pass!\n", []string{"--username", "prompt", "--email", "prompt@example.com"}, "not a terminal"},
	} {
		out, err := createsuperuser(c.stdin, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err %v (output %s), want one about %q", c.args, err, out, c.want)
		}
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d users (%v)", n, err)
	}
}

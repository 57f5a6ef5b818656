package api

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creditjambo/creditjambo/templates"
)

// TestAuthFlow is the frontend's whole journey: register, be refused on a
// new device, get approved by an admin, log in, refresh, reset the password
// with an emailed code, log out.
func TestAuthFlow(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	const email = "aline@example.com"

	// Register (the frontend sends no device_id), in Kinyarwanda, with an
	// extra field that must change nothing.
	r := e.post(t, "/api/auth/register/", "", map[string]any{
		"username": "Aline", "email": "  Aline@Example.COM ", "password": testPassword,
		"confirm_password": testPassword, "language": "rw", "role": "admin", "balance": "1000000",
	})
	expect(t, r, http.StatusCreated, "")
	if r.str("username") != "Aline" || r.str("email") != email || r.str("message") == "" || r.json["id"] == nil {
		t.Fatalf("register: %s", r.raw)
	}
	welcome := e.emails(t, templates.WelcomeVerify, email)
	if len(welcome) != 1 || welcome[0].args.Language != "rw" {
		t.Fatalf("welcome emails: %+v", welcome)
	}
	verifyCode := e.code(t, templates.WelcomeVerify, email)

	// The same username in another case, or the same email, is taken.
	r = e.post(t, "/api/auth/register/", "", map[string]any{
		"username": "aline", "email": "ALINE@example.com", "password": testPassword, "confirm_password": testPassword,
	})
	expect(t, r, http.StatusBadRequest, "invalid")
	if errs, _ := r.json["errors"].(map[string]any); errs["username"] == nil || errs["email"] == nil {
		t.Fatalf("duplicate: %s", r.raw)
	}

	// Verify the email with the welcome code.
	r = e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": "aline", "otp": verifyCode, "purpose": "verify_email"})
	expect(t, r, http.StatusOK, "")
	if r.json["email_verified"] != true {
		t.Fatalf("verify email: %s", r.raw)
	}

	// A customer must send a device id.
	r = e.post(t, "/api/auth/login/", "", map[string]any{"username": "aline", "password": testPassword})
	expect(t, r, http.StatusBadRequest, "device_id_required")

	// A new device is refused with its status (403, never 401), and
	// recorded PENDING with one "new device" email, even when tried twice.
	for range 2 {
		r = e.post(t, "/api/auth/login/", "", map[string]any{"username": email, "password": testPassword, "device_id": "browser-1", "device_name": "Firefox on Ubuntu"})
		expect(t, r, http.StatusForbidden, "device_not_approved")
		if r.str("device_status") != "PENDING" || r.json["approved"] != false {
			t.Fatalf("refused device: %s", r.raw)
		}
	}
	if n := len(e.emails(t, templates.NewDevice, email)); n != 1 {
		t.Fatalf("%d new-device emails, want 1", n)
	}

	// An admin (exempt from device approval) approves it.
	admin := e.adminToken(t)
	r = e.get(t, "/api/admin/devices/?status=pending", admin)
	expect(t, r, http.StatusOK, "")
	var list []map[string]any
	mustJSON(t, r.raw, &list)
	if len(list) != 1 || list[0]["device_id"] != "browser-1" || list[0]["username"] != "Aline" ||
		list[0]["user_email"] != email || list[0]["email_verified"] != true || list[0]["status"] != "PENDING" ||
		list[0]["name"] != "Firefox on Ubuntu" || list[0]["user_agent"] != "authtest/1.0" || list[0]["last_ip"] == nil {
		t.Fatalf("pending devices: %s", r.raw)
	}
	id := int64(list[0]["id"].(float64))
	path := "/api/admin/devices/" + itoa(id) + "/approve/"
	r = e.post(t, path, admin, nil)
	expect(t, r, http.StatusOK, "")
	if r.str("detail") != "Device approved." || r.str("id") != itoa(id) {
		t.Fatalf("approve: %s", r.raw)
	}
	expect(t, e.post(t, path, admin, nil), http.StatusBadRequest, "device_already_approved")
	if n := len(e.emails(t, templates.DeviceApproved, email)); n != 1 {
		t.Fatalf("%d device-approved emails", n)
	}

	// Log in: the compat shape, exactly.
	r = e.post(t, "/api/auth/login/", "", map[string]any{"username": "ALINE", "password": testPassword, "device_id": "browser-1"})
	expect(t, r, http.StatusOK, "")
	access, refresh := r.str("access"), r.str("refresh")
	user, _ := r.json["user"].(map[string]any)
	keys := make([]string, 0, len(user))
	for k := range user {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, ",") != "balance,email,email_verified,id,is_staff,language,last_login,role,username" {
		t.Fatalf("user keys %v", keys)
	}
	if user["balance"] != "0.00" || user["is_staff"] != false || user["role"] != "customer" ||
		user["email_verified"] != true || user["language"] != "rw" || !strings.HasSuffix(user["last_login"].(string), "Z") {
		t.Fatalf("user %v", user)
	}
	if access == "" || refresh == "" || access == refresh {
		t.Fatalf("tokens %q %q", access, refresh)
	}

	r = e.get(t, "/api/auth/me/", access)
	expect(t, r, http.StatusOK, "")
	if r.str("username") != "Aline" || r.str("date_joined") == "" {
		t.Fatalf("me: %s", r.raw)
	}
	r = e.get(t, "/api/auth/devices/", access)
	expect(t, r, http.StatusOK, "")
	mustJSON(t, r.raw, &list)
	if len(list) != 1 || list[0]["status"] != "APPROVED" || list[0]["verified_at"] == nil || list[0]["user"] == nil {
		t.Fatalf("own devices: %s", r.raw)
	}

	// Refresh rotates: a new pair; the old refresh token is spent.
	r = e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": refresh})
	expect(t, r, http.StatusOK, "")
	access2, refresh2 := r.str("access"), r.str("refresh")
	if access2 == "" || refresh2 == "" || refresh2 == refresh {
		t.Fatalf("refresh: %s", r.raw)
	}
	expect(t, e.get(t, "/api/auth/me/", access2), http.StatusOK, "")

	// Forgot password: a code by email (sealed), a reset token, a new
	// password; every session ends.
	r = e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": email, "channel": "email"})
	expect(t, r, http.StatusOK, "")
	if r.str("detail") != "If an account exists, an OTP was sent." {
		t.Fatalf("otp request: %s", r.raw)
	}
	code := e.code(t, templates.PasswordResetCode, email)
	r = e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": "aline", "otp": code})
	expect(t, r, http.StatusOK, "")
	reset := r.str("reset_token")
	if reset == "" {
		t.Fatalf("no reset token: %s", r.raw)
	}
	const newPassword = "Gorilla-Mist-77?"
	r = e.post(t, "/api/auth/otp/new-password/", "", map[string]any{"reset_token": reset, "new_password": newPassword, "confirm_password": newPassword})
	expect(t, r, http.StatusOK, "")
	if n := len(e.emails(t, templates.PasswordChanged, email)); n != 1 {
		t.Fatalf("%d password-changed emails", n)
	}
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": refresh2}), http.StatusUnauthorized, "token_not_valid")
	expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": "aline", "password": testPassword, "device_id": "browser-1"}), http.StatusUnauthorized, "invalid_credentials")
	r = e.post(t, "/api/auth/login/", "", map[string]any{"username": "aline", "password": newPassword, "device_id": "browser-1"})
	expect(t, r, http.StatusOK, "")
	access3, refresh3 := r.str("access"), r.str("refresh")

	// Log out: that log-in ends; the same token again, or a spent one, is
	// 400 invalid_token and revokes nothing.
	r = e.post(t, "/api/auth/logout/", access3, map[string]any{"refresh": refresh3})
	expect(t, r, http.StatusOK, "")
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": refresh3}), http.StatusUnauthorized, "token_not_valid")
	expect(t, e.post(t, "/api/auth/logout/", access3, map[string]any{"refresh": refresh3}), http.StatusBadRequest, "invalid_token")

	// Every attempt is in the login activity, with its reason.
	var reasons []string
	rows, err := e.pool.Query(context.Background(), `SELECT reason FROM login_activity WHERE lower(username) = 'aline' OR username = $1 ORDER BY id`, email)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		reasons = append(reasons, s)
	}
	want := "device_id_required,device_pending,device_pending,ok,wrong_password,ok"
	if strings.Join(reasons, ",") != want {
		t.Fatalf("login activity %v, want %s", reasons, want)
	}
	if n := e.count(t, `SELECT count(*) FROM login_activity WHERE ip_address IS NULL OR user_agent = ''`); n != 0 {
		t.Fatalf("%d activity rows without IP or user agent", n)
	}
}

// TestRegisterAndProfile covers registration's rules, a device sent with
// it, and the profile.
func TestRegisterAndProfile(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"username": "ab", "email": "a@example.com", "password": testPassword, "confirm_password": testPassword}, "username"},
		{map[string]any{"username": "with space", "email": "a@example.com", "password": testPassword, "confirm_password": testPassword}, "username"},
		{map[string]any{"username": "abc", "email": "not-an-email", "password": testPassword, "confirm_password": testPassword}, "email"},
		{map[string]any{"username": "abc", "email": "a@example.com", "password": "short", "confirm_password": "short"}, "password"},
		{map[string]any{"username": "abc", "email": "a@example.com", "password": "Abc-Plum-42!", "confirm_password": "Abc-Plum-42!"}, "password"}, // contains the username
		{map[string]any{"username": "abc", "email": "a@example.com", "password": "Password123!", "confirm_password": "Password123!"}, "password"},
		{map[string]any{"username": "abc", "email": "a@example.com", "password": testPassword, "confirm_password": testPassword + "x"}, "confirm_password"},
		{map[string]any{"username": "abc", "email": "a@example.com", "password": testPassword, "confirm_password": testPassword, "language": "fr"}, "language"},
	}
	for _, b := range bad {
		r := e.post(t, "/api/auth/register/", "", b.body)
		expect(t, r, http.StatusBadRequest, "invalid")
		if errs, _ := r.json["errors"].(map[string]any); errs[b.field] == nil {
			t.Errorf("%v: errors %s, want %s", b.body, r.raw, b.field)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM users`); n != 0 {
		t.Fatalf("%d users created by refused registrations", n)
	}

	// With a device id: that device is registered PENDING, without a
	// "new device" email (the welcome email is enough).
	r := e.post(t, "/api/auth/register/", "", map[string]any{
		"username": "jean.b", "email": "jean@example.com", "password": testPassword, "confirm_password": testPassword, "device_id": "phone-1",
	})
	expect(t, r, http.StatusCreated, "")
	if n := e.count(t, `SELECT count(*) FROM devices WHERE device_id = 'phone-1' AND status = 'PENDING'`); n != 1 {
		t.Fatal("device not registered PENDING")
	}
	if n := len(e.emails(t, templates.NewDevice, "jean@example.com")); n != 0 {
		t.Fatal("new-device email at registration")
	}
	u, err := e.svc.User(context.Background(), int64(r.json["id"].(float64)))
	if err != nil {
		t.Fatal(err)
	}
	s := e.approvedLogin(t, u, "phone-1")

	// PATCH /me changes language and names, nothing else.
	r = e.do(t, req{method: http.MethodPatch, path: "/api/auth/me", token: s.access, body: map[string]any{
		"language": "rw", "first_name": " Jean ", "last_name": "Bosco", "role": "admin", "email": "evil@example.com", "is_staff": true,
	}})
	expect(t, r, http.StatusOK, "")
	if r.str("language") != "rw" || r.str("first_name") != "Jean" || r.str("role") != "customer" || r.str("email") != "jean@example.com" || r.json["is_staff"] != false {
		t.Fatalf("patch me: %s", r.raw)
	}
	r = e.do(t, req{method: http.MethodPatch, path: "/api/auth/me/", token: s.access, body: map[string]any{"language": "de"}})
	expect(t, r, http.StatusBadRequest, "invalid")
}

// TestPasswordChange keeps the calling session and ends the others.
func TestPasswordChange(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "claudine", "customer")
	here := e.approvedLogin(t, u, "laptop")
	other := e.login(t, u.Username, "laptop") // a second log-in on the same device

	r := e.post(t, "/api/auth/password/change/", here.access, map[string]any{"old_password": "Wrong-Pass-1!", "new_password": "Banana-Split-9!", "confirm_password": "Banana-Split-9!"})
	expect(t, r, http.StatusBadRequest, "invalid")
	if errs, _ := r.json["errors"].(map[string]any); errs["old_password"] == nil {
		t.Fatalf("wrong old password: %s", r.raw)
	}
	r = e.post(t, "/api/auth/password/change/", here.access, map[string]any{"old_password": testPassword, "new_password": "weak", "confirm_password": "weak"})
	expect(t, r, http.StatusBadRequest, "invalid")
	r = e.post(t, "/api/auth/password/change/", here.access, map[string]any{"old_password": testPassword, "new_password": "Banana-Split-9!", "confirm_password": "Banana-Split-9!"})
	expect(t, r, http.StatusOK, "")

	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": here.refresh}), http.StatusOK, "")
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": other.refresh}), http.StatusUnauthorized, "token_not_valid")
	if n := len(e.emails(t, templates.PasswordChanged, u.Email)); n != 1 {
		t.Fatalf("%d password-changed emails", n)
	}
	r = e.post(t, "/api/auth/login/", "", map[string]any{"username": u.Username, "password": "Banana-Split-9!", "device_id": "laptop"})
	expect(t, r, http.StatusOK, "")
}

// TestLogoutAll ends every log-in of the caller and no one else's.
func TestLogoutAll(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "eric", "customer")
	v := e.createUser(t, "grace", "customer")
	a := e.approvedLogin(t, u, "d1")
	b := e.login(t, u.Username, "d1")
	c := e.approvedLogin(t, v, "d2")
	expect(t, e.post(t, "/api/auth/logout-all/", a.access, nil), http.StatusOK, "")
	for _, s := range []session{a, b} {
		expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s.refresh}), http.StatusUnauthorized, "token_not_valid")
	}
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": c.refresh}), http.StatusOK, "")
	// Someone else's refresh token cannot be logged out.
	d := e.login(t, v.Username, "d2")
	expect(t, e.post(t, "/api/auth/logout/", a.access, map[string]any{"refresh": d.refresh}), http.StatusBadRequest, "invalid_token")
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": d.refresh}), http.StatusOK, "")
}

// TestDjangoUsersKeepTheirPasswords imports users with the old system's
// hashes: they log in with their passwords, upgraded to argon2id.
func TestDjangoUsersKeepTheirPasswords(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	ctx := context.Background()
	for i, v := range []struct{ hash, password string }{
		{"pbkdf2_sha256$1000$seasalt$CHqNaNyPoL6v/BKFrOY89A425vkMLznAvM2MZ8sPx0U=", "Muraho-2024!"},
		{"pbkdf2_sha512$1000$seasalt$gImqiqPoh2+HvuXJoOus5GgC+uKTzNJwukeoNa1SIaRnr25LFYJJ4fVwLXdWNXQfN9/TYK0RyVrGxDKs9SVXow==", "Muraho-2024!"},
	} {
		name := "legacy" + itoa(int64(i))
		u, err := e.svc.CreateUser(ctx, newImported(name, v.hash))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": name, "password": "Muraho-2024?", "device_id": "x"}), http.StatusUnauthorized, "invalid_credentials")
		r := e.post(t, "/api/auth/login/", "", map[string]any{"username": name, "password": v.password, "device_id": "x"})
		expect(t, r, http.StatusOK, "")
		var stored string
		if err := e.pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "$argon2id$v=19$") {
			t.Fatalf("hash not upgraded: %s", stored)
		}
		expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": name, "password": v.password, "device_id": "x"}), http.StatusOK, "")
	}
}

// TestExpiredAccessToken uses the injected clock: no sleeping.
func TestExpiredAccessToken(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "olivier", "customer")
	s := e.approvedLogin(t, u, "d")
	expect(t, e.get(t, "/api/auth/me/", s.access), http.StatusOK, "")
	e.clock.Advance(15*time.Minute + time.Minute)
	r := e.get(t, "/api/auth/me/", s.access)
	expect(t, r, http.StatusUnauthorized, "token_not_valid")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Fatal("401 without WWW-Authenticate")
	}
	// The refresh token lives longer: the frontend's one retry works.
	r = e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s.refresh})
	expect(t, r, http.StatusOK, "")
	expect(t, e.get(t, "/api/auth/me/", r.str("access")), http.StatusOK, "")
	// Past the refresh token's own lifetime, it is refused too.
	e.clock.Advance(8 * 24 * time.Hour)
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": r.str("refresh")}), http.StatusUnauthorized, "token_not_valid")
}

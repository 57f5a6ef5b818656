package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creditjambo/creditjambo/auth"
	"github.com/creditjambo/creditjambo/templates"
)

// signJWT builds a token with any header and claims, HMAC-SHA256-signed
// with key (unsigned when key is nil).
func signJWT(header, claims map[string]any, key []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if key == nil {
		return signing + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestAccessTokenAttacks presents forged and misused tokens to a protected
// route and an admin route: each is a 401.
func TestAccessTokenAttacks(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "mugisha", auth.RoleCustomer)
	s := e.approvedLogin(t, u, "phone")

	parts := strings.Split(s.access, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	mustJSON(t, raw, &claims)
	admin := map[string]any{}
	for k, v := range claims {
		admin[k] = v
	}
	admin["role"], admin["dev"] = "admin", ""
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustMarshal(t, admin)) + "." + parts[2]

	attacks := map[string]string{
		"alg none":                 signJWT(map[string]any{"alg": "none", "typ": "JWT"}, admin, nil),
		"alg None":                 signJWT(map[string]any{"alg": "None"}, admin, nil),
		"HS512 with the real key":  signJWT(map[string]any{"alg": "HS512", "typ": "JWT"}, admin, e.jwtKey),
		"RS256 header":             signJWT(map[string]any{"alg": "RS256", "typ": "JWT"}, admin, e.jwtKey),
		"tampered payload":         tampered,
		"re-signed with a guess":   signJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, admin, []byte("secret")),
		"re-signed, other 32+ key": signJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, admin, []byte("creditjambo-secret-key-that-is-long")),
		"refresh token as access":  s.refresh,
		"garbage":                  "not.a.token",
	}
	for name, tok := range attacks {
		for _, path := range []string{"/api/auth/me/", "/api/admin/devices/"} {
			r := e.get(t, path, tok)
			if r.status != http.StatusUnauthorized || r.str("code") != "token_not_valid" {
				t.Errorf("%s on %s: %d %s", name, path, r.status, r.raw)
			}
		}
	}
	// The real key with the real header works: the attacks differ only in
	// what they claim.
	if r := e.get(t, "/api/auth/me/", signJWT(map[string]any{"alg": "HS256", "typ": "JWT"}, claims, e.jwtKey)); r.status != http.StatusOK {
		t.Fatalf("control: %d %s", r.status, r.raw)
	}

	// An access token is no refresh token.
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s.access}), http.StatusUnauthorized, "token_not_valid")

	// No header, another scheme: 401 not_authenticated. The scheme's case
	// does not matter.
	expect(t, e.get(t, "/api/auth/me/", ""), http.StatusUnauthorized, "not_authenticated")
	expect(t, e.do(t, req{method: http.MethodGet, path: "/api/auth/me/", header: map[string]string{"Authorization": "Token " + s.access}}), http.StatusUnauthorized, "not_authenticated")
	expect(t, e.do(t, req{method: http.MethodGet, path: "/api/auth/me/", header: map[string]string{"Authorization": "bEaReR " + s.access}}), http.StatusOK, "")
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRefreshReuseRevokesFamily: a spent refresh token presented again ends
// that whole log-in, and only that one.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "keza", auth.RoleCustomer)
	a := e.approvedLogin(t, u, "d")
	b := e.login(t, u.Username, "d")

	r := e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": a.refresh})
	expect(t, r, http.StatusOK, "")
	next := r.str("refresh")
	// A thief replays the spent token: refused, and the family dies.
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": a.refresh}), http.StatusUnauthorized, "token_not_valid")
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": next}), http.StatusUnauthorized, "token_not_valid")
	// The other log-in lives on.
	expect(t, e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": b.refresh}), http.StatusOK, "")
	if n := e.count(t, `SELECT count(*) FROM refresh_families WHERE revoke_reason = 'reuse'`); n != 1 {
		t.Fatalf("%d families revoked for reuse", n)
	}
}

// TestParallelRefreshOneLiveChain: many refreshes of one token at once
// leave at most one live token in the family.
func TestParallelRefreshOneLiveChain(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "ineza", auth.RoleCustomer)
	s := e.approvedLogin(t, u, "d")
	const n = 8
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			codes[i] = e.post(t, "/api/auth/token/refresh/", "", map[string]any{"refresh": s.refresh}).status
		})
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == http.StatusOK {
			ok++
		} else if c != http.StatusUnauthorized {
			t.Fatalf("status %d", c)
		}
	}
	if ok > 1 {
		t.Fatalf("%d refreshes of one token succeeded", ok)
	}
	live := e.count(t, `
		SELECT count(*) FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id
		WHERE t.user_id = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL AND f.revoked_at IS NULL`, u.ID)
	if live > 1 {
		t.Fatalf("%d live refresh tokens after parallel refreshes", live)
	}
}

// TestAdminDeviceRoutesForbidOthers: customers and auditors get 403 on the
// admin device routes.
func TestAdminDeviceRoutesForbidOthers(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	c := e.createUser(t, "customer1", auth.RoleCustomer)
	a := e.createUser(t, "auditor1", auth.RoleAuditor)
	cs := e.approvedLogin(t, c, "c-dev")
	as := e.approvedLogin(t, a, "a-dev")
	dev := e.deviceRow(t, c.ID, "c-dev")
	for _, tok := range []string{cs.access, as.access} {
		expect(t, e.get(t, "/api/admin/devices/", tok), http.StatusForbidden, "permission_denied")
		expect(t, e.post(t, "/api/admin/devices/"+itoa(dev)+"/approve/", tok, nil), http.StatusForbidden, "permission_denied")
		expect(t, e.post(t, "/api/admin/devices/"+itoa(dev)+"/reject/", tok, nil), http.StatusForbidden, "permission_denied")
		expect(t, e.do(t, req{method: http.MethodPatch, path: "/api/admin/devices/" + itoa(dev) + "/verify/", token: tok, body: map[string]any{"status": "REJECTED"}}), http.StatusForbidden, "permission_denied")
	}
	expect(t, e.get(t, "/api/admin/devices/", ""), http.StatusUnauthorized, "not_authenticated")
	// An admin demoted while their access token lives loses the routes at once.
	admin := e.adminToken(t)
	expect(t, e.get(t, "/api/admin/devices/", admin), http.StatusOK, "")
	if _, err := e.pool.Exec(context.Background(), `UPDATE users SET role = 'customer' WHERE id = $1`, e.admin(t).ID); err != nil {
		t.Fatal(err)
	}
	expect(t, e.get(t, "/api/admin/devices/", admin), http.StatusForbidden, "permission_denied")
	// Nothing changed.
	if n := e.count(t, `SELECT count(*) FROM devices WHERE status <> 'APPROVED'`); n != 0 {
		t.Fatal("a non-admin changed a device")
	}
}

// TestOtherUsersDevices: one user's device ids are 404 to another user.
func TestOtherUsersDevices(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	a := e.createUser(t, "alice", auth.RoleCustomer)
	b := e.createUser(t, "bruno", auth.RoleCustomer)
	e.approvedLogin(t, a, "a-dev")
	bs := e.approvedLogin(t, b, "b-dev")
	theirs := e.deviceRow(t, a.ID, "a-dev")
	expect(t, e.do(t, req{method: http.MethodPatch, path: "/api/auth/devices/" + itoa(theirs) + "/request-verification/", token: bs.access}), http.StatusNotFound, "not_found")
	expect(t, e.do(t, req{method: http.MethodDelete, path: "/api/auth/devices/" + itoa(theirs) + "/", token: bs.access}), http.StatusNotFound, "not_found")
	expect(t, e.do(t, req{method: http.MethodDelete, path: "/api/auth/devices/99999999/", token: bs.access}), http.StatusNotFound, "not_found")
	r := e.get(t, "/api/devices/", bs.access)
	expect(t, r, http.StatusOK, "")
	if strings.Contains(string(r.raw), "a-dev") {
		t.Fatalf("another user's device listed: %s", r.raw)
	}
	if n := e.count(t, `SELECT count(*) FROM devices WHERE id = $1 AND status = 'APPROVED'`, theirs); n != 1 {
		t.Fatal("another user's device changed")
	}
}

// TestLoginEnumeration: unknown user, wrong password and inactive account
// get byte-identical answers; so do OTP requests for known and unknown
// accounts.
func TestLoginEnumeration(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	e.createUser(t, "known", auth.RoleCustomer)
	off := e.createUser(t, "gone", auth.RoleCustomer)
	if err := e.svc.SetActive(context.Background(), off.ID, false); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, login := range []map[string]any{
		{"username": "nobody", "password": testPassword, "device_id": "d"},
		{"username": "known", "password": "Wrong-Pass-99!", "device_id": "d"},
		{"username": "gone", "password": testPassword, "device_id": "d"},
		{"username": "nobody@example.com", "password": testPassword, "device_id": "d"},
	} {
		r := e.post(t, "/api/auth/login/", "", login)
		expect(t, r, http.StatusUnauthorized, "invalid_credentials")
		bodies = append(bodies, string(r.raw))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("login answers differ:\n%s\n%s", bodies[0], b)
		}
	}
	bodies = bodies[:0]
	for _, id := range []string{"known", "known@example.com", "nobody", "gone"} {
		r := e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": id})
		expect(t, r, http.StatusOK, "")
		bodies = append(bodies, string(r.raw))
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("otp answers differ:\n%s\n%s", bodies[0], b)
		}
	}
	r := e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": "nobody", "otp": "123456"})
	expect(t, r, http.StatusBadRequest, "invalid_otp")
}

// TestLoginBruteForce: repeated failures lock the account (and an unknown
// name alike) long before 100 attempts, even from many addresses; the lock
// grows; a success resets it. One address alone hits the per-IP limit.
func TestLoginBruteForce(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "target", auth.RoleAdmin) // an admin: no device needed for the final success
	for _, name := range []string{u.Username, "ghost"} {
		lockedAt := 0
		for i := 1; i <= 100; i++ {
			r := e.post(t, "/api/auth/login/", "", map[string]any{"username": name, "password": "Guess-" + strconv.Itoa(i) + "!aA", "device_id": "d"})
			if r.status == http.StatusTooManyRequests {
				if r.header.Get("Retry-After") == "" || r.str("code") != "too_many_attempts" {
					t.Fatalf("429 without Retry-After: %v %s", r.header, r.raw)
				}
				lockedAt = i
				break
			}
			expect(t, r, http.StatusUnauthorized, "invalid_credentials")
		}
		if lockedAt == 0 || lockedAt > auth.LockAfter+1 {
			t.Fatalf("%s: locked at attempt %d", name, lockedAt)
		}
	}
	// Locked: even the right password is refused.
	r := e.post(t, "/api/auth/login/", "", map[string]any{"username": "target", "password": testPassword, "device_id": "d"})
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
	retry, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if retry < 1 || retry > 60 {
		t.Fatalf("Retry-After %d", retry)
	}
	// One more failure after the lock ends: a longer lock.
	e.clock.Advance(61 * time.Second)
	expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": "target", "password": "Nope-Nope-1!", "device_id": "d"}), http.StatusUnauthorized, "invalid_credentials")
	r = e.post(t, "/api/auth/login/", "", map[string]any{"username": "target", "password": testPassword, "device_id": "d"})
	expect(t, r, http.StatusTooManyRequests, "too_many_attempts")
	if retry, _ := strconv.Atoi(r.header.Get("Retry-After")); retry <= 60 {
		t.Fatalf("lock did not grow: Retry-After %d", retry)
	}
	// After it, the right password works and forgets the failures.
	e.clock.Advance(2*time.Minute + time.Second)
	expect(t, e.post(t, "/api/auth/login/", "", map[string]any{"username": "TARGET", "password": testPassword, "device_id": "d"}), http.StatusOK, "")
	if n := e.count(t, `SELECT count(*) FROM login_throttle WHERE key = $1`, "user:"+itoa(u.ID)); n != 0 {
		t.Fatal("failures not reset by a success")
	}
	if n := e.count(t, `SELECT count(*) FROM login_activity WHERE reason = 'locked'`); n < 3 {
		t.Fatalf("%d locked attempts recorded", n)
	}

	// One address trying many names hits the per-IP limit.
	got429 := false
	for i := range loginPerIP + 1 {
		r := e.do(t, req{method: http.MethodPost, path: "/api/auth/login/", ip: "203.0.113.50", body: map[string]any{"username": "user" + strconv.Itoa(i), "password": "x", "device_id": "d"}})
		if r.status == http.StatusTooManyRequests {
			expect(t, r, http.StatusTooManyRequests, "throttled")
			got429 = r.header.Get("Retry-After") != ""
			break
		}
	}
	if !got429 {
		t.Fatal("no per-IP limit on login")
	}
}

// TestOTPAttacks: brute force burns a code; codes are single use, bound to
// their purpose, expire; cool-down and hourly cap are silent; SMS is 400;
// one address is limited.
func TestOTPAttacks(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "umutoni", auth.RoleCustomer)
	request := func(purpose string) {
		t.Helper()
		expect(t, e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": u.Username, "purpose": purpose}), http.StatusOK, "")
	}
	verify := func(code, purpose string) resp {
		t.Helper()
		return e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": u.Email, "otp": code, "purpose": purpose})
	}
	wrong := func(code string) string {
		if code == "000000" {
			return "000001"
		}
		return "000000"
	}

	// Brute force: after 5 wrong tries even the right code fails.
	request("password_reset")
	code := e.code(t, templates.PasswordResetCode, u.Email)
	for range auth.OTPMaxAttempts {
		expect(t, verify(wrong(code), "password_reset"), http.StatusBadRequest, "invalid_otp")
	}
	expect(t, verify(code, "password_reset"), http.StatusBadRequest, "invalid_otp")

	// Cool-down: a second request within 60 s is answered 200 and sends
	// nothing.
	request("password_reset")
	if n := len(e.emails(t, templates.PasswordResetCode, u.Email)); n != 1 {
		t.Fatalf("%d codes sent within the cool-down", n)
	}

	// Reuse: a good code works once.
	e.clock.Advance(auth.OTPCooldown + time.Second)
	request("password_reset")
	code = e.code(t, templates.PasswordResetCode, u.Email)
	r := verify(code, "password_reset")
	expect(t, r, http.StatusOK, "")
	expect(t, verify(code, "password_reset"), http.StatusBadRequest, "invalid_otp")

	// Cross purpose: an email-verification code does not reset a password,
	// nor the other way round. (The account's email is verified now, so a
	// verify_email code needs another account.)
	v := e.createUser(t, "habimana", auth.RoleCustomer)
	expect(t, e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": v.Username, "purpose": "verify_email"}), http.StatusOK, "")
	vcode := e.code(t, templates.WelcomeVerify, v.Email)
	expect(t, e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": v.Username, "otp": vcode, "purpose": "password_reset"}), http.StatusBadRequest, "invalid_otp")
	e.clock.Advance(auth.OTPCooldown + time.Second)
	expect(t, e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": v.Username}), http.StatusOK, "")
	rcode := e.code(t, templates.PasswordResetCode, v.Email)
	expect(t, e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": v.Username, "otp": rcode, "purpose": "verify_email"}), http.StatusBadRequest, "invalid_otp")
	expect(t, e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": v.Username, "otp": vcode, "purpose": "verify_email"}), http.StatusOK, "")

	// Expiry: 10 minutes.
	e.clock.Advance(auth.OTPCooldown + time.Second)
	request("password_reset")
	code = e.code(t, templates.PasswordResetCode, u.Email)
	e.clock.Advance(auth.OTPTTL + time.Second)
	expect(t, verify(code, "password_reset"), http.StatusBadRequest, "invalid_otp")

	// At most 5 codes an hour per account, silently.
	sent := len(e.emails(t, templates.PasswordResetCode, u.Email))
	for range 6 {
		e.clock.Advance(auth.OTPCooldown + time.Second)
		request("password_reset")
	}
	var inHour int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM otp_codes WHERE user_id = $1 AND created_at > $2`, u.ID, e.clock.Now().Add(-time.Hour)).Scan(&inHour); err != nil {
		t.Fatal(err)
	}
	if inHour > auth.OTPMaxPerHour || len(e.emails(t, templates.PasswordResetCode, u.Email)) >= sent+6 {
		t.Fatalf("%d codes in the last hour", inHour)
	}

	// Malformed codes are the same 400.
	for _, c := range []any{"12345", "1234567", "abcdef", "", 12345} {
		expect(t, e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": u.Username, "otp": c}), http.StatusBadRequest, "invalid_otp")
	}

	// SMS is not a channel.
	expect(t, e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": u.Username, "channel": "sms"}), http.StatusBadRequest, "unsupported_channel")

	// One address is limited, whatever the account: the 429 names none.
	var last resp
	for i := range otpRequestPerIP + 1 {
		last = e.do(t, req{method: http.MethodPost, path: "/api/auth/otp/request/", ip: "203.0.113.77", body: map[string]any{"identifier": "someone" + strconv.Itoa(i)}})
	}
	expect(t, last, http.StatusTooManyRequests, "throttled")
	if strings.Contains(string(last.raw), "someone") {
		t.Fatalf("429 names an account: %s", last.raw)
	}
}

// TestResetTokenReuse: a reset token works once, within 15 minutes; a
// refused password leaves it usable.
func TestResetTokenReuse(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	u := e.createUser(t, "nshuti", auth.RoleCustomer)
	resetToken := func() string {
		t.Helper()
		e.clock.Advance(auth.OTPCooldown + time.Second)
		expect(t, e.post(t, "/api/auth/otp/request/", "", map[string]any{"identifier": u.Username}), http.StatusOK, "")
		r := e.post(t, "/api/auth/otp/verify/", "", map[string]any{"identifier": u.Username, "otp": e.code(t, templates.PasswordResetCode, u.Email), "purpose": "password_reset"})
		expect(t, r, http.StatusOK, "")
		return r.str("reset_token")
	}
	tok := resetToken()
	set := func(tok, pw string) resp {
		return e.post(t, "/api/auth/otp/new-password/", "", map[string]any{"reset_token": tok, "new_password": pw, "confirm_password": pw})
	}
	expect(t, set(tok, "weak"), http.StatusBadRequest, "invalid")
	expect(t, set(tok, "Mango-Rain-31!"), http.StatusOK, "")
	expect(t, set(tok, "Mango-Rain-32!"), http.StatusBadRequest, "invalid_reset_token")
	expect(t, set("made-up", "Mango-Rain-33!"), http.StatusBadRequest, "invalid_reset_token")

	tok = resetToken()
	e.clock.Advance(auth.ResetTokenTTL + time.Second)
	expect(t, set(tok, "Mango-Rain-34!"), http.StatusBadRequest, "invalid_reset_token")

	// A newer reset token kills the older one.
	old := resetToken()
	fresh := resetToken()
	expect(t, set(old, "Mango-Rain-35!"), http.StatusBadRequest, "invalid_reset_token")
	expect(t, set(fresh, "Mango-Rain-35!"), http.StatusOK, "")
	if n := e.count(t, `SELECT count(*) FROM password_reset_tokens WHERE used_at IS NULL`); n != 0 {
		t.Fatalf("%d reset tokens still usable", n)
	}
}

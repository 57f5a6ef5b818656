package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSigner(now *time.Time) *signer {
	return &signer{
		key: []byte("a jwt key of at least thirty-two bytes!!"), issuer: "creditjambo", audience: "creditjambo-api",
		ttl: 15 * time.Minute, now: func() time.Time { return *now },
	}
}

// forge builds a token with any header and claims, signed with key (no
// signature when key is nil).
func forge(header, claims map[string]any, key []byte) string {
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

func TestAccessTokenRoundTripAndAttacks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := testSigner(&now)
	want := Principal{UserID: 7, Role: RoleCustomer, DeviceID: 3, SessionID: 11}
	tok, exp, err := s.issue(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != 7 || got.Role != RoleCustomer || got.DeviceID != 3 || got.SessionID != 11 || got.TokenID == "" || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("round trip: %+v", got)
	}
	claims := map[string]any{
		"iss": "creditjambo", "aud": "creditjambo-api", "sub": "7", "role": "admin", "dev": "", "sid": "11",
		"typ": "access", "jti": "x", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for kk, vv := range claims {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	hs256 := map[string]any{"alg": "HS256", "typ": "JWT"}
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), `"role":"customer"`, `"role":"admin"`, 1)

	attacks := map[string]string{
		"alg none":              forge(map[string]any{"alg": "none", "typ": "JWT"}, claims, nil),
		"alg none, signed":      forge(map[string]any{"alg": "none", "typ": "JWT"}, claims, s.key),
		"HS512":                 forge(map[string]any{"alg": "HS512", "typ": "JWT"}, claims, s.key),
		"RS256 header":          forge(map[string]any{"alg": "RS256", "typ": "JWT"}, claims, s.key),
		"kid header":            forge(map[string]any{"alg": "HS256", "typ": "JWT", "kid": "1"}, claims, s.key),
		"signed with other key": forge(hs256, claims, []byte("another key of at least thirty-two bytes")),
		"tampered payload":      parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2],
		"signature stripped":    parts[0] + "." + parts[1] + ".",
		"padded signature":      tok + "=",
		"wrong issuer":          forge(hs256, with("iss", "evil"), s.key),
		"wrong audience":        forge(hs256, with("aud", "other"), s.key),
		"no exp":                forge(hs256, with("exp", nil), s.key),
		"string exp":            forge(hs256, with("exp", "tomorrow"), s.key),
		"jku header":            forge(map[string]any{"alg": "HS256", "typ": "JWT", "jku": "https://evil.example/k"}, claims, s.key),
		"expired":               forge(hs256, with("exp", now.Add(-time.Minute).Unix()), s.key),
		"refresh type":          forge(hs256, with("typ", "refresh"), s.key),
		"no type":               forge(hs256, with("typ", nil), s.key),
		"issued in the future":  forge(hs256, with("iat", now.Add(time.Hour).Unix()), s.key),
		"not yet valid":         forge(hs256, with("nbf", now.Add(time.Hour).Unix()), s.key),
		"customer without dev":  forge(hs256, with("role", "customer"), s.key),
		"bad role":              forge(hs256, with("role", "root"), s.key),
		"bad subject":           forge(hs256, with("sub", "0"), s.key),
		"two parts":             parts[0] + "." + parts[1],
		"opaque refresh token":  "Jm1V9d3lO0u8jv0oX6o8Q2YyE1xv3Wc0QqZ8G2w5c1k",
		"empty":                 "",
	}
	// The well-formed admin token is accepted: the attacks differ by one thing.
	if _, err := s.parse(forge(hs256, claims, s.key)); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	for name, tok := range attacks {
		if _, err := s.parse(tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: accepted (err %v)", name, err)
		}
	}
	// Expiry with the injected clock: valid until exp + leeway.
	now = now.Add(15*time.Minute + leeway - time.Second)
	if _, err := s.parse(tok); err != nil {
		t.Fatalf("inside leeway: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := s.parse(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("expired token accepted")
	}
}

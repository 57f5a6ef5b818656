package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Access tokens are JWTs (RFC 7519) signed with HMAC-SHA256. Only this
// package issues them, so the parser accepts exactly the header it writes:
// {"alg":"HS256","typ":"JWT"}. Any other header (alg "none", RS256 or HS512,
// a kid, a jku) is refused before the signature is even computed, which rules
// out algorithm confusion by construction. Claims: iss, aud, sub (the user
// id), role, dev (the devices row id, "" for an exempt admin), sid (the
// refresh family of the log-in), typ "access", jti, iat and exp, all
// required and checked.
//
// The module does not carry github.com/golang-jwt/jwt/v5 (go.mod is not ours
// to change), and a fixed-header HS256 token needs nothing but the standard
// library; the checks golang-jwt needs options for (fixed method, exp
// required, iss and aud checked, small leeway) are the only behaviour here.

// jwtHeader is the only header issued and accepted.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// tokenType is the typ claim of access tokens; a token of any other type is
// refused where an access token is expected.
const tokenType = "access"

// leeway is the clock skew tolerated on exp and iat.
const leeway = 30 * time.Second

// MinKeyLen is the shortest signing or hashing key accepted.
const MinKeyLen = 32

// accessClaims is the payload of an access token.
type accessClaims struct {
	Issuer    string `json:"iss"`
	Audience  string `json:"aud"`
	Subject   string `json:"sub"`
	Role      Role   `json:"role"`
	Device    string `json:"dev"`
	Session   string `json:"sid"`
	Type      string `json:"typ"`
	ID        string `json:"jti"`
	IssuedAt  int64  `json:"iat"`
	ExpiresAt int64  `json:"exp"`
}

// signer issues and checks access tokens.
type signer struct {
	key      []byte
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// issue signs an access token for p, valid for the signer's TTL from now.
func (s *signer) issue(p Principal) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.ttl)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	c := accessClaims{
		Issuer:    s.issuer,
		Audience:  s.audience,
		Subject:   strconv.FormatInt(p.UserID, 10),
		Role:      p.Role,
		Session:   strconv.FormatInt(p.SessionID, 10),
		Type:      tokenType,
		ID:        base64.RawURLEncoding.EncodeToString(jti),
		IssuedAt:  now.Unix(),
		ExpiresAt: exp.Unix(),
	}
	if p.DeviceID != 0 {
		c.Device = strconv.FormatInt(p.DeviceID, 10)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", time.Time{}, err
	}
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signing + "." + base64.RawURLEncoding.EncodeToString(s.mac(signing)), time.Unix(c.ExpiresAt, 0), nil
}

func (s *signer) mac(signing string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(signing))
	return m.Sum(nil)
}

// parse checks an access token and returns who it speaks for, or
// ErrInvalidToken (wrapped with the reason, for logs only).
func (s *signer) parse(token string) (Principal, error) {
	bad := func(why string) (Principal, error) { return Principal{}, fmt.Errorf("%w: %s", ErrInvalidToken, why) }
	if len(token) > 4096 {
		return bad("too long")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return bad("not a JWT")
	}
	if parts[0] != jwtHeader {
		return bad("header is not HS256")
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.mac(parts[0]+"."+parts[1])) {
		return bad("bad signature")
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(parts[1])
	if err != nil {
		return bad("bad payload encoding")
	}
	var c struct {
		Issuer    *string         `json:"iss"`
		Audience  json.RawMessage `json:"aud"`
		Subject   *string         `json:"sub"`
		Role      *string         `json:"role"`
		Device    *string         `json:"dev"`
		Session   *string         `json:"sid"`
		Type      *string         `json:"typ"`
		ID        *string         `json:"jti"`
		IssuedAt  *json.Number    `json:"iat"`
		ExpiresAt *json.Number    `json:"exp"`
		NotBefore *json.Number    `json:"nbf"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return bad("bad payload")
	}
	if c.Issuer == nil || *c.Issuer != s.issuer {
		return bad("wrong issuer")
	}
	if !audienceHas(c.Audience, s.audience) {
		return bad("wrong audience")
	}
	if c.Type == nil || *c.Type != tokenType {
		return bad("not an access token")
	}
	if c.ExpiresAt == nil || c.IssuedAt == nil {
		return bad("exp and iat are required")
	}
	exp, err1 := c.ExpiresAt.Int64()
	iat, err2 := c.IssuedAt.Int64()
	if err1 != nil || err2 != nil {
		return bad("exp and iat must be integers")
	}
	now := s.now()
	if !now.Before(time.Unix(exp, 0).Add(leeway)) {
		return bad("expired")
	}
	if time.Unix(iat, 0).After(now.Add(leeway)) {
		return bad("issued in the future")
	}
	if c.NotBefore != nil {
		nbf, err := c.NotBefore.Int64()
		if err != nil || time.Unix(nbf, 0).After(now.Add(leeway)) {
			return bad("not yet valid")
		}
	}
	if c.Subject == nil || c.Role == nil || c.Session == nil || c.ID == nil || *c.ID == "" {
		return bad("missing claims")
	}
	uid, err := strconv.ParseInt(*c.Subject, 10, 64)
	if err != nil || uid <= 0 {
		return bad("bad subject")
	}
	role, ok := ParseRole(*c.Role)
	if !ok {
		return bad("bad role")
	}
	sid, err := strconv.ParseInt(*c.Session, 10, 64)
	if err != nil || sid <= 0 {
		return bad("bad session")
	}
	var dev int64
	if c.Device != nil && *c.Device != "" {
		if dev, err = strconv.ParseInt(*c.Device, 10, 64); err != nil || dev <= 0 {
			return bad("bad device")
		}
	}
	if dev == 0 && role != RoleAdmin {
		return bad("device required")
	}
	return Principal{UserID: uid, Role: role, DeviceID: dev, SessionID: sid, TokenID: *c.ID, ExpiresAt: time.Unix(exp, 0)}, nil
}

// audienceHas reports whether the aud claim (a string or an array of
// strings) names want.
func audienceHas(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

// opaqueLen is the byte length of refresh and reset tokens: 256 bits.
const opaqueLen = 32

// newOpaque returns a random token for a client and its keyed hash for the
// database.
func newOpaque(key []byte, purpose string) (token string, hash []byte, err error) {
	b := make([]byte, opaqueLen)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, keyedHash(key, purpose, token), nil
}

// opaqueHash is the keyed hash of a token a client presents, or false when
// it cannot be one of ours (so no query is made for garbage).
func opaqueHash(key []byte, purpose, token string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != opaqueLen {
		return nil, false
	}
	return keyedHash(key, purpose, token), true
}

// keyedHash is HMAC-SHA256 under key of purpose and the parts, separated so
// that no two inputs collide and no hash is valid for another purpose.
func keyedHash(key []byte, purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("creditjambo/auth/" + purpose))
	for _, p := range parts {
		var n [8]byte
		l := len(p)
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

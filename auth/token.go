package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Access tokens are JWTs (RFC 7519) signed with HMAC-SHA256 by
// golang-jwt/jwt/v5, whose default parser is permissive: the parser here
// fixes the method to HS256 (alg "none", RS256 or HS512 are refused before
// any key is used, which rules out algorithm confusion), requires exp and
// iat, checks iss and aud, and allows 30 s of clock skew, on the injected
// clock. Claims: iss, aud, sub (the user id), role, dev (the devices row id,
// absent for an exempt admin), sid (the refresh family of the log-in), typ
// "access", jti, iat and exp, all required where they apply.

// tokenType is the typ claim of access tokens; a token of any other type is
// refused where an access token is expected.
const tokenType = "access"

// leeway is the clock skew tolerated on exp and iat.
const leeway = 30 * time.Second

// MinKeyLen is the shortest signing or hashing key accepted.
const MinKeyLen = 32

// maxTokenLen bounds what the parser is asked to look at.
const maxTokenLen = 4096

// accessClaims is the payload of an access token.
type accessClaims struct {
	jwt.RegisteredClaims
	Role    Role   `json:"role"`
	Device  string `json:"dev,omitempty"`
	Session string `json:"sid"`
	Type    string `json:"typ"`
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
	now := s.now().Truncate(time.Second)
	exp := now.Add(s.ttl)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", time.Time{}, err
	}
	c := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Audience:  jwt.ClaimStrings{s.audience},
			Subject:   strconv.FormatInt(p.UserID, 10),
			ID:        base64.RawURLEncoding.EncodeToString(jti),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Role:    p.Role,
		Session: strconv.FormatInt(p.SessionID, 10),
		Type:    tokenType,
	}
	if p.DeviceID != 0 {
		c.Device = strconv.FormatInt(p.DeviceID, 10)
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", time.Time{}, err
	}
	return signed, exp, nil
}

// parser is the strict parser of access tokens.
func (s *signer) parser() *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(s.issuer),
		jwt.WithAudience(s.audience),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(s.now),
	)
}

// parse checks an access token and returns who it speaks for, or
// ErrInvalidToken (wrapped with the reason, for logs only).
func (s *signer) parse(token string) (Principal, error) {
	bad := func(why string) (Principal, error) { return Principal{}, fmt.Errorf("%w: %s", ErrInvalidToken, why) }
	if len(token) > maxTokenLen {
		return bad("too long")
	}
	var c accessClaims
	_, err := s.parser().ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// The method was already checked against the allowed list; a key
		// id or key URL is never honoured: there is one key.
		if _, ok := t.Header["kid"]; ok {
			return nil, errors.New("kid not accepted")
		}
		if _, ok := t.Header["jku"]; ok {
			return nil, errors.New("jku not accepted")
		}
		return s.key, nil
	})
	if err != nil {
		return bad(err.Error())
	}
	if c.Type != tokenType {
		return bad("not an access token")
	}
	if c.IssuedAt == nil {
		return bad("iat is required")
	}
	if c.Subject == "" || c.Role == "" || c.Session == "" || c.ID == "" {
		return bad("missing claims")
	}
	uid, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || uid <= 0 {
		return bad("bad subject")
	}
	role, ok := ParseRole(string(c.Role))
	if !ok {
		return bad("bad role")
	}
	sid, err := strconv.ParseInt(c.Session, 10, 64)
	if err != nil || sid <= 0 {
		return bad("bad session")
	}
	var dev int64
	if c.Device != "" {
		if dev, err = strconv.ParseInt(c.Device, 10, 64); err != nil || dev <= 0 {
			return bad("bad device")
		}
	}
	if dev == 0 && role != RoleAdmin {
		return bad("device required")
	}
	return Principal{UserID: uid, Role: role, DeviceID: dev, SessionID: sid, TokenID: c.ID, ExpiresAt: c.ExpiresAt.Time}, nil
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

package jobs

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrSealed is returned (wrapped) by Sealer.Open when a sealed value is
// malformed, was sealed with another key, or was tampered with.
var ErrSealed = errors.New("jobs: sealed data cannot be opened")

// sealPrefix versions the sealed format.
const sealPrefix = "v1."

// sealInfo separates the sealing key from every other use of the secret it
// is derived from.
const sealInfo = "creditjambo/jobs/sealed-email-data/v1"

// Sealer encrypts small maps of secrets (an OTP code) with AES-256-GCM so
// that they can travel in a job's arguments, which River stores in clear in
// river_job.args, and be opened only by the worker that renders them. It is
// safe for concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer keyed from secret, which must hold at least 32
// bytes (the service's SECRET_KEY). The AES key is derived from it with HKDF,
// so the same secret may key other things too.
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("jobs: sealing secret is %d bytes, want at least 32", len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("jobs: derive sealing key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("jobs: sealing cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("jobs: sealing cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts data (as JSON) under a fresh random nonce and returns it as
// printable text: "v1." followed by base64url(nonce || ciphertext).
func (s *Sealer) Seal(data map[string]any) (string, error) {
	plain, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("jobs: seal: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("jobs: seal: %w", err)
	}
	sealed := s.aead.Seal(nonce, nonce, plain, []byte(sealInfo))
	return sealPrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open decrypts what Seal returned. Numbers come back as json.Number, so
// amounts keep their exact digits. It returns ErrSealed (wrapped) when sealed
// is malformed, was sealed under another key, or was altered.
func (s *Sealer) Open(sealed string) (map[string]any, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: unknown format", ErrSealed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: bad encoding", ErrSealed)
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(sealInfo))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrSealed)
	}
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(plain))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealed, err)
	}
	return data, nil
}

package auth

import (
	"bufio"
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. They are encoded in every hash, so
// raising them later only needs new hashes: each user's is upgraded at their
// next log-in.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // iterations
	Threads uint8  // lanes
}

// DefaultParams are OWASP's minimum for argon2id: 19 MiB, 2 iterations, one
// lane. About 40-60 ms per hash on the 2-core machines this runs on.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// maxPBKDF2Iterations bounds the cost of verifying an imported hash.
	maxPBKDF2Iterations = 10_000_000
)

// hasher hashes and verifies passwords, at most cap(sem) at a time: each
// argon2id hash takes tens of milliseconds of one CPU and 19 MiB, so a storm
// of log-ins queues here instead of exhausting the machine.
type hasher struct {
	params Params
	sem    chan struct{}
}

func newHasher(p Params, concurrency int) *hasher {
	if concurrency < 1 {
		concurrency = 1
	}
	return &hasher{params: p, sem: make(chan struct{}, concurrency)}
}

// acquire waits for a hashing slot, or for ctx to end.
func (h *hasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hasher) release() { <-h.sem }

// hash returns the PHC string of password under h's parameters:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, base64 without padding.
func (h *hasher) hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	key := argon2.IDKey([]byte(password), salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	return encodeArgon2(h.params, salt, key), nil
}

func encodeArgon2(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// errBadHash is a stored hash in no format verify knows.
var errBadHash = errors.New("auth: unrecognised password hash")

// verify reports whether password matches encoded, and whether encoded
// should be replaced by a hash under h's current parameters (an imported
// Django hash, or argon2id with other parameters). An unrecognised or
// malformed hash matches nothing.
func (h *hasher) verify(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, err := decodeArgon2(encoded)
		if err != nil {
			return false, false, nil
		}
		got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
		ok = subtle.ConstantTimeCompare(got, key) == 1
		return ok, ok && (p != h.params || len(salt) != saltLen || len(key) != keyLen), nil
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"), strings.HasPrefix(encoded, "pbkdf2_sha512$"):
		ok, err := verifyDjango(encoded, password)
		if err != nil {
			return false, false, nil
		}
		return ok, ok, nil
	}
	return false, false, nil
}

// decodeArgon2 parses a PHC argon2id string, refusing parameters no hash of
// ours would use (so that a corrupted row cannot make a log-in allocate
// gigabytes).
func decodeArgon2(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	var m, t, par uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, perr := strconv.ParseUint(v, 10, 32)
		if perr != nil {
			return p, nil, nil, errBadHash
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			par = n
		default:
			return p, nil, nil, errBadHash
		}
	}
	if m < 8 || m > 1<<20 || t < 1 || t > 32 || par < 1 || par > 16 {
		return p, nil, nil, errBadHash
	}
	if salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	if key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(par)}, salt, key, nil
}

// verifyDjango checks a hash of Django's PBKDF2 hashers:
// <algorithm>$<iterations>$<salt>$<base64 of the derived key>, the key as
// long as the digest (32 bytes for SHA-256, 64 for SHA-512).
func verifyDjango(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return false, errBadHash
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxPBKDF2Iterations || parts[2] == "" {
		return false, errBadHash
	}
	want, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return false, errBadHash
	}
	var got []byte
	switch parts[0] {
	case "pbkdf2_sha256":
		got, err = pbkdf2.Key(sha256.New, password, []byte(parts[2]), iter, sha256.Size)
	case "pbkdf2_sha512":
		got, err = pbkdf2.Key(sha512.New, password, []byte(parts[2]), iter, sha512.Size)
	default:
		return false, errBadHash
	}
	if err != nil || len(want) != len(got) {
		return false, errBadHash
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// recognisedHash reports whether encoded is a hash verify can check, for
// imported users.
func recognisedHash(encoded string) bool {
	if strings.HasPrefix(encoded, "$argon2id$") {
		_, _, _, err := decodeArgon2(encoded)
		return err == nil
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 || (parts[0] != "pbkdf2_sha256" && parts[0] != "pbkdf2_sha512") {
		return false
	}
	n, err := strconv.Atoi(parts[1])
	_, berr := base64.StdEncoding.DecodeString(parts[3])
	return err == nil && n >= 1 && n <= maxPBKDF2Iterations && parts[2] != "" && berr == nil
}

// Password rules (API.md): 8-128 characters with an upper-case letter, a
// lower-case letter, a digit and a special character, not containing the
// username, and not a common password.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// CheckPassword returns the reasons password breaks the rules for an account
// named username (none when it is acceptable).
func CheckPassword(password, username string) []string {
	var why []string
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen {
		why = append(why, fmt.Sprintf("Password must be at least %d characters long.", MinPasswordLen))
	}
	if n > MaxPasswordLen {
		why = append(why, fmt.Sprintf("Password must be at most %d characters long.", MaxPasswordLen))
	}
	var upper, lower, digit, special bool
	for _, r := range password {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case !unicode.IsLetter(r) && !unicode.IsSpace(r) && unicode.IsPrint(r):
			special = true
		}
	}
	if !upper {
		why = append(why, "Password must contain an upper-case letter.")
	}
	if !lower {
		why = append(why, "Password must contain a lower-case letter.")
	}
	if !digit {
		why = append(why, "Password must contain a digit.")
	}
	if !special {
		why = append(why, "Password must contain a special character such as ! @ # or ?.")
	}
	if username != "" && strings.Contains(strings.ToLower(password), strings.ToLower(username)) {
		why = append(why, "Password must not contain the username.")
	}
	if commonPassword(password) {
		why = append(why, "This password is too common.")
	}
	return why
}

//go:embed denylist.txt
var denylistText string

// denylist holds common passwords and the words they are built on, lower
// case, letters only where the word has letters.
var denylist = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(denylistText))
	for sc.Scan() {
		w := strings.TrimSpace(sc.Text())
		if w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = true
		}
	}
	return m
}()

// unleet undoes the usual substitutions: P@ssw0rd is password.
var unleet = strings.NewReplacer("@", "a", "4", "a", "0", "o", "1", "i", "!", "i", "3", "e", "$", "s", "5", "s", "7", "t", "+", "t", "9", "g", "8", "b")

// commonPassword reports whether password is on the denylist, or is a
// listed word dressed up the usual way: capitalised, with digits and
// symbols before or after it, letters swapped for look-alikes
// ("Password1!", "P@ssw0rd2024", "#Kigali123").
func commonPassword(password string) bool {
	p := strings.ToLower(password)
	if denylist[p] {
		return true
	}
	core := strings.TrimFunc(p, func(r rune) bool { return !unicode.IsLetter(r) })
	if core == "" {
		return false
	}
	// Keep the letters at the edges of the core, un-leet the inside.
	return denylist[core] || denylist[unleet.Replace(core)] ||
		denylist[strings.TrimFunc(unleet.Replace(p), func(r rune) bool { return !unicode.IsLetter(r) })]
}

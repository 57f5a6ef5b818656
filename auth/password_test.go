package auth

import (
	"context"
	"strings"
	"testing"
)

// Django hashes made with Python's hashlib exactly as Django's PBKDF2
// hashers make them (base64 of pbkdf2_hmac(digest, password, salt,
// iterations), the key as long as the digest).
var djangoVectors = []struct {
	hash, password string
}{
	{"pbkdf2_sha256$1000$seasalt$CHqNaNyPoL6v/BKFrOY89A425vkMLznAvM2MZ8sPx0U=", "Muraho-2024!"},
	{"pbkdf2_sha512$1000$seasalt$gImqiqPoh2+HvuXJoOus5GgC+uKTzNJwukeoNa1SIaRnr25LFYJJ4fVwLXdWNXQfN9/TYK0RyVrGxDKs9SVXow==", "Muraho-2024!"},
	// Django 5's default iteration count.
	{"pbkdf2_sha256$870000$Q8b3kZ1xYv0Lw2$ummcveAdoAugcySQRwJI9qUKkl45f1U5H8+imrT6ZGs=", "correct horse"},
}

func TestDjangoHashes(t *testing.T) {
	t.Parallel()
	h := newHasher(Params{Memory: 64, Time: 1, Threads: 1}, 2)
	ctx := context.Background()
	for _, v := range djangoVectors {
		ok, rehash, err := h.verify(ctx, v.hash, v.password)
		if err != nil || !ok || !rehash {
			t.Errorf("%.20s…: ok=%v rehash=%v err=%v, want a match to upgrade", v.hash, ok, rehash, err)
		}
		if ok, _, _ := h.verify(ctx, v.hash, v.password+"x"); ok {
			t.Errorf("%.20s…: wrong password matched", v.hash)
		}
		if !recognisedHash(v.hash) {
			t.Errorf("%.20s… not recognised", v.hash)
		}
	}
	for _, bad := range []string{
		"pbkdf2_sha256$1000$seasalt$", "pbkdf2_sha256$x$seasalt$CHqN", "pbkdf2_sha1$1000$s$AAAA",
		"pbkdf2_sha256$99999999999$s$AAAA", "md5$$abc", "", "!unusable",
		// A truncated key must not match a prefix.
		"pbkdf2_sha256$1000$seasalt$CHqNaNyPoL6v/BKFrOY89A==",
	} {
		if ok, _, _ := h.verify(ctx, bad, "Muraho-2024!"); ok {
			t.Errorf("malformed hash %q matched", bad)
		}
	}
}

func TestArgon2idHashAndRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHasher(DefaultParams, 1)
	enc, err := h.hash(ctx, "Plum-Tree-42!")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q does not carry OWASP's parameters", enc)
	}
	ok, rehash, err := h.verify(ctx, enc, "Plum-Tree-42!")
	if err != nil || !ok || rehash {
		t.Fatalf("verify: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := h.verify(ctx, enc, "plum-tree-42!"); ok {
		t.Fatal("wrong password matched")
	}
	// Raised parameters: the old hash still verifies, and asks to be redone.
	stronger := newHasher(Params{Memory: 32 * 1024, Time: 3, Threads: 1}, 1)
	ok, rehash, _ = stronger.verify(ctx, enc, "Plum-Tree-42!")
	if !ok || !rehash {
		t.Fatalf("after raising the parameters: ok=%v rehash=%v", ok, rehash)
	}
	// A corrupted row cannot make verify allocate without bound.
	huge := strings.Replace(enc, "m=19456", "m=4194304", 1)
	if ok, _, _ := h.verify(ctx, huge, "Plum-Tree-42!"); ok {
		t.Fatal("out-of-range parameters accepted")
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	t.Parallel()
	h := newHasher(Params{Memory: 64, Time: 1, Threads: 1}, 1)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.hash(ctx, "x"); err == nil {
		t.Fatal("hash ran beyond the bound")
	}
	h.release()
	if _, err := h.hash(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		password, username string
		want               string // a fragment of the first reason; "" = accepted
	}{
		{"Plum-Tree-42!", "aline", ""},
		{"Ab1!", "aline", "at least 8"},
		{strings.Repeat("Ab1!", 33), "aline", "at most 128"},
		{"plum-tree-42!", "aline", "upper-case"},
		{"PLUM-TREE-42!", "aline", "lower-case"},
		{"Plum-Tree-xx!", "aline", "digit"},
		{"PlumTree42", "aline", "special"},
		{"Aline-Rocks-42!", "aline", "username"},
		{"Password1!", "aline", "too common"},
		{"P@ssw0rd2024", "aline", "too common"},
		{"#Kigali123", "aline", "too common"},
		{"Qwerty123!", "aline", "too common"},
		{"Iloveyou2!", "aline", "too common"},
		{"Creditjambo1!", "aline", "too common"},
		{"Ubumwe-Bwacu-7", "aline", ""},
	}
	for _, c := range cases {
		why := CheckPassword(c.password, c.username)
		switch {
		case c.want == "" && len(why) > 0:
			t.Errorf("%q refused: %v", c.password, why)
		case c.want != "" && (len(why) == 0 || !strings.Contains(strings.Join(why, " "), c.want)):
			t.Errorf("%q: reasons %v, want one about %q", c.password, why, c.want)
		}
	}
}

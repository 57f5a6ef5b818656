package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func testSealer(t testing.TB, secret string) *Sealer {
	t.Helper()
	s, err := NewSealer([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	t.Parallel()
	s := testSealer(t, strings.Repeat("k", 32))
	sealed, err := s.Seal(map[string]any{"Code": "482913", "Amount": json.Number("1500.50")})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "482913") || !strings.HasPrefix(sealed, "v1.") {
		t.Fatalf("sealed = %q", sealed)
	}
	again, _ := s.Seal(map[string]any{"Code": "482913"})
	if again == sealed {
		t.Error("two seals of the same data are equal: nonce reused")
	}
	got, err := s.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if got["Code"] != "482913" || got["Amount"] != json.Number("1500.50") {
		t.Errorf("Open = %#v", got)
	}
}

func TestSealerRefuses(t *testing.T) {
	t.Parallel()
	if _, err := NewSealer(bytes.Repeat([]byte("k"), 31)); err == nil {
		t.Error("NewSealer accepted a 31-byte secret")
	}
	s := testSealer(t, strings.Repeat("k", 32))
	other := testSealer(t, strings.Repeat("o", 40))
	sealed, err := s.Seal(map[string]any{"Code": "482913"})
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(sealed)
	i := len(flipped) - 5
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	for name, in := range map[string]string{
		"other key": sealed,
		"tampered":  string(flipped),
		"truncated": sealed[:20],
		"no prefix": strings.TrimPrefix(sealed, "v1."),
		"not b64":   "v1.!!!",
		"empty":     "",
	} {
		op := s
		if name == "other key" {
			op = other
		}
		if _, err := op.Open(in); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: Open error %v, want ErrSealed", name, err)
		}
	}
}

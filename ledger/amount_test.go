package ledger_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/creditjambo/creditjambo/ledger"
)

func TestParseAmount(t *testing.T) {
	t.Parallel()
	accepted := map[string]string{
		"0.01": "0.01", "0.5": "0.50", "1": "1.00", "10": "10.00", "1000": "1000.00", "250.5": "250.50",
		"749.50": "749.50", "1500.00": "1500.00", "999999999999": "999999999999.00",
		"9999999999.99": "9999999999.99", "0.10": "0.10", "100.1": "100.10",
	}
	for in, want := range accepted {
		a, err := ledger.ParseAmount(in)
		if err != nil {
			t.Errorf("ParseAmount(%q): %v", in, err)
			continue
		}
		if a.String() != want {
			t.Errorf("ParseAmount(%q) = %s, want %s", in, a, want)
		}
	}
	rejected := map[string]string{
		"":               "empty",
		"-5":             "negative",
		"-0.01":          "negative",
		"0":              "at least 0.01",
		"0.00":           "at least 0.01",
		"0.0":            "at least 0.01",
		"1e3":            "exponent",
		"1E3":            "exponent",
		"+5":             "sign",
		".5":             "before the decimal point",
		"5.":             "after the decimal point",
		" 5":             "spaces",
		"5 ":             "spaces",
		"1 000":          "spaces",
		"1,000":          "separators",
		"1_000":          "separators",
		"1.000.00":       "separators",
		"١٢":             "only the digits",
		"５":              "only the digits",
		"1.234":          "2 decimal places",
		"0.001":          "2 decimal places",
		"1234567890123":  "at most 12 digits",
		"12345678901.23": "at most 12 digits",
		"01":             "leading zeros",
		"00.5":           "leading zeros",
		"NaN":            "only the digits",
		"Infinity":       "only the digits",
		"abc":            "only the digits",
		"0x10":           "only the digits",
	}
	for in, reason := range rejected {
		_, err := ledger.ParseAmount(in)
		if err == nil {
			t.Errorf("ParseAmount(%q) accepted", in)
			continue
		}
		var ae *ledger.AmountError
		if !errors.As(err, &ae) || !errors.Is(err, ledger.ErrInvalidAmount) {
			t.Errorf("ParseAmount(%q) error %T %v is not an AmountError", in, err, err)
			continue
		}
		if !strings.Contains(ae.Reason, reason) {
			t.Errorf("ParseAmount(%q) reason %q, want it to mention %q", in, ae.Reason, reason)
		}
	}
}

func TestParseSignedAmount(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"-5": "-5.00", "5": "5.00", "-0.01": "-0.01", "-749.5": "-749.50"} {
		a, err := ledger.ParseSignedAmount(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseSignedAmount(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, in := range []string{"", "-", "--5", "-0", "-0.00", "+5", "-+5", "- 5", "-1e3", "-.5"} {
		if _, err := ledger.ParseSignedAmount(in); err == nil {
			t.Errorf("ParseSignedAmount(%q) accepted", in)
		}
	}
}

func TestAmountJSON(t *testing.T) {
	t.Parallel()
	type req struct {
		Amount ledger.Amount `json:"amount"`
	}
	ok := map[string]string{
		`{"amount": "1000"}`:   "1000.00",
		`{"amount": 250.5}`:    "250.50",
		`{"amount": "10.50"}`:  "10.50",
		`{"amount": 10.50}`:    "10.50",
		`{"amount": "\u0031"}`: "1.00",
	}
	for in, want := range ok {
		var r req
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if r.Amount.String() != want {
			t.Errorf("%s: got %s, want %s", in, r.Amount, want)
		}
		out, _ := json.Marshal(r)
		if string(out) != `{"amount":"`+want+`"}` {
			t.Errorf("marshal %s: %s", in, out)
		}
	}
	for _, in := range []string{
		`{"amount": null}`, `{"amount": -5}`, `{"amount": 0}`, `{"amount": 1e3}`, `{"amount": 1.5e2}`,
		`{"amount": 1.234}`, `{"amount": "1.234"}`, `{"amount": ""}`, `{"amount": " 5"}`, `{"amount": true}`,
		`{"amount": [1]}`, `{"amount": {}}`, `{"amount": "-5"}`, `{"amount": 0.001}`, `{"amount": 1234567890123}`,
		`{"amount": "+5"}`, `{"amount": "1,000"}`,
	} {
		var r req
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("%s accepted as %s", in, r.Amount)
		}
	}
	var s struct {
		A ledger.SignedAmount `json:"a"`
	}
	if err := json.Unmarshal([]byte(`{"a": -5}`), &s); err != nil || s.A.String() != "-5.00" {
		t.Errorf("signed -5: %v %v", s.A, err)
	}
	if out, _ := json.Marshal(s); string(out) != `{"a":"-5.00"}` {
		t.Errorf("signed marshal: %s", out)
	}
}

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"0": "0.00", "1.5": "1.50", "-5": "-5.00", "1500": "1500.00", "12.34": "12.34"} {
		if got := ledger.FormatMoney(dec(in)); got != want {
			t.Errorf("FormatMoney(%s) = %s, want %s", in, got, want)
		}
	}
}

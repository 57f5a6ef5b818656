package ledger

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shopspring/decimal"
)

// maxAmountDigits is the most digits (integer and fraction together) an
// amount may have (API.md, "Money").
const maxAmountDigits = 12

// Amount is a positive amount of money with at most two decimals and at most
// twelve digits. The only ways to build one are ParseAmount and
// UnmarshalJSON, which apply the money rules of API.md to the literal text,
// so an Amount other than the zero value is always valid. The zero value is
// not an amount; the ledger rejects it.
type Amount struct {
	d decimal.Decimal
}

// SignedAmount is an Amount with an optional minus sign, for admin
// adjustments. Built only by ParseSignedAmount and UnmarshalJSON.
type SignedAmount struct {
	abs Amount
	neg bool
}

// AmountError says why a literal is not an amount. It matches
// ErrInvalidAmount with errors.Is.
type AmountError struct {
	Input  string // the literal, as received
	Reason string // a sentence fragment for a field error, e.g. "must not be negative"
}

func (e *AmountError) Error() string { return fmt.Sprintf("invalid amount %q: %s", e.Input, e.Reason) }

// Is makes errors.Is(err, ErrInvalidAmount) true.
func (e *AmountError) Is(target error) bool { return target == ErrInvalidAmount }

// ErrInvalidAmount matches every *AmountError.
var ErrInvalidAmount = errors.New("invalid amount")

// ParseAmount parses the literal text of a money value (the content of a JSON
// string, or a JSON number literal as written) by the rules of API.md:
// ^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$, at least 0.01, at most 12 digits in all.
// Anything else is an *AmountError naming the reason; nothing is rounded.
func ParseAmount(s string) (Amount, error) {
	bad := func(reason string) (Amount, error) { return Amount{}, &AmountError{Input: s, Reason: reason} }
	if s == "" {
		return bad("must not be empty")
	}
	switch s[0] {
	case '-':
		return bad("must not be negative")
	case '+':
		return bad("must not carry a sign")
	case '.':
		return bad("must have a digit before the decimal point")
	}
	intDigits, fracDigits, dot := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if dot {
				fracDigits++
			} else {
				intDigits++
			}
		case c == '.' && !dot:
			dot = true
		case c == 'e' || c == 'E':
			return bad("must not use exponent notation")
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return bad("must not contain spaces")
		case c == ',' || c == '_' || c == '\'' || c == '.':
			return bad("must not contain separators")
		default:
			return bad("must contain only the digits 0-9 and a decimal point")
		}
	}
	switch {
	case dot && fracDigits == 0:
		return bad("must have a digit after the decimal point")
	case fracDigits > 2:
		return bad("must have at most 2 decimal places")
	case intDigits > 1 && s[0] == '0':
		return bad("must not have leading zeros")
	case intDigits+fracDigits > maxAmountDigits:
		return bad(fmt.Sprintf("must have at most %d digits", maxAmountDigits))
	}
	d, err := decimal.NewFromString(s)
	if err != nil { // unreachable: the text was checked above
		return bad("is not a number")
	}
	if d.LessThan(minAmount) {
		return bad("must be at least 0.01")
	}
	return Amount{d: d}, nil
}

var minAmount = decimal.New(1, -2)

// ParseSignedAmount is ParseAmount allowing one leading minus sign.
func ParseSignedAmount(s string) (SignedAmount, error) {
	neg := len(s) > 0 && s[0] == '-'
	body := s
	if neg {
		body = s[1:]
	}
	a, err := ParseAmount(body)
	if err != nil {
		var ae *AmountError
		if errors.As(err, &ae) {
			ae.Input = s
		}
		return SignedAmount{}, err
	}
	return SignedAmount{abs: a, neg: neg}, nil
}

// IsZero reports whether a is the zero value, which is not an amount.
func (a Amount) IsZero() bool { return a.d.IsZero() }

// Decimal returns the value.
func (a Amount) Decimal() decimal.Decimal { return a.d }

// String returns the value with exactly two decimals, e.g. "1500.00".
func (a Amount) String() string { return FormatMoney(a.d) }

// MarshalJSON encodes the amount as a string with two decimals: "1500.00".
func (a Amount) MarshalJSON() ([]byte, error) { return json.Marshal(a.String()) }

// UnmarshalJSON accepts a JSON string or number and applies ParseAmount to
// its literal text; null and every other JSON type are rejected.
func (a *Amount) UnmarshalJSON(b []byte) error {
	lit, err := moneyLiteral(b)
	if err != nil {
		return err
	}
	v, err := ParseAmount(lit)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// IsZero reports whether s is the zero value, which is not an amount.
func (s SignedAmount) IsZero() bool { return s.abs.IsZero() }

// Negative reports whether the amount carries a minus sign.
func (s SignedAmount) Negative() bool { return s.neg }

// Abs returns the amount without its sign.
func (s SignedAmount) Abs() Amount { return s.abs }

// Decimal returns the signed value.
func (s SignedAmount) Decimal() decimal.Decimal {
	if s.neg {
		return s.abs.d.Neg()
	}
	return s.abs.d
}

// String returns the signed value with two decimals, e.g. "-5.00".
func (s SignedAmount) String() string { return FormatMoney(s.Decimal()) }

// MarshalJSON encodes the amount as a string: "-5.00".
func (s SignedAmount) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON accepts a JSON string or number and applies
// ParseSignedAmount to its literal text.
func (s *SignedAmount) UnmarshalJSON(b []byte) error {
	lit, err := moneyLiteral(b)
	if err != nil {
		return err
	}
	v, err := ParseSignedAmount(lit)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// moneyLiteral returns the literal text of a JSON string or number value.
func moneyLiteral(b []byte) (string, error) {
	if len(b) == 0 {
		return "", &AmountError{Input: "", Reason: "must not be empty"}
	}
	switch c := b[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", &AmountError{Input: string(b), Reason: "is not a valid JSON string"}
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		// A number literal: judged by its text as written, never as a float.
		return string(b), nil
	case c == 'n':
		return "", &AmountError{Input: string(b), Reason: "must not be null"}
	default:
		return "", &AmountError{Input: string(b), Reason: "must be a string or a number"}
	}
}

// FormatMoney formats d with exactly two decimals ("1500.00", "-5.00"). Values
// held by the ledger never have more than two decimals, so nothing is rounded
// in practice; a value with more is rounded half away from zero.
func FormatMoney(d decimal.Decimal) string { return d.StringFixed(2) }

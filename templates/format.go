package templates

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"strings"
	"time"
	_ "time/tzdata" // Africa/Kigali must load on machines without a zoneinfo database.

	"github.com/shopspring/decimal"
)

// ErrBadValue is returned (wrapped) when a value given to a template cannot
// be formatted: a float or malformed string as money, a time that is neither
// a time.Time nor an RFC 3339 string.
var ErrBadValue = errors.New("templates: value cannot be formatted")

// kigaliZone is where the service's customers live: every time in an email is
// shown in it, with the zone's name.
const kigaliZone = "Africa/Kigali"

// FormatMoney formats an amount as "1,234,567.50 RWF": thousands separated by
// commas, exactly two decimals (rounded half away from zero if given more),
// a leading "-" when negative, then the currency when it is not empty. The
// amount is a decimal.Decimal (or pointer), a decimal string, a json.Number or
// an integer; a float is refused with ErrBadValue, because money never goes
// through a float.
func FormatMoney(v any, currency string) (string, error) {
	d, err := toDecimal(v)
	if err != nil {
		return "", err
	}
	s := d.StringFixed(2)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteString(sign)
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	b.WriteByte('.')
	b.WriteString(frac)
	if currency != "" {
		b.WriteByte(' ')
		b.WriteString(currency)
	}
	return b.String(), nil
}

func toDecimal(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case decimal.Decimal:
		return x, nil
	case *decimal.Decimal:
		if x != nil {
			return *x, nil
		}
	case string:
		d, err := decimal.NewFromString(strings.TrimSpace(x))
		if err == nil {
			return d, nil
		}
	case json.Number:
		d, err := decimal.NewFromString(x.String())
		if err == nil {
			return d, nil
		}
	case int:
		return decimal.NewFromInt(int64(x)), nil
	case int32:
		return decimal.NewFromInt32(x), nil
	case int64:
		return decimal.NewFromInt(x), nil
	}
	return decimal.Decimal{}, fmt.Errorf("%w: money %T %v", ErrBadValue, v, v)
}

// formatTime shows t in loc as "3 Dec 2026, 19:47 CAT" (English) or
// "3 Ukuboza 2026, 19:47 CAT" (Kinyarwanda).
func formatTime(t time.Time, lang string, loc *time.Location) string {
	t = t.In(loc)
	if lang == "rw" {
		rwMonths := [12]string{
			"Mutarama", "Gashyantare", "Werurwe", "Mata", "Gicurasi", "Kamena",
			"Nyakanga", "Kanama", "Nzeri", "Ukwakira", "Ugushyingo", "Ukuboza",
		}
		return fmt.Sprintf("%d %s %d, %s", t.Day(), rwMonths[t.Month()-1], t.Year(), t.Format("15:04 MST"))
	}
	return t.Format("2 Jan 2006, 15:04 MST")
}

// toTime accepts a time.Time, a *time.Time or an RFC 3339 string. nil and
// the empty string give the zero time and ok false: the email shows no time.
func toTime(v any) (t time.Time, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return x, !x.IsZero(), nil
	case *time.Time:
		if x == nil {
			return time.Time{}, false, nil
		}
		return *x, !x.IsZero(), nil
	case string:
		if x == "" {
			return time.Time{}, false, nil
		}
		t, err := time.Parse(time.RFC3339Nano, x)
		if err == nil {
			return t, true, nil
		}
	}
	return time.Time{}, false, fmt.Errorf("%w: time %T %v", ErrBadValue, v, v)
}

// Row is one line of an information table in an email: a label and its
// value, both already formatted.
type Row struct {
	Label, Value string
}

// rows turns label, value, label, value... into Rows, leaving out a row whose
// value is empty so that optional details simply disappear.
func rows(kv ...any) ([]Row, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("rows: odd number of arguments")
	}
	var out []Row
	for i := 0; i < len(kv); i += 2 {
		label, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("rows: label %v is not a string", kv[i])
		}
		var value string
		if kv[i+1] != nil {
			value = strings.TrimSpace(fmt.Sprint(kv[i+1]))
		}
		if value != "" {
			out = append(out, Row{Label: label, Value: value})
		}
	}
	return out, nil
}

// infoText lays rows out for the plain-text part, values aligned:
//
//	Amount:         1,500.00 RWF
//	Balance after:  26,750.50 RWF
func infoText(rs []Row) string {
	width := 0
	for _, r := range rs {
		width = max(width, len([]rune(r.Label)))
	}
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  ")
		b.WriteString(r.Label)
		b.WriteString(":")
		b.WriteString(strings.Repeat(" ", width-len([]rune(r.Label))+2))
		b.WriteString(r.Value)
		b.WriteString("\n")
	}
	return b.String()
}

// dict builds a map from key, value pairs, to pass several values to a
// component.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, errors.New("dict: odd number of arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// paragraphs renders plain text as HTML paragraphs: blank lines separate
// paragraphs, single newlines become line breaks. The text is escaped here,
// which is why the result may be marked safe.
func paragraphs(s string) template.HTML {
	s = strings.ReplaceAll(strings.TrimSpace(s), "\r\n", "\n")
	var b strings.Builder
	for _, p := range strings.Split(s, "\n\n") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		lines := strings.Split(p, "\n")
		for i := range lines {
			lines[i] = template.HTMLEscapeString(strings.TrimSpace(lines[i]))
		}
		b.WriteString(`<p style="margin:0 0 16px;">`)
		b.WriteString(strings.Join(lines, "<br>"))
		b.WriteString("</p>\n")
	}
	return template.HTML(b.String()) //nolint:gosec // Every piece was escaped above.
}

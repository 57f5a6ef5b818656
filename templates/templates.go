package templates

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"

	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed email
var files embed.FS

// Errors returned (wrapped) by Render.
var (
	// ErrUnknownTemplate is returned for an email name that has no templates.
	ErrUnknownTemplate = errors.New("templates: unknown email template")
	// ErrUnknownLanguage is returned for a language the emails are not
	// written in. Render does not fall back to English by itself.
	ErrUnknownLanguage = errors.New("templates: unknown language")
)

// languages are the languages every email is written in; English first, as
// the one a caller would usually fall back to.
func languages() []string { return []string{"en", "rw"} }

// Message is a rendered email.
type Message struct {
	Subject string // one line, no trailing space
	HTML    string // a complete HTML document
	Text    string // the plain-text alternative
}

// Options configure a Renderer.
type Options struct {
	// FrontendURL is the base of links in emails, e.g.
	// "https://app.creditjambo.com". A trailing slash is removed.
	FrontendURL string
	// Now returns the current time (the footer's year). Defaults to time.Now.
	Now func() time.Time
}

// Renderer renders the embedded emails. It is safe for concurrent use.
type Renderer struct {
	sets        map[setKey]set
	names       []string
	loc         *time.Location
	frontendURL string
	now         func() time.Time
	optional    map[string]map[string]any
}

type setKey struct{ name, lang string }

type set struct {
	html *htmltemplate.Template
	text *texttemplate.Template
}

// New parses every embedded template and renders each email in each language
// with its Samples data, so that any mistake in a template (syntax, a missing
// file, a missing definition, a key the sample lacks, an escaping problem)
// stops start-up here with an error naming the file, rather than failing a
// job later.
func New(opts Options) (*Renderer, error) {
	loc, err := time.LoadLocation(kigaliZone)
	if err != nil {
		return nil, fmt.Errorf("templates: load %s: %w", kigaliZone, err)
	}
	r := &Renderer{
		sets:        make(map[setKey]set),
		loc:         loc,
		frontendURL: strings.TrimRight(opts.FrontendURL, "/"),
		now:         opts.Now,
		optional:    optional(),
	}
	if r.now == nil {
		r.now = time.Now
	}
	names, err := r.findNames()
	if err != nil {
		return nil, err
	}
	r.names = names
	for _, lang := range languages() {
		for _, name := range names {
			s, err := r.parse(name, lang)
			if err != nil {
				return nil, err
			}
			r.sets[setKey{name, lang}] = s
		}
	}
	samples := Samples()
	for _, name := range names {
		data, ok := samples[name]
		if !ok {
			return nil, fmt.Errorf("templates: %s has no sample data", name)
		}
		for _, lang := range languages() {
			if _, err := r.Render(name, lang, data); err != nil {
				return nil, fmt.Errorf("templates: sample render: %w", err)
			}
		}
	}
	return r, nil
}

// findNames lists the emails that have files, checking that each is written
// in every language as HTML and text, and that each is a known email.
func (r *Renderer) findNames() ([]string, error) {
	byLang := make(map[string][]string)
	for _, lang := range languages() {
		entries, err := fs.ReadDir(files, "email/"+lang)
		if err != nil {
			return nil, fmt.Errorf("templates: %w", err)
		}
		for _, e := range entries {
			n := e.Name()
			if !strings.HasSuffix(n, ".html.tmpl") {
				continue
			}
			byLang[lang] = append(byLang[lang], strings.TrimSuffix(n, ".html.tmpl"))
		}
	}
	names := byLang["en"]
	slices.Sort(names)
	for _, lang := range languages() {
		got := byLang[lang]
		slices.Sort(got)
		if !slices.Equal(got, names) {
			return nil, fmt.Errorf("templates: email/%s has %v, email/en has %v", lang, got, names)
		}
		for _, name := range names {
			txt := "email/" + lang + "/" + name + ".txt.tmpl"
			if _, err := fs.Stat(files, txt); err != nil {
				return nil, fmt.Errorf("templates: %s is missing", txt)
			}
		}
	}
	known := slices.Sorted(maps.Keys(r.optional))
	if !slices.Equal(known, names) {
		return nil, fmt.Errorf("templates: files for %v but known emails %v", names, known)
	}
	return names, nil
}

// parse builds the HTML and text template sets of one email in one language:
// layout, components, the language's shared sentences, then the email.
func (r *Renderer) parse(name, lang string) (set, error) {
	common := "email/" + lang + "/common.tmpl"
	htmlFile := "email/" + lang + "/" + name + ".html.tmpl"
	textFile := "email/" + lang + "/" + name + ".txt.tmpl"
	funcs := r.funcs(lang)

	h, err := htmltemplate.New(name).Option("missingkey=error").Funcs(htmltemplate.FuncMap(funcs)).
		ParseFS(files, "email/layout.html.tmpl", "email/components.html.tmpl", common, htmlFile)
	if err != nil {
		return set{}, fmt.Errorf("templates: parse %s: %w", htmlFile, err)
	}
	t, err := texttemplate.New(name).Option("missingkey=error").Funcs(texttemplate.FuncMap(funcs)).
		ParseFS(files, "email/layout.txt.tmpl", common, textFile)
	if err != nil {
		return set{}, fmt.Errorf("templates: parse %s: %w", textFile, err)
	}
	for _, def := range []string{"layout", "preheader", "content"} {
		if h.Lookup(def) == nil {
			return set{}, fmt.Errorf("templates: %s: %q is not defined", htmlFile, def)
		}
	}
	for _, def := range []string{"layout", "subject", "content"} {
		if t.Lookup(def) == nil {
			return set{}, fmt.Errorf("templates: %s: %q is not defined", textFile, def)
		}
	}
	return set{html: h, text: t}, nil
}

// funcs are the template functions of one language.
func (r *Renderer) funcs(lang string) map[string]any {
	return map[string]any{
		"money": FormatMoney,
		"when": func(v any) (string, error) {
			t, ok, err := toTime(v)
			if err != nil || !ok {
				return "", err
			}
			return formatTime(t, lang, r.loc), nil
		},
		"rows":       rows,
		"infoText":   infoText,
		"dict":       dict,
		"paragraphs": paragraphs,
	}
}

// Names returns the names of all emails, sorted.
func (r *Renderer) Names() []string { return slices.Clone(r.names) }

// Languages returns the languages every email is written in, English first.
func (r *Renderer) Languages() []string { return languages() }

// FormatTime shows t in Africa/Kigali time with the zone named, as the emails
// do: "3 Dec 2026, 19:47 CAT", or "3 Ukuboza 2026, 19:47 CAT" for "rw".
func (r *Renderer) FormatTime(t time.Time, lang string) string {
	return formatTime(t, lang, r.loc)
}

// Render renders the email name in lang with data (see the name constants for
// the keys each email reads). It returns ErrUnknownTemplate or
// ErrUnknownLanguage (wrapped) for a name or language without templates, and
// an error naming the key when data lacks one the email needs or holds a
// value that cannot be formatted (ErrBadValue). data is not modified.
func (r *Renderer) Render(name, lang string, data map[string]any) (Message, error) {
	if !slices.Contains(languages(), lang) {
		return Message{}, fmt.Errorf("%w: %q", ErrUnknownLanguage, lang)
	}
	s, ok := r.sets[setKey{name, lang}]
	if !ok {
		return Message{}, fmt.Errorf("%w: %q", ErrUnknownTemplate, name)
	}

	d := make(map[string]any, len(data)+8)
	d["Name"] = ""
	d["FrontendURL"] = r.frontendURL
	maps.Copy(d, r.optional[name])
	maps.Copy(d, data)
	d["Lang"] = lang
	d["Year"] = r.now().In(r.loc).Year()

	var b strings.Builder
	if err := s.text.ExecuteTemplate(&b, "subject", d); err != nil {
		return Message{}, fmt.Errorf("templates: %s/%s subject: %w", lang, name, err)
	}
	subject := strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return Message{}, fmt.Errorf("templates: %s/%s: empty subject", lang, name)
	}
	d["Subject"] = subject

	b.Reset()
	if err := s.html.ExecuteTemplate(&b, "layout", d); err != nil {
		return Message{}, fmt.Errorf("templates: %s/%s html: %w", lang, name, err)
	}
	html := b.String()

	b.Reset()
	if err := s.text.ExecuteTemplate(&b, "layout", d); err != nil {
		return Message{}, fmt.Errorf("templates: %s/%s text: %w", lang, name, err)
	}
	return Message{Subject: subject, HTML: html, Text: tidyText(b.String())}, nil
}

var blankRuns = regexp.MustCompile(`\n{3,}`)

// tidyText removes trailing spaces and runs of blank lines that template
// actions leave behind, so the text templates can be written readably.
func tidyText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	s = blankRuns.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.Trim(s, "\n") + "\n"
}

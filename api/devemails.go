package api

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/creditjambo/creditjambo/jobs"
	"github.com/creditjambo/creditjambo/templates"
)

// devEmailsPrefix is where the email preview pages live. They are served
// only in debug mode (the wiring decides), under a path prefix.
const devEmailsPrefix = "/dev/emails"

// devEmailsHandler serves the email preview pages, rendering every email
// with templates.Samples:
//
//	GET /dev/emails/               index of every email × language
//	GET /dev/emails/{name}/{lang}      the HTML part
//	GET /dev/emails/{name}/{lang}.txt  the text part (text/plain)
//
// It works whether or not the prefix is stripped before it.
func devEmailsHandler(r *templates.Renderer) http.Handler {
	return devEmailsHandlerWithOutbox(r, nil)
}

// devEmailsHandlerWithOutbox is devEmailsHandler plus the emails the console
// mailer kept (outbox is typically (*jobs.ConsoleSender).Recent), listed on
// the index, newest first, and served at
//
//	GET /dev/emails/outbox/{message-id}      the HTML part
//	GET /dev/emails/outbox/{message-id}.txt  the text part
func devEmailsHandlerWithOutbox(r *templates.Renderer, outbox func() []jobs.OutgoingEmail) http.Handler {
	return &devEmails{
		renderer: r,
		outbox:   outbox,
		index:    template.Must(template.New("index").Parse(devEmailsIndexHTML)),
	}
}

type devEmails struct {
	renderer *templates.Renderer
	outbox   func() []jobs.OutgoingEmail
	index    *template.Template
}

func (h *devEmails) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		devEmailsError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed.")
		return
	}
	rest := req.URL.Path
	if i := strings.Index(rest, devEmailsPrefix); i >= 0 {
		rest = rest[i+len(devEmailsPrefix):]
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		h.serveIndex(w)
		return
	}
	first, second, ok := strings.Cut(rest, "/")
	if !ok || second == "" || strings.Contains(second, "/") {
		devEmailsError(w, http.StatusNotFound, "not_found", "No such preview.")
		return
	}
	second, asText := strings.CutSuffix(second, ".txt")

	var msg templates.Message
	if first == "outbox" {
		found := false
		for _, m := range h.recent() {
			if m.MessageID == second {
				msg, found = templates.Message{Subject: m.Subject, HTML: m.HTML, Text: m.Text}, true
				break
			}
		}
		if !found {
			devEmailsError(w, http.StatusNotFound, "not_found", "That email is no longer kept.")
			return
		}
	} else {
		var err error
		msg, err = h.renderer.Render(first, second, templates.Samples()[first])
		switch {
		case errors.Is(err, templates.ErrUnknownTemplate), errors.Is(err, templates.ErrUnknownLanguage):
			devEmailsError(w, http.StatusNotFound, "not_found", err.Error())
			return
		case err != nil:
			// A debug page: the template error is what the developer needs.
			devEmailsError(w, http.StatusInternalServerError, "render_failed", err.Error())
			return
		}
	}

	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if asText {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Subject: " + msg.Subject + "\n\n" + msg.Text))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(msg.HTML))
}

func (h *devEmails) recent() []jobs.OutgoingEmail {
	if h.outbox == nil {
		return nil
	}
	return h.outbox()
}

// devEmailsRow is one line of the index.
type devEmailsRow struct {
	Name  string
	Langs []devEmailsLang
}

type devEmailsLang struct {
	Lang, Subject, Error string
}

func (h *devEmails) serveIndex(w http.ResponseWriter) {
	samples := templates.Samples()
	var rows []devEmailsRow
	for _, name := range h.renderer.Names() {
		row := devEmailsRow{Name: name}
		for _, lang := range h.renderer.Languages() {
			l := devEmailsLang{Lang: lang}
			if m, err := h.renderer.Render(name, lang, samples[name]); err != nil {
				l.Error = err.Error()
			} else {
				l.Subject = m.Subject
			}
			row.Langs = append(row.Langs, l)
		}
		rows = append(rows, row)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	err := h.index.Execute(w, map[string]any{
		"Prefix":  devEmailsPrefix,
		"Rows":    rows,
		"Outbox":  h.recent(),
		"HasSink": h.outbox != nil,
	})
	if err != nil {
		// Headers are gone; the page is cut short and the developer sees it.
		_, _ = w.Write([]byte("\n<!-- " + template.HTMLEscapeString(err.Error()) + " -->"))
	}
}

func devEmailsError(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"detail": detail, "code": code})
}

const devEmailsIndexHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Email previews — CreditJambo</title>
<style>
  body { margin: 0; background: #F4F1EA; color: #1F2A24; font: 15px/1.5 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
  header { background: #0B6E4F; color: #fff; padding: 18px 32px; border-bottom: 4px solid #F4B942; }
  header b { color: #F4B942; }
  main { max-width: 1000px; margin: 24px auto; padding: 0 16px; }
  table { width: 100%; border-collapse: collapse; background: #fff; border-radius: 10px; overflow: hidden; margin-bottom: 28px; }
  th, td { text-align: left; padding: 10px 14px; border-bottom: 1px solid #ECE7DC; vertical-align: top; }
  th { background: #FAF7F0; font-size: 13px; text-transform: uppercase; letter-spacing: .5px; color: #6B7570; }
  a { color: #0B6E4F; }
  code { font-size: 13px; }
  .muted { color: #6B7570; font-size: 13px; }
  .err { color: #B3261E; font-size: 13px; }
</style>
</head>
<body>
<header>Credit<b>Jambo</b> · email previews (debug only)</header>
<main>
<p class="muted">Each email rendered with its sample data. HTML opens the email as a client would show it; text is the plain-text alternative.</p>
<table>
<tr><th>Email</th>{{range (index .Rows 0).Langs}}<th>{{.Lang}}</th>{{end}}</tr>
{{- range .Rows}}
<tr>
  <td><code>{{.Name}}</code></td>
  {{- $name := .Name}}
  {{- range .Langs}}
  <td>
    {{- if .Error}}<span class="err">{{.Error}}</span>
    {{- else}}{{.Subject}}<br><span class="muted"><a href="{{$.Prefix}}/{{$name}}/{{.Lang}}">HTML</a> · <a href="{{$.Prefix}}/{{$name}}/{{.Lang}}.txt">text</a></span>{{end}}
  </td>
  {{- end}}
</tr>
{{- end}}
</table>
{{- if .HasSink}}
<h2>Outbox (console mailer, newest first)</h2>
{{- if .Outbox}}
<table>
<tr><th>Date</th><th>To</th><th>Subject</th><th>Email</th></tr>
{{- range .Outbox}}
<tr>
  <td class="muted">{{.Date.Format "2006-01-02 15:04:05"}}</td>
  <td>{{.To}}</td>
  <td>{{.Subject}}<br><span class="muted"><a href="{{$.Prefix}}/outbox/{{.MessageID}}">HTML</a> · <a href="{{$.Prefix}}/outbox/{{.MessageID}}.txt">text</a></span></td>
  <td class="muted"><code>{{.Template}}</code> {{.Language}}</td>
</tr>
{{- end}}
</table>
{{- else}}
<p class="muted">No email sent yet.</p>
{{- end}}
{{- end}}
</main>
</body>
</html>
`

// emailCSP lets the preview pages show emails as a mail client would: inline
// styles (emails carry only those) and inline images, nothing else.
func emailCSP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'")
		next.ServeHTTP(w, r)
	})
}

// Package templates renders the service's emails: every email exists in
// English ("en") and Kinyarwanda ("rw"), as a subject, an HTML body and a
// plain-text body, drawn on one shared layout.
//
// The template files are embedded from email/: layout.html.tmpl and
// layout.txt.tmpl hold the frame (brand header, footer, text helpers),
// components.html.tmpl the reusable HTML pieces (button, amount box, code
// box, info rows, notice), and email/{en,rw}/<name>.{html,txt}.tmpl each
// email. A language's common.tmpl holds the sentences its layout shares
// (greeting, sign-off, why you got this). The .txt file of an email defines
// "subject" and "content"; the .html file defines "preheader" and "content".
//
// New parses everything once and renders every email with its sample data,
// so a broken template stops start-up instead of a job. Render never falls
// back to English on its own: an unknown language is ErrUnknownLanguage and
// the caller decides.
//
// This package imports nothing else of the service.
package templates

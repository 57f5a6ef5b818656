package api

import "net/http"

// routes registers every route of the service, one line each: this is the
// whole HTTP surface. Paths end with a slash; serveSlashless serves them
// without it too. openapi_test.go fails when this list and api/openapi.yaml
// disagree.
func (s *server) routes() {
	r := s.router
	get, post := []string{http.MethodGet, http.MethodHead}, []string{http.MethodPost}
	_ = post

	// Operations.
	r.Handle("/healthz", s.handle(s.healthz)).Methods(get...)
	r.Handle("/readyz", s.handle(s.readyz)).Methods(get...)
	if s.metricsOnMain {
		r.Handle("/metrics", s.metricsHandler()).Methods(get...)
	}
	r.Handle("/api/openapi.yaml", s.handle(s.openAPI)).Methods(get...)
	r.PathPrefix("/api/docs/").Handler(s.docs()).Methods(get...)

	// Development only: every email template rendered with sample data.
	if s.debug && s.emails != nil {
		r.PathPrefix("/dev/emails/").Handler(emailCSP(devEmailsHandlerWithOutbox(s.emails, s.outbox))).Methods(get...)
	}
}

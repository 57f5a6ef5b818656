package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/httprate"
)

// apiRequestsPerMinute is the generous per-IP limit on every /api/ request.
// Sensitive endpoints (login, register, OTP, refresh) add tighter limits.
const apiRequestsPerMinute = 1200

// rateLimit returns middleware allowing n requests per window per client IP
// (as decided by the proxy rules), answering 429 with Retry-After beyond.
func (s *server) rateLimit(n int, window time.Duration) func(http.Handler) http.Handler {
	return httprate.LimitBy(n, window,
		func(r *http.Request) (string, error) { return clientIP(r.Context()).String(), nil },
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, r, s.log, errThrottled)
		}),
	)
}

// limitAPI applies the general per-IP limit to /api/ paths only: probes and
// Prometheus scrapes are never throttled.
func (s *server) limitAPI(next http.Handler) http.Handler {
	limited := s.rateLimit(apiRequestsPerMinute, time.Minute)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			limited.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

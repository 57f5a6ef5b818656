// Package api is the HTTP edge of the service: NewServer builds the handler,
// routes.go lists every route, json.go holds the one decoder and encoder,
// errors.go the one table from domain errors to status codes, and
// middleware.go the request id, access log, recovery, CORS, security headers
// and metrics that wrap every request. It speaks HTTP only: money lives in
// ledger, identity in auth, background work in jobs.
package api

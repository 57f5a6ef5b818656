package api

import "net/http"

// routes registers every route of the service, one line each: this is the
// whole HTTP surface. Paths end with a slash; serveSlashless serves them
// without it too. openapi_test.go fails when this list and api/openapi.yaml
// disagree.
func (s *server) routes() {
	r := s.router
	get, post := []string{http.MethodGet, http.MethodHead}, []string{http.MethodPost}
	patch, del := []string{http.MethodPatch}, []string{http.MethodDelete}
	perIP := func(n int, h handlerFunc) http.Handler { return s.rateLimit(n, limitWindow)(s.handle(h)) }

	// Operations.
	r.Handle("/healthz", s.handle(s.healthz)).Methods(get...)
	r.Handle("/readyz", s.handle(s.readyz)).Methods(get...)
	if s.metricsOnMain {
		r.Handle("/metrics", s.metricsHandler()).Methods(get...)
	}
	r.Handle("/api/openapi.yaml", s.handle(s.openAPI)).Methods(get...)
	r.PathPrefix("/api/docs/").Handler(s.docs()).Methods(get...)

	// Identity (compat paths). Sensitive endpoints have their own per-IP
	// limits; login is also limited per account by auth.
	r.Handle("/api/auth/register/", perIP(registerPerIP, s.register)).Methods(post...)
	r.Handle("/api/auth/login/", perIP(loginPerIP, s.login)).Methods(post...)
	r.Handle("/api/auth/token/refresh/", perIP(refreshPerIP, s.refresh)).Methods(post...)
	r.Handle("/api/auth/logout/", s.handle(s.authn(s.logout))).Methods(post...)
	r.Handle("/api/auth/logout-all/", s.handle(s.authn(s.logoutAll))).Methods(post...)
	r.Handle("/api/auth/me/", s.handle(s.authn(s.me))).Methods(get...)
	r.Handle("/api/auth/me/", s.handle(s.authn(s.updateMe))).Methods(patch...)
	r.Handle("/api/auth/password/change/", perIP(passwordChangePerIP, s.authn(s.changePassword))).Methods(post...)
	r.Handle("/api/auth/otp/request/", perIP(otpRequestPerIP, s.requestOTP)).Methods(post...)
	r.Handle("/api/auth/otp/verify/", perIP(otpVerifyPerIP, s.verifyOTP)).Methods(post...)
	r.Handle("/api/auth/otp/new-password/", perIP(newPasswordPerIP, s.newPassword)).Methods(post...)

	// Devices: a user's own, and the admins' approval queue.
	r.Handle("/api/auth/devices/", s.handle(s.authn(s.listDevices))).Methods(get...)
	r.Handle("/api/auth/devices/", s.handle(s.authn(s.addDevice))).Methods(post...)
	r.Handle("/api/devices/", s.handle(s.authn(s.listDevices))).Methods(get...)
	r.Handle("/api/devices/", s.handle(s.authn(s.addDevice))).Methods(post...)
	r.Handle("/api/auth/devices/{id:[0-9]+}/request-verification/", s.handle(s.authn(s.requestDeviceVerification))).Methods(patch...)
	r.Handle("/api/auth/devices/{id:[0-9]+}/", s.handle(s.authn(s.deleteDevice))).Methods(del...)
	r.Handle("/api/admin/devices/", s.handle(s.admin(s.adminListDevices))).Methods(get...)
	r.Handle("/api/admin/devices/{id:[0-9]+}/approve/", s.handle(s.admin(s.approveDevice))).Methods(post...)
	r.Handle("/api/admin/devices/{id:[0-9]+}/reject/", s.handle(s.admin(s.rejectDevice))).Methods(post...)
	r.Handle("/api/admin/devices/{id:[0-9]+}/verify/", s.handle(s.admin(s.verifyDevice))).Methods(patch...)

	// Development only: every email template rendered with sample data.
	if s.debug && s.emails != nil {
		r.PathPrefix("/dev/emails/").Handler(emailCSP(devEmailsHandlerWithOutbox(s.emails, s.outbox))).Methods(get...)
	}
}

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

	// Notifications: each caller's own inbox; admins' announcements.
	r.Handle("/api/notifications/", s.handle(s.authn(s.listNotifications))).Methods(get...)
	r.Handle("/api/notifications/unread-count/", s.handle(s.authn(s.unreadNotifications))).Methods(get...)
	r.Handle("/api/notifications/{id:[0-9]+}/mark-read/", s.handle(s.authn(s.markNotificationRead))).Methods(post...)
	r.Handle("/api/notifications/mark-all-read/", s.handle(s.authn(s.markAllNotificationsRead))).Methods(post...)
	r.Handle("/api/admin/notifications/", s.handle(s.admin(s.listNotifications))).Methods(get...)
	r.Handle("/api/admin/notifications/", s.handle(s.admin(s.announce))).Methods(post...)
	r.Handle("/api/admin/notifications/{id:[0-9]+}/mark_read/", s.handle(s.admin(s.markNotificationRead))).Methods(patch...)
	r.Handle("/api/admin/notifications/mark_all_read/", s.handle(s.admin(s.markAllNotificationsRead))).Methods(post...)

	// Administration (admins only: auditors and customers get 403). Every
	// write is recorded in the audit log in its own transaction
	// (api/admin.go).
	r.Handle("/api/admin/users/", s.handle(s.admin(s.adminListUsers))).Methods(get...)
	r.Handle("/api/admin/users/", s.handle(s.admin(s.adminCreateUser))).Methods(post...)
	r.Handle("/api/admin/users/{id:[0-9]+}/", s.handle(s.admin(s.adminGetUser))).Methods(get...)
	r.Handle("/api/admin/users/{id:[0-9]+}/", s.handle(s.admin(s.adminUpdateUser))).Methods(patch...)
	r.Handle("/api/admin/users/{id:[0-9]+}/", s.handle(s.admin(s.adminDeleteUser))).Methods(del...)
	r.Handle("/api/admin/users/{id:[0-9]+}/set_password/", s.handle(s.admin(s.adminSetPassword))).Methods(post...)
	r.Handle("/api/admin/users/{id:[0-9]+}/toggle_active/", s.handle(s.admin(s.adminToggleActive))).Methods(post...)
	r.Handle("/api/admin/users/{id:[0-9]+}/set_role/", s.handle(s.admin(s.adminSetRole))).Methods(post...)
	r.Handle("/api/admin/users/{id:[0-9]+}/transactions/", s.handle(s.admin(s.adminUserTransactions))).Methods(get...)
	r.Handle("/api/admin/transactions/", s.handle(s.admin(s.adminTransactions))).Methods(get...)
	r.Handle("/api/admin/adjustments/", s.handle(s.admin(s.adminAdjust))).Methods(post...)
	r.Handle("/api/admin/analytics/", s.handle(s.admin(s.adminAnalytics))).Methods(get...)
	r.Handle("/api/admin/login-activity/", s.handle(s.admin(s.adminLoginActivity))).Methods(get...)
	r.Handle("/api/admin/audit-log/", s.handle(s.admin(s.adminAuditLog))).Methods(get...)

	// Ledger, for auditors and admins: read only.
	r.Handle("/api/ledger/accounts/", s.handle(s.auditor(s.ledgerAccounts))).Methods(get...)
	r.Handle("/api/ledger/entries/", s.handle(s.auditor(s.ledgerEntries))).Methods(get...)
	r.Handle("/api/ledger/export/", s.handle(s.auditor(s.ledgerExport))).Methods(get...)
	r.Handle("/api/ledger/export/manifest/", s.handle(s.auditor(s.ledgerExportManifest))).Methods(get...)
	r.Handle("/api/ledger/trial-balance/", s.handle(s.auditor(s.ledgerTrialBalance))).Methods(get...)
	r.Handle("/api/ledger/verify/", s.handle(s.auditor(s.ledgerVerify))).Methods(get...)

	// Savings (compat paths): the caller's own wallet. Money moves in one
	// SERIALIZABLE transaction per request (api/savings.go).
	r.Handle("/api/savings/deposit/", s.handle(s.authn(s.deposit))).Methods(post...)
	r.Handle("/api/savings/withdraw/", s.handle(s.authn(s.withdraw))).Methods(post...)
	r.Handle("/api/savings/balance/", s.handle(s.authn(s.savingsBalance))).Methods(get...)
	r.Handle("/api/savings/transactions/", s.handle(s.authn(s.transactions))).Methods(get...)
	r.Handle("/api/savings/transactions/{id:[0-9]+}/", s.handle(s.authn(s.transaction))).Methods(get...)
	r.Handle("/api/savings/analytics/", s.handle(s.authn(s.analytics))).Methods(get...)
	r.Handle("/api/savings/statement/", s.handle(s.authn(s.statement))).Methods(get...)

	// Low-balance alert rules: the caller's own; admins also the global one.
	r.Handle("/api/alerts/low-balance/", s.handle(s.authn(s.listRules))).Methods(get...)
	r.Handle("/api/alerts/low-balance/", s.handle(s.authn(s.createRule))).Methods(post...)
	r.Handle("/api/alerts/low-balance/{id:[0-9]+}/", s.handle(s.authn(s.getRule))).Methods(get...)
	r.Handle("/api/alerts/low-balance/{id:[0-9]+}/", s.handle(s.authn(s.updateRule))).Methods(patch...)
	r.Handle("/api/alerts/low-balance/{id:[0-9]+}/", s.handle(s.authn(s.deleteRule))).Methods(del...)

	// Development only: every email template rendered with sample data.
	if s.debug && s.emails != nil {
		r.PathPrefix("/dev/emails/").Handler(emailCSP(devEmailsHandlerWithOutbox(s.emails, s.outbox))).Methods(get...)
	}
}

// Package jobs holds the service's background work on River and what it
// needs: the job arguments and workers (email, announcement fan-out, the
// ledger's sealer and verifier, clean-ups of old notifications, expired
// credentials and daily-limit totals), the mailer (SMTP through go-mail, or a
// console backend for development), the sealing of secrets that travel in
// job arguments, and the user inbox: NotifyTx, NotifyUserTx and
// NotifyAdminsTx write a notification, in the recipient's language, in the
// transaction of the event it reports. AuthEventFunc and SavingsNoticeTx turn
// identity events and postings into notifications and email jobs there.
//
// Delivery is at least once. Each email carries a Message-ID fixed by its job
// so that a rare repeat (a crash between the SMTP server's acceptance and the
// record of it) is recognisable; a rescued job whose email is recorded as sent
// does not send it again. Every attempt is recorded in email_log, which never
// holds a secret or a rendered body.
//
// AddWorkers registers the workers, PeriodicJobs and CleanupPeriodicJobs the
// periodic ones; RescueStuckJobsAfter and ClientJobTimeout are the River
// client settings they are tuned for.
package jobs
